// The reader: GET routes from Redis (cache-aside) or Postgres, invalidated by Debezium's change
// events from the CDC stream. Wires config and clients, serves, and shuts down on SIGTERM.
//
//   tsx services/reader/main.ts          deno run -A services/reader/main.ts
import { loadConfig } from "../shared/config.ts";
import { runService } from "../shared/lifecycle.ts";
import { createLogger } from "../shared/log.ts";
import { connectNats } from "../shared/nats.ts";
import { settlingPool } from "../shared/pg.ts";
import { runtime, serve } from "../shared/runtime.ts";
import { createReader } from "./app.ts";
import { ReaderEnv } from "./config.ts";
import { connectRedis } from "./redis.ts";

await runService("reader", async () => {
  const config = loadConfig(ReaderEnv);
  const log = createLogger("reader", config.LOG_LEVEL);
  // Every statement settles (shared/pg.ts): a read left hanging would never be answered.
  const sql = settlingPool(
    config.DATABASE_URL,
    {
      max: config.PG_POOL_MAX,
      connect_timeout: 5,
      onnotice: () => {},
      connection: { application_name: "jpw-reader", statement_timeout: 5000 },
    },
    { deadlineMs: 15_000, onReplace: (reason) => log.warn(`Postgres connections replaced: ${reason}`) },
  );
  const redis = connectRedis(config.REDIS_URL, { commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS, log });
  const nc = await connectNats(config.NATS_URL, "jpw-reader", log, {
    user: config.NATS_USER,
    pass: config.NATS_PASSWORD,
  });
  const none = (url: string) => (url === "none" ? undefined : url);
  const replicas = (urls: string) =>
    urls === "none"
      ? []
      : urls
          .split(",")
          .map((u) => u.trim())
          .filter(Boolean);
  const reader = await createReader({
    sql,
    redis,
    nc,
    log,
    cacheTtlSeconds: config.CACHE_TTL_SECONDS,
    keyPrefix: config.CACHE_KEY_PREFIX,
    cdcStream: config.CDC_STREAM,
    cdcConsumer: config.CDC_CONSUMER,
    invalidationRetryMs: config.INVALIDATION_RETRY_MS,
    producerUrls: replicas(config.PRODUCER_URL),
    consumerUrls: replicas(config.CONSUMER_URL),
    debeziumHealthUrl: none(config.DEBEZIUM_HEALTH_URL),
    sse: { maxClients: config.SSE_MAX_CLIENTS, keepAliveMs: config.SSE_KEEPALIVE_MS },
  });
  const server = await serve(reader.handler, { port: config.PORT, hostname: config.HOST });
  log.info("listening", { url: server.url, runtime });
  return async () => {
    log.info("shutting down");
    // Event streams never finish by themselves: end them before waiting for in-flight requests.
    await reader.close();
    // Reads finish in milliseconds. The grace is short because clients may hold connections that
    // never carried a request (undici opens spare ones), which only closeAllConnections ends.
    await server.close(2000);
    await nc.drain().catch(() => {});
    await sql.end({ timeout: 5 });
    redis.disconnect();
  };
});
