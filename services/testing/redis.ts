// An ephemeral redis-server per test file: loopback, a free port, and the same configuration as the
// local stack: nothing persisted, its ACL users (services/infra/redis-auth.ts) and memory bound.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { redisPing } from "../infra/probe.ts";
import { redisAcl, redisUrl } from "../infra/redis-auth.ts";
import type { RedisUser } from "../infra/secrets.ts";
import { redisConfig } from "../infra/server-config.ts";
import { tools } from "../infra/tools.ts";
import { onFreePort } from "./ports.ts";
import { makeTempDir, removeTempDir, ServerProcess, waitReady } from "./process.ts";
import { reusedSecrets, splitCredentials, testSecrets } from "./secrets.ts";

export interface RedisServer extends AsyncDisposable {
  /** As `admin` (password inside): what tests use to look at and change the cache. */
  url: string;
  /** As another ACL user: `urlAs("reader")` is the reader service's REDIS_URL. */
  urlAs(user: RedisUser): string;
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
  /** redis.conf's maxmemory (the local stack's 256mb unless a test wants to see evictions). */
  maxmemory?: string;
}

export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  const given = process.env.REDIS_URL;
  if (given && !opts.own) return reusedServer(given);

  const passwords = testSecrets().redis;
  const dir = makeTempDir("redis");
  let port = 0;
  let proc: ServerProcess | undefined;
  // A restart keeps its port: clients reconnect to the same URL.
  const boot = async (on: number) => {
    port = on;
    const conf = join(dir, "redis.conf");
    writeFileSync(
      conf,
      redisConfig({
        port,
        dir,
        acl: redisAcl(passwords),
        maxmemory: opts.maxmemory ?? "256mb",
      }),
      { mode: 0o600 },
    );
    proc = new ServerProcess({ name: "redis", cmd: tools.redisServer(), args: [conf] });
    await waitReady(proc, "redis-server", () => redisPing(on));
  };
  await onFreePort(boot);
  const urlAs = (user: RedisUser) => redisUrl({ host: "127.0.0.1", port, user, password: passwords[user] });
  return {
    get url() {
      return urlAs("admin");
    },
    urlAs,
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

/**
 * A server given by REDIS_URL (redis://admin:<pw>@host:port, as `just status` prints it); the
 * reader's password comes from that stack's secrets folder (secrets.ts).
 */
function reusedServer(given: string): RedisServer {
  const { url: bare } = splitCredentials(given);
  const refuse = async () => {
    throw new Error(
      `cannot stop the Redis at REDIS_URL=${bare}: unset REDIS_URL to let the test start its own`,
    );
  };
  // A database index of its own keeps side-by-side test files apart on a shared server.
  const db = `/${1 + (process.pid % 15)}`;
  const u = new URL(given);
  u.pathname = db;
  const port = Number(u.port || 6379);
  return {
    url: u.toString(),
    urlAs: (user) =>
      `${redisUrl({ host: u.hostname, port, user, password: reusedSecrets("REDIS_URL").redis[user] })}${db}`,
    port,
    reused: true,
    pid: undefined,
    start: refuse,
    stop: refuse,
    async [Symbol.asyncDispose]() {},
  };
}
