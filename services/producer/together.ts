// Publishes started in one turn of the event loop go out together at its end. nats.js queues what
// a synchronous run publishes and writes it with one socket write on the next microtask; HTTP
// requests arrive in separate callbacks, so without this each write cost its own write() here and
// its own read in nats-server. Deferred to the turn's check phase (setImmediate), a publish waits
// only for the other requests that arrived with it.
const queue: (() => void)[] = [];

function flush(): void {
  for (const start of queue.splice(0)) start();
}

/** `publish()`, started with every other publish of this turn of the event loop. */
export function together<T>(publish: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    queue.push(() => publish().then(resolve, reject));
    if (queue.length === 1) setImmediate(flush);
  });
}
