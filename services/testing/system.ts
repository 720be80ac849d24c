// The whole system for end-to-end tests: every server ephemeral and isolated (NATS, Postgres,
// Redis, a real Debezium Server), streams.yaml applied, the three services as real processes, and
// optionally the edge serving a built UI. Disposal stops everything in reverse order.
import postgres, { type Sql } from "postgres";
import { type DebeziumServer, startDebezium } from "./debezium.ts";
import { type Edge, startEdge } from "./edge.ts";
import { type NatsServer, startNats } from "./nats.ts";
import { type PostgresServer, startPostgres, type TestDatabase } from "./postgres.ts";
import { startReader } from "./reader.ts";
import { type RedisServer, startRedis } from "./redis.ts";
import type { RunningService, Runtime } from "./service.ts";
import { applyStreams } from "./streams.ts";
import { startWritePath } from "./write-path.ts";

export interface System extends AsyncDisposable {
  nats: NatsServer;
  pg: PostgresServer;
  db: TestDatabase;
  redis: RedisServer;
  debezium: DebeziumServer;
  consumer: RunningService;
  producer: RunningService;
  reader: RunningService;
  edge: Edge | undefined;
  /** The edge when there is one, else the producer for writes and the reader for reads. */
  writeUrl: string;
  readUrl: string;
  /** Superuser connection to the system's database (manual SQL, assertions). */
  sql: Sql;
}

export interface StartSystemOptions {
  runtime?: Runtime;
  /** Serve this built UI folder behind the edge. */
  webRoot?: string;
  env?: {
    producer?: Record<string, string>;
    consumer?: Record<string, string>;
    reader?: Record<string, string>;
  };
}

export async function startSystem(o: StartSystemOptions = {}): Promise<System> {
  const disposers: (() => Promise<void>)[] = [];
  const track = <T extends AsyncDisposable>(x: T): T => {
    disposers.push(async () => {
      await x[Symbol.asyncDispose]();
    });
    return x;
  };
  const dispose = async () => {
    for (const d of disposers.reverse()) await d().catch(() => {});
  };
  try {
    const [nats, pg, redis] = await Promise.all([
      startNats({ own: true }).then(track),
      startPostgres({ own: true }).then(track),
      startRedis({ own: true }).then(track),
    ]);
    const db = track(await pg.createDatabase("system"));
    await applyStreams(nats.url);
    const debezium = track(await startDebezium({ natsUrl: nats.url, db }));
    const runtime = o.runtime ?? "node";
    // info: startService waits for the "listening" line.
    const common = { NATS_URL: nats.url, LOG_LEVEL: "info" };
    const writePath = track(
      await startWritePath({
        natsUrl: nats.url,
        databaseUrl: db.urlAs("jpw_writer"),
        runtime,
        consumerEnv: { ...common, ...o.env?.consumer },
        producerEnv: { ...common, ...o.env?.producer },
      }),
    );
    const { consumer, producer } = writePath;
    const reader = track(
      await startReader({
        nats,
        db,
        redis,
        runtime,
        env: {
          PRODUCER_URL: producer.url,
          CONSUMER_URL: consumer.url,
          DEBEZIUM_HEALTH_URL: debezium.healthUrl,
          ...o.env?.reader,
        },
      }),
    );
    const edge = o.webRoot
      ? track(await startEdge({ producerUrl: producer.url, readerUrl: reader.url, webRoot: o.webRoot }))
      : undefined;
    const sql = postgres(db.url, { max: 2, onnotice: () => {} });
    disposers.push(() => sql.end());
    return {
      nats,
      pg,
      db,
      redis,
      debezium,
      consumer,
      producer,
      reader,
      edge,
      writeUrl: edge?.url ?? producer.url,
      readUrl: edge?.url ?? reader.url,
      sql,
      [Symbol.asyncDispose]: dispose,
    };
  } catch (err) {
    await dispose();
    throw err;
  }
}
