// The reader assembled from clients it is given: routes, cache, invalidator, event feed, system
// snapshot. main.ts connects and serves it; tests build it in-process with real servers and hooks.
import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Redis } from "ioredis";
import type { Sql } from "postgres";
import { cdcConsumer, cdcStream } from "../shared/cdc.ts";
import type { ReadinessCheck } from "../shared/health.ts";
import { opsRoutes } from "../shared/health.ts";
import { type Handler, router } from "../shared/http.ts";
import type { Logger } from "../shared/log.ts";
import { Registry } from "../shared/metrics.ts";
import { requireJetStream } from "../shared/nats.ts";
import { openApiRoute } from "../shared/openapi.ts";
import { operationsBucket } from "../shared/operations.ts";
import { servedElsewhere } from "../shared/public-routes.ts";
import { Cache, type CacheHooks } from "./cache.ts";
import { type FeedOptions, InvalidationFeed } from "./feed.ts";
import { type Invalidator, startInvalidator } from "./invalidator.ts";
import { KeySpace } from "./keys.ts";
import { operationRoute } from "./operations.ts";
import { readRoutes } from "./routes.ts";
import { Store } from "./store.ts";
import { systemRoute } from "./system.ts";

export interface ReaderDeps {
  sql: Sql;
  redis: Redis;
  nc: NatsConnection;
  log: Logger;
  cacheTtlSeconds?: number;
  keyPrefix?: string;
  cdcStream?: string;
  cdcConsumer?: string;
  invalidationRetryMs?: number;
  /** How often the invalidator checks CDC for lost events (default 5 s). */
  cdcAuditMs?: number;
  /** Base URLs of the producer's and consumer's replicas, whose /readyz /api/system shows. */
  producerUrls?: string[];
  consumerUrls?: string[];
  debeziumHealthUrl?: string;
  /** GET /api/events: clients at once (one more is a 503) and keep-alive interval. */
  sse?: FeedOptions;
  hooks?: CacheHooks;
  /** false: serve reads only (tests of the read path that drive invalidation themselves). */
  invalidate?: boolean;
}

export interface Reader {
  handler: Handler;
  cache: Cache;
  keys: KeySpace;
  feed: InvalidationFeed;
  metrics: Registry;
  invalidator: Invalidator | undefined;
  /** Ends event streams and stops the invalidator; the caller closes the clients. */
  close(): Promise<void>;
}

export async function createReader(d: ReaderDeps): Promise<Reader> {
  const metrics = new Registry("jpw_reader");
  const keys = new KeySpace(d.keyPrefix ?? "jpw");
  const redisErrors = metrics.counter(
    "jpw_reader_redis_errors_total",
    "Redis failures on the read path, by phase",
  );
  let lastRedisErrorLog = 0;
  const cache = new Cache(d.redis, keys, {
    ttlSeconds: d.cacheTtlSeconds ?? 300,
    hooks: {
      ...d.hooks,
      onRedisError: (err, during) => {
        redisErrors.inc({ during });
        if (Date.now() - lastRedisErrorLog > 5000) {
          lastRedisErrorLog = Date.now();
          d.log.warn("redis unavailable, answering from postgres", { err, during });
        }
        d.hooks?.onRedisError?.(err, during);
      },
    },
  });
  const store = new Store(d.sql);
  const feed = new InvalidationFeed(d.sse);
  metrics.gauge("jpw_reader_sse_clients", "Open event streams (GET /api/events)", () => feed.size);
  let jsm: JetStreamManager | undefined;
  const getJsm = async () => {
    jsm ??= await jetstreamManager(d.nc, { timeout: 2000 });
    return jsm;
  };
  const stream = d.cdcStream ?? cdcStream;
  const consumer = d.cdcConsumer ?? cdcConsumer;
  const invalidator =
    d.invalidate === false
      ? undefined
      : startInvalidator({
          js: jetstream(d.nc),
          jsm: getJsm,
          serverId: () => d.nc.info?.server_id,
          cache,
          log: d.log,
          metrics,
          feed,
          stream,
          consumer,
          ...(d.invalidationRetryMs ? { nakDelayMs: d.invalidationRetryMs } : {}),
          ...(d.cdcAuditMs ? { auditMs: d.cdcAuditMs } : {}),
        });

  // Opened lazily: a missing bucket fails readiness (and that route) instead of the start.
  let kv: Awaited<ReturnType<Kvm["open"]>> | undefined;
  const operations = operationRoute(d.sql, async () => {
    kv ??= await new Kvm(d.nc).open(operationsBucket);
    return kv;
  });

  // Redis is not a readiness check: with Redis down the reader still answers (bypass).
  const checks: ReadinessCheck[] = [
    {
      name: "postgres",
      check: async () => {
        await d.sql`select 1`;
      },
    },
    {
      name: "nats",
      check: () =>
        requireJetStream(
          d.nc,
          { streams: [stream], consumers: [[stream, consumer]], kv: [operationsBucket] },
          undefined,
        ).catch(async (err) => {
          jsm = undefined;
          throw err;
        }),
    },
  ];
  const cacheOutcomes = metrics.counter(
    "jpw_reader_cache_requests_total",
    "Reads by route and cache outcome",
  );
  const handler = router(
    [
      ...opsRoutes("reader", checks, metrics),
      ...readRoutes({ cache, store, outcomes: cacheOutcomes }),
      ["GET", "/api/operations/:id", operations],
      ["GET", "/api/events", (req) => feed.response(req)],
      ["GET", "/api/openapi.json", openApiRoute],
      [
        "GET",
        "/api/system",
        systemRoute({
          jsm: getJsm,
          checks,
          peers: [
            ...replicaPeers("producer", d.producerUrls),
            ...replicaPeers("consumer", d.consumerUrls),
            { name: "debezium", url: d.debeziumHealthUrl },
          ],
          invalidator: () => invalidator?.status() ?? { running: false, applied: 0, failed: 0, malformed: 0 },
          redisStatus: () => d.redis.status,
          sseClients: () => feed.size,
        }),
      ],
    ],
    (err, req) => d.log.error("request failed", { err, method: req.method, url: req.url }),
    servedElsewhere("reader"),
  );
  return {
    handler,
    cache,
    keys,
    feed,
    metrics,
    invalidator,
    async close() {
      feed.close();
      await invalidator?.stop();
    },
  };
}

/** One peer per replica, named as the stack names them (producer, producer-2, ...); none given, one unknown. */
function replicaPeers(name: string, urls: string[] | undefined): { name: string; url: string | undefined }[] {
  if (!urls?.length) return [{ name, url: undefined }];
  return urls.map((u, i) => ({
    name: i === 0 ? name : `${name}-${i + 1}`,
    url: `${u.replace(/\/$/, "")}/readyz`,
  }));
}
