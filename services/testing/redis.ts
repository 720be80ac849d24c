// An ephemeral redis-server per test file: loopback, a free port, nothing persisted.
import { redisPing } from "../infra/probe.ts";
import { redisArgs } from "../infra/server-config.ts";
import { tools } from "../infra/tools.ts";
import { onFreePort } from "./ports.ts";
import { makeTempDir, removeTempDir, ServerProcess, waitReady } from "./process.ts";

export interface RedisServer extends AsyncDisposable {
  url: string;
  port: number;
  reused: boolean;
  pid: number | undefined;
  stop(): Promise<void>;
  /** Starts it again on the same port (after stop), empty. */
  start(): Promise<void>;
}

export interface StartRedisOptions {
  /** Ignore REDIS_URL and start our own server (tests that stop it). */
  own?: boolean;
}

export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  const given = process.env.REDIS_URL;
  if (given && !opts.own) return reusedServer(given);

  const dir = makeTempDir("redis");
  let port = 0;
  let proc: ServerProcess | undefined;
  // A restart keeps its port: clients reconnect to the same URL.
  const boot = async (on: number) => {
    port = on;
    proc = new ServerProcess({
      name: "redis",
      cmd: tools.redisServer(),
      args: redisArgs({ port, dir, persist: false }),
    });
    await waitReady(proc, "redis-server", () => redisPing(on));
  };
  await onFreePort(boot);
  return {
    get url() {
      return `redis://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    get pid() {
      return proc?.pid;
    },
    reused: false,
    start: () => boot(port),
    stop: async () => {
      await proc?.stop();
    },
    async [Symbol.asyncDispose]() {
      await proc?.stop();
      removeTempDir(dir);
    },
  };
}

export { redisPing as ping } from "../infra/probe.ts";

function reusedServer(given: string): RedisServer {
  const refuse = async () => {
    throw new Error(
      `cannot stop the Redis at REDIS_URL=${given}: unset REDIS_URL to let the test start its own`,
    );
  };
  // A database index of its own keeps side-by-side test files apart on a shared server.
  const u = new URL(given);
  u.pathname = `/${1 + (process.pid % 15)}`;
  return {
    url: u.toString(),
    port: Number(u.port || 6379),
    reused: true,
    pid: undefined,
    start: refuse,
    stop: refuse,
    async [Symbol.asyncDispose]() {},
  };
}
