// Redis ACL users, in every stack the project runs: the default (password-less) user is off;
// `admin` may do anything (people, tests, the stack); the reader's user may touch only its own key
// prefix, with only the commands its cache runs. The config holds SHA-256 hashes of the passwords
// (Redis's `#<hex>` form), never the passwords themselves.
import { createHash } from "node:crypto";
import type { RedisUser } from "./secrets.ts";

/**
 * What the reader's cache runs (services/reader/cache.ts, invalidator.ts): its Lua scripts (EVAL,
 * EVALSHA) and, inside them, GET/SET and the HGET/HSET of its CDC position; HGETALL to read that
 * position; and what ioredis sends on connect (CLIENT SETNAME, INFO for its ready check,
 * SELECT for a database index in the URL, PING).
 */
export const readerCommands = [
  "get",
  "set",
  "hget",
  "hset",
  "hgetall",
  "eval",
  "evalsha",
  "script|load",
  "ping",
  "info",
  "select",
  "client|setname",
] as const;

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/** `user ...` lines for redis.conf. `keyPrefix` is the reader's CACHE_KEY_PREFIX. */
export function redisAcl(passwords: Record<RedisUser, string>, keyPrefix = "jpw"): string {
  return `user default off
user admin on #${sha256(passwords.admin)} ~* &* +@all
user reader on #${sha256(passwords.reader)} ~${keyPrefix}:* resetchannels -@all ${readerCommands.map((c) => `+${c}`).join(" ")}
`;
}

/** A Redis URL as `user` with its password: what the reader gets in REDIS_URL. */
export const redisUrl = (o: { host: string; port: number; user: RedisUser; password: string }) =>
  `redis://${o.user}:${encodeURIComponent(o.password)}@${o.host}:${o.port}`;
