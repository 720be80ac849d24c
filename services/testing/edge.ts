// The edge reverse proxy (Caddy) in front of a test's producer and reader, serving the built UI:
// the same Caddyfile as the local stack, on a free port.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { caddyfile } from "../infra/caddyfile.ts";
import { httpOk } from "../infra/probe.ts";
import { tools } from "../infra/tools.ts";
import { onFreePort } from "./ports.ts";
import { makeTempDir, removeTempDir, ServerProcess, waitReady } from "./process.ts";

export interface Edge extends AsyncDisposable {
  url: string;
  /** Caddy's process id (benchmarks read its CPU time). */
  pid: number | undefined;
  stop(): Promise<void>;
}

const hostPort = (url: string) => new URL(url).host;

export async function startEdge(o: {
  producerUrl: string;
  readerUrl: string;
  webRoot: string;
}): Promise<Edge> {
  const dir = makeTempDir("edge");
  const start = async (port: number): Promise<Edge> => {
    const conf = join(dir, "Caddyfile");
    writeFileSync(
      conf,
      caddyfile({
        port,
        producer: hostPort(o.producerUrl),
        reader: hostPort(o.readerUrl),
        webRoot: o.webRoot,
      }),
    );
    const proc = new ServerProcess({
      name: "edge",
      cmd: tools.caddy(),
      args: ["run", "--adapter", "caddyfile", "--config", conf],
      env: { ...process.env, XDG_DATA_HOME: join(dir, "data"), XDG_CONFIG_HOME: join(dir, "config") },
    });
    await waitReady(proc, "caddy", () => httpOk(`http://127.0.0.1:${port}/healthz`));
    const stop = async () => {
      await proc.stop();
      removeTempDir(dir);
    };
    return { url: `http://127.0.0.1:${port}`, pid: proc.pid, stop, [Symbol.asyncDispose]: stop };
  };
  try {
    return await onFreePort(start);
  } catch (err) {
    removeTempDir(dir);
    throw err;
  }
}
