// Redis cache-aside with generation-checked fills (keys.ts explains the key layout).
//
// read:  one script reads the scope's generation tokens (minting any that are missing) and the data
//        key they point at: a hit, or a miss plus the tokens the fill must be made under.
// fill:  one script writes the body only if every token is still the one read before Postgres was
//        queried. A CDC invalidation that landed in between replaced a token, so the stale body is
//        refused (and even if it were written, its key embeds the old token and nobody reads it).
// Redis unreachable or slow: the caller answers from Postgres, marked `bypass`; Redis never fails a read.
import { createHash, randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import type { KeySpace, Scope } from "./keys.ts";

// KEYS: generation keys. ARGV: head, tail, generation TTL (s), then one fresh token per key.
const readLua = `
local tokens = {}
for i, k in ipairs(KEYS) do
  local t = redis.call('GET', k)
  if not t then
    t = ARGV[3 + i]
    redis.call('SET', k, t, 'EX', ARGV[3])
  end
  tokens[i] = t
end
local joined = table.concat(tokens, '.')
return {joined, redis.call('GET', ARGV[1] .. joined .. ARGV[2])}
`;

// KEYS: generation keys. ARGV: head, tail, data TTL (s), body, then the tokens read before the query.
const fillLua = `
for i, k in ipairs(KEYS) do
  if redis.call('GET', k) ~= ARGV[4 + i] then return 0 end
end
local joined = table.concat(ARGV, '.', 5)
redis.call('SET', ARGV[1] .. joined .. ARGV[2], ARGV[4], 'EX', ARGV[3])
return 1
`;

// KEYS: generation keys to replace, then the CDC position key. ARGV: generation TTL (s), the
// change's stream sequence and time (ms), then one fresh token per generation key. The position
// only moves forward: it is the highest sequence whose invalidation Redis holds.
const invalidateLua = `
local n = #KEYS - 1
for i = 1, n do
  redis.call('SET', KEYS[i], ARGV[3 + i], 'EX', ARGV[1])
end
local seq = tonumber(ARGV[2])
if seq > tonumber(redis.call('HGET', KEYS[#KEYS], 'seq') or '0') then
  redis.call('HSET', KEYS[#KEYS], 'seq', ARGV[2], 'ts', ARGV[3])
end
return n
`;

// KEYS: generation keys to replace, then the CDC position key. ARGV: generation TTL (s), the
// position's sequence, time (ms), stream creation time and server, then one fresh token per key.
// Sets the position whatever it was: a flush starts over from what the stream holds now.
const flushLua = `
local n = #KEYS - 1
for i = 1, n do
  redis.call('SET', KEYS[i], ARGV[5 + i], 'EX', ARGV[1])
end
redis.call('HSET', KEYS[#KEYS], 'seq', ARGV[2], 'ts', ARGV[3], 'created', ARGV[4], 'server', ARGV[5])
return n
`;

class Script {
  readonly sha: string;
  constructor(readonly lua: string) {
    this.sha = createHash("sha1").update(lua).digest("hex");
  }
  async run(redis: Redis, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!/NOSCRIPT/.test((err as Error).message)) throw err;
      return redis.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}

const scripts = {
  read: new Script(readLua),
  fill: new Script(fillLua),
  invalidate: new Script(invalidateLua),
  flush: new Script(flushLua),
};

/**
 * Where the cache stands in the CDC stream: the highest sequence (and its time, ms) whose
 * invalidation Redis holds, the creation time of the stream it came from, and the id of the
 * nats-server that served it (a new id means the server restarted).
 */
export interface CdcPosition {
  seq: number;
  tsMs: number;
  created: string;
  server: string;
}

export type CacheOutcome = "hit" | "miss" | "bypass";

export interface CacheHooks {
  /**
   * Called after Postgres answered a miss, before the fill is written. Tests pause here to
   * reproduce the read/invalidate race deterministically.
   */
  beforeFill?: (scope: Scope, variant: string) => Promise<void>;
  /** Redis failed a read or a fill (the request was still answered). */
  onRedisError?: (err: unknown, during: "read" | "fill") => void;
}

export interface CacheOptions {
  ttlSeconds: number;
  hooks?: CacheHooks;
}

export class Cache {
  // Tokens only need to be unique: a random per-process part and a counter.
  private readonly tokenBase = randomBytes(6).toString("base64url");
  private seq = 0;
  readonly ttlSeconds: number;
  /** Generations outlive the data under them; when one expires a new token simply starts over. */
  readonly genTtlSeconds: number;

  constructor(
    private readonly redis: Redis,
    readonly keys: KeySpace,
    private readonly opts: CacheOptions,
  ) {
    this.ttlSeconds = opts.ttlSeconds;
    this.genTtlSeconds = Math.max(opts.ttlSeconds * 4, 3600);
  }

  private token(): string {
    this.seq = (this.seq + 1) % Number.MAX_SAFE_INTEGER;
    return `${this.tokenBase}${this.seq.toString(36)}`;
  }

  /** ±10% so entries filled together do not all expire together. */
  private dataTtl(): number {
    return Math.max(1, Math.round(this.ttlSeconds * (0.9 + Math.random() * 0.2)));
  }

  /**
   * Cache-aside: the cached body, or `load()`'s (undefined = not found, never cached).
   */
  async get(
    scope: Scope,
    variant: string,
    load: () => Promise<string | undefined>,
  ): Promise<{ body: string | undefined; cache: CacheOutcome }> {
    const genKeys = this.keys.genKeys(scope);
    const { head, tail } = this.keys.dataKeyParts(scope, variant);
    let tokens: string;
    try {
      const fresh = genKeys.map(() => this.token());
      const [joined, cached] = (await scripts.read.run(this.redis, genKeys, [
        head,
        tail,
        this.genTtlSeconds,
        ...fresh,
      ])) as [string, string | null];
      if (cached !== null) return { body: cached, cache: "hit" };
      tokens = joined;
    } catch (err) {
      this.opts.hooks?.onRedisError?.(err, "read");
      return { body: await load(), cache: "bypass" };
    }
    const body = await load();
    if (body === undefined) return { body, cache: "miss" };
    await this.opts.hooks?.beforeFill?.(scope, variant);
    try {
      await scripts.fill.run(this.redis, genKeys, [head, tail, this.dataTtl(), body, ...tokens.split(".")]);
    } catch (err) {
      this.opts.hooks?.onRedisError?.(err, "fill");
    }
    return { body, cache: "miss" };
  }

  /**
   * Replaces the tokens of these generation keys and moves the CDC position up to `at` in the
   * same script; resolves once Redis applied both.
   */
  async invalidate(genKeys: string[], at: { seq: number; tsMs: number }): Promise<void> {
    await scripts.invalidate.run(
      this.redis,
      [...genKeys, this.keys.cdcPositionKey()],
      [this.genTtlSeconds, at.seq, at.tsMs, ...genKeys.map(() => this.token())],
    );
  }

  /** Replaces these generation keys and sets the CDC position to `to`, whatever it was. */
  async flush(genKeys: string[], to: CdcPosition): Promise<void> {
    await scripts.flush.run(
      this.redis,
      [...genKeys, this.keys.cdcPositionKey()],
      [this.genTtlSeconds, to.seq, to.tsMs, to.created, to.server, ...genKeys.map(() => this.token())],
    );
  }

  /** The CDC position Redis holds, or undefined (first start, or Redis lost it). */
  async cdcPosition(): Promise<CdcPosition | undefined> {
    const h = await this.redis.hgetall(this.keys.cdcPositionKey());
    if (!h.seq) return undefined;
    return { seq: Number(h.seq), tsMs: Number(h.ts ?? 0), created: h.created ?? "", server: h.server ?? "" };
  }
}
