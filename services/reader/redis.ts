// The reader's Redis client: fail fast instead of queueing. A dead or stalled Redis costs a read one
// short timeout and the read goes to Postgres (X-Cache: bypass); reconnects go on in the background.
import { Redis } from "ioredis";
import type { Logger } from "../shared/log.ts";

export function connectRedis(
  url: string,
  o: { commandTimeoutMs?: number; log?: Logger; name?: string } = {},
): Redis {
  const redis = new Redis(url, {
    commandTimeout: o.commandTimeoutMs ?? 250,
    connectTimeout: 2000,
    // Commands issued while disconnected fail at once rather than wait for a reconnect.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (times) => Math.min(100 * times, 2000),
    connectionName: o.name ?? "jpw-reader",
  });
  let lastLog = 0;
  // Without a listener ioredis prints every failed reconnect as an unhandled error event.
  redis.on("error", (err: Error) => {
    if (Date.now() - lastLog < 5000) return;
    lastLog = Date.now();
    o.log?.warn("redis connection error", { err });
  });
  redis.on("ready", () => o.log?.info("redis ready"));
  return redis;
}
