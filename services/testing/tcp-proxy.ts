// A TCP proxy to put between a service and a server, so a test or the checker can degrade one link
// and not the others: pass bytes through, delay every chunk, black-hole the link (nothing flows, no
// connection closes: what a partition looks like until keepalives give up), or reset every
// connection (what a crashed peer or a middlebox looks like). node:net only, so it runs wherever
// the harness runs.
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";

export type LinkMode =
  | { kind: "pass" }
  /** Each chunk is held this long before it is forwarded, in order, both ways. */
  | { kind: "delay"; ms: number }
  /** Nothing is forwarded either way (sockets stop reading, so senders' buffers fill); connections stay open. */
  | { kind: "blackhole" }
  /** Every open connection is reset now, and every new one as soon as it is accepted. */
  | { kind: "reset" };

export interface TcpProxy extends AsyncDisposable {
  /** Where clients connect (127.0.0.1). */
  port: number;
  target: { host: string; port: number };
  readonly mode: LinkMode;
  setMode(mode: LinkMode): void;
  /** Connections open now. */
  readonly open: number;
  /** Connections accepted since the start. */
  readonly accepted: number;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  server: Socket;
}

export async function startTcpProxy(o: {
  target: { host?: string; port: number };
  /** 0 (the default) takes a free ephemeral port. */
  port?: number;
}): Promise<TcpProxy> {
  const target = { host: o.target.host ?? "127.0.0.1", port: o.target.port };
  let mode: LinkMode = { kind: "pass" };
  let accepted = 0;
  const pairs = new Set<Pair>();

  const apply = (p: Pair) => {
    if (mode.kind === "reset") {
      p.client.resetAndDestroy();
      p.server.resetAndDestroy();
      return;
    }
    for (const s of [p.client, p.server]) {
      if (mode.kind === "blackhole") s.pause();
      else s.resume();
    }
  };

  const forward = (from: Socket, to: Socket) => {
    // Chunks leave in arrival order; a delayed chunk is released at max(previous release, now + ms),
    // so lowering the delay never reorders bytes.
    let releaseAt = 0;
    from.on("data", (chunk) => {
      if (mode.kind !== "delay") {
        if (releaseAt <= performance.now()) {
          to.write(chunk);
          return;
        }
      }
      const ms = mode.kind === "delay" ? mode.ms : 0;
      releaseAt = Math.max(releaseAt, performance.now() + ms);
      setTimeout(() => to.writable && to.write(chunk), releaseAt - performance.now());
    });
    from.on("end", () => to.end());
  };

  const server: Server = createServer({ pauseOnConnect: true }, (client) => {
    accepted++;
    const upstream = tcpConnect({ host: target.host, port: target.port });
    const pair: Pair = { client, server: upstream };
    pairs.add(pair);
    const done = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.setNoDelay(true);
      s.on("error", done);
      s.on("close", done);
    }
    forward(client, upstream);
    forward(upstream, client);
    apply(pair);
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as { port: number }).port;

  const close = async () => {
    for (const p of pairs) {
      p.client.destroy();
      p.server.destroy();
    }
    pairs.clear();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };

  return {
    port,
    target,
    get mode() {
      return mode;
    },
    setMode(next) {
      mode = next;
      for (const p of [...pairs]) apply(p);
    },
    get open() {
      return pairs.size;
    },
    get accepted() {
      return accepted;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
