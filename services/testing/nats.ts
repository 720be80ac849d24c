// An ephemeral nats-server per test file: JetStream on a temp store, the same settings as the local
// stack, a free port chosen by the server itself (reported through its ports file).
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { natsConfig } from "../infra/server-config.ts";
import { tools } from "../infra/tools.ts";
import { makeTempDir, removeTempDir, ServerProcess, waitReady } from "./process.ts";

export interface NatsServer extends AsyncDisposable {
  url: string;
  monitorUrl: string;
  /** True when NATS_URL pointed at a server we did not start (stop and restart are then refused). */
  reused: boolean;
  pid: number | undefined;
  stop(): Promise<void>;
  /** Stops and starts the same server: same port, same store, so clients can reconnect. */
  restart(): Promise<void>;
  /** SIGKILL, as a crash. Call start() to bring it back. */
  kill(): Promise<void>;
  start(): Promise<void>;
}

export interface StartNatsOptions {
  /** Ignore NATS_URL and start our own server (tests that stop or restart it). */
  own?: boolean;
}

export async function startNats(opts: StartNatsOptions = {}): Promise<NatsServer> {
  const given = process.env.NATS_URL;
  if (given && !opts.own) return reusedServer(given);

  const bin = tools.natsServer();
  const dir = makeTempDir("nats");
  const storeDir = join(dir, "jetstream");
  let port = -1;
  let httpPort = -1;
  let proc: ServerProcess | undefined;

  const boot = async () => {
    const conf = join(dir, "nats.conf");
    writeFileSync(conf, natsConfig({ port, httpPort, storeDir, portsFileDir: dir, serverName: "jpw-test" }));
    const p = new ServerProcess({ name: "nats", cmd: bin, args: ["-c", conf] });
    proc = p;
    await waitReady(p, "nats-server", async () => {
      const ports = readPorts(dir, p.pid);
      if (!ports) return false;
      port = ports.client;
      httpPort = ports.monitoring;
      const res = await fetch(`http://127.0.0.1:${httpPort}/healthz?js-enabled-only=true`);
      return res.ok;
    });
  };
  await boot();

  const server: NatsServer = {
    get url() {
      return `nats://127.0.0.1:${port}`;
    },
    get monitorUrl() {
      return `http://127.0.0.1:${httpPort}`;
    },
    get pid() {
      return proc?.pid;
    },
    reused: false,
    start: boot,
    async stop() {
      await proc?.stop();
    },
    async restart() {
      await proc?.stop();
      await boot();
    },
    async kill() {
      proc?.killNow();
      await proc?.exited;
    },
    async [Symbol.asyncDispose]() {
      await proc?.stop();
      removeTempDir(dir);
    },
  };
  return server;
}

function readPorts(dir: string, pid: number | undefined): { client: number; monitoring: number } | undefined {
  const file = join(dir, `nats-server_${pid}.ports`);
  if (!existsSync(file)) return undefined;
  const text = readFileSync(file, "utf8");
  if (!text.trim()) return undefined;
  const ports = JSON.parse(text) as { nats: string[]; monitoring: string[] };
  const port = (u: string | undefined) => Number(new URL(u ?? "").port);
  return { client: port(ports.nats[0]), monitoring: port(ports.monitoring[0]) };
}

function reusedServer(url: string): NatsServer {
  const refuse = async () => {
    throw new Error(
      `cannot stop or restart the nats-server at NATS_URL=${url}: unset NATS_URL to let the test start its own`,
    );
  };
  return {
    url,
    monitorUrl: process.env.NATS_MONITOR_URL ?? "",
    reused: true,
    pid: undefined,
    start: refuse,
    stop: async () => {},
    restart: refuse,
    kill: refuse,
    async [Symbol.asyncDispose]() {},
  };
}
