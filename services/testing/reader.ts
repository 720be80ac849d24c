// The reader as a real process against a test's servers, as its own NATS user and Redis user (the
// permissions it has in every stack). Peers it is not given are left out of /api/system.
import type { NatsServer } from "./nats.ts";
import type { TestDatabase } from "./postgres.ts";
import type { RedisServer } from "./redis.ts";
import { type RunningService, type Runtime, startService } from "./service.ts";

export function startReader(o: {
  nats: NatsServer;
  db: TestDatabase;
  redis: RedisServer;
  runtime?: Runtime;
  /** PRODUCER_URL, CONSUMER_URL, DEBEZIUM_HEALTH_URL, SSE_*, ...: anything else of its environment. */
  env?: Record<string, string>;
}): Promise<RunningService> {
  return startService({
    entry: "services/reader/main.ts",
    name: "reader",
    runtime: o.runtime ?? "node",
    env: {
      ...o.nats.env("reader"),
      DATABASE_URL: o.db.urlAs("jpw_reader"),
      REDIS_URL: o.redis.urlAs("reader"),
      PRODUCER_URL: "none",
      CONSUMER_URL: "none",
      DEBEZIUM_HEALTH_URL: "none",
      // info: startService waits for the "listening" line.
      LOG_LEVEL: "info",
      ...o.env,
    },
  });
}
