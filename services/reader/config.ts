// The reader's environment. Defaults point at the local stack (ops/lib/stack-config.ts).
import { type } from "arktype";
import { cdcConsumer, cdcStream, debeziumHealthUrl } from "../shared/cdc.ts";
import { logLevel, natsEnv, port, positiveInt } from "../shared/config.ts";

export const ReaderEnv = type({
  "+": "delete",
  ...natsEnv("reader"),
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
  /** Event-stream clients (GET /api/events) at once; one more is answered 503 + Retry-After. */
  SSE_MAX_CLIENTS: positiveInt(100),
  /** A keep-alive line to each event-stream client this often; also how soon a departed one is released. */
  SSE_KEEPALIVE_MS: positiveInt(5000),
  CDC_STREAM: type("string").default(cdcStream),
  CDC_CONSUMER: type("string").default(cdcConsumer),
  /** The producer's and consumer's base URLs for /api/system, one per replica (comma-separated); `none` leaves them out. */
  PRODUCER_URL: "string = 'http://127.0.0.1:13001'",
  CONSUMER_URL: "string = 'http://127.0.0.1:13003'",
  /** Debezium Server's Quarkus health URL for /api/system; `none` leaves it out. */
  DEBEZIUM_HEALTH_URL: type("string").default(debeziumHealthUrl(13080)),
});
export type ReaderConfig = typeof ReaderEnv.infer;
