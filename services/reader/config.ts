// The reader's environment. Defaults point at the local stack (ops/lib/stack-config.ts).
import { type } from "arktype";
import { logLevel, port } from "../shared/config.ts";

const positiveInt = (fallback: number) =>
  type("string.integer.parse").to("number.integer >= 1").default(String(fallback));

export const ReaderEnv = type({
  "+": "delete",
  NATS_URL: "string = 'nats://127.0.0.1:14222'",
  DATABASE_URL: "string = 'postgres://jpw_reader@127.0.0.1:15432/jpw'",
  REDIS_URL: "string = 'redis://127.0.0.1:16379'",
  PORT: port(13002),
  HOST: "string = '127.0.0.1'",
  LOG_LEVEL: logLevel,
  /** Lifetime of a cached response: the backstop behind CDC invalidation. */
  CACHE_TTL_SECONDS: positiveInt(300),
  /** Prefix of every Redis key, so several deployments can share one Redis. */
  CACHE_KEY_PREFIX: "string = 'jpw'",
  /** A Redis command slower than this counts as Redis down: the read goes to Postgres (bypass). */
  REDIS_COMMAND_TIMEOUT_MS: positiveInt(250),
  /** Redelivery delay of an invalidation Redis could not apply. */
  INVALIDATION_RETRY_MS: positiveInt(1000),
  PG_POOL_MAX: positiveInt(10),
  CDC_STREAM: "string = 'CDC'",
  CDC_CONSUMER: "string = 'cache-invalidator'",
  PRODUCER_URL: "string = 'http://127.0.0.1:13001'",
  CONSUMER_URL: "string = 'http://127.0.0.1:13003'",
  /** Debezium Server's Quarkus health URL for /api/system; `none` leaves it out. */
  DEBEZIUM_HEALTH_URL: "string = 'http://127.0.0.1:13080/q/health'",
});
export type ReaderConfig = typeof ReaderEnv.infer;
