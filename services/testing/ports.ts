import { createServer } from "node:net";

/**
 * A TCP port that was free a moment ago. Servers that cannot pick their own (Postgres, Redis) retry
 * with another one when they lose the race for it.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A free TCP port below the kernel's ephemeral range (32768+ on Linux), for a port that must stay
 * free for minutes between the probe and the bind (a deployed stack started later in a test). Every
 * other harness port is ephemeral, so no concurrent test can take one of these in the meantime.
 */
export async function lastingFreePort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.unref();
      srv.once("error", () => resolve(false));
      srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error("no free port between 20000 and 32000");
}

export const addressInUse = (log: string) =>
  /address already in use|could not bind|Address in use/i.test(log);

/**
 * Starts a server on a free port; when another process took the port between our probe and the
 * server's bind (the error then says "address in use"), tries again with another.
 */
export async function onFreePort<T>(start: (port: number) => Promise<T>, tries = 4): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await start(port);
    } catch (err) {
      if (attempt < tries && addressInUse((err as Error).message)) continue;
      throw err;
    }
  }
}
