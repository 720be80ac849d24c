// Applies write commands to Postgres: one writer per table on its durable pull consumer
// (users-writer, orders-writer), and keeps WRITES's history within its declared limits. Serves
// /healthz, /readyz and /metrics; the work is in writer.ts, settle.ts and keeper.ts.
import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { type } from "arktype";
import postgres from "postgres";
import { loadConfig, logLevel, natsEnv, port, positiveInt as positive } from "../shared/config.ts";
import { opsRoutes } from "../shared/health.ts";
import { router } from "../shared/http.ts";
import { runService } from "../shared/lifecycle.ts";
import { createLogger } from "../shared/log.ts";
import { Registry } from "../shared/metrics.ts";
import { connectionState, connectNats, requireJetStream } from "../shared/nats.ts";
import { operationsBucket } from "../shared/operations.ts";
import { runtime, serve } from "../shared/runtime.ts";
import { consumerName, dlqStream, tables, writesStream } from "../shared/writes.ts";
import { HistoryKeeper } from "./keeper.ts";
import { consumerMetrics } from "./metrics.ts";
import { TableWriter } from "./writer.ts";

const Env = type({
  "+": "delete",
  ...natsEnv("consumer"),
  DATABASE_URL: "string = 'postgres://jpw_writer@127.0.0.1:15432/jpw'",
  PORT: port(13003),
  HOST: "string = '127.0.0.1'",
  LOG_LEVEL: logLevel,
  /** Most rows in one INSERT statement. */
  CONSUMER_BATCH_SIZE: positive(128),
  /**
   * INSERT statements in flight at once, per table. Few is better: arrivals queue behind a running
   * statement and go together in the next one (measured: 4 → ~3 rows per statement and 90 µs of
   * Postgres CPU per row; 1-2 → ~6 rows and 45-85 µs). Two keep one slow statement from stalling all.
   */
  CONSUMER_CONCURRENCY: positive(2),
  /** Messages taken and not yet settled, per table (at most the consumer's max_ack_pending). */
  CONSUMER_MAX_IN_FLIGHT: positive(1024),
  /** Deliveries an order waits for its user to appear before 422 user-not-found. */
  CONSUMER_FK_RETRIES: positive(3),
  CONSUMER_FK_DELAY_MS: positive(200),
  /** Transient failures: first redelivery delay, doubling up to the cap. */
  CONSUMER_RETRY_BASE_MS: positive(250),
  CONSUMER_RETRY_MAX_MS: positive(60_000),
  PG_POOL_SIZE: positive(8),
  /** Below the consumers' ack_wait (30s), so a stuck statement fails before its message is redelivered. */
  PG_STATEMENT_TIMEOUT_MS: positive(10_000),
  /** How often the history keeper trims WRITES to its declared limits. */
  KEEPER_INTERVAL_MS: positive(1000),
});

await runService("consumer", async () => {
  const config = loadConfig(Env);
  const log = createLogger("consumer", config.LOG_LEVEL);
  const registry = new Registry("jpw_consumer");
  const metrics = consumerMetrics(registry);

  const sql = postgres(config.DATABASE_URL, {
    max: config.PG_POOL_SIZE,
    connect_timeout: 5,
    onnotice: () => {},
    connection: { application_name: "jpw-consumer", statement_timeout: config.PG_STATEMENT_TIMEOUT_MS },
  });

  let nc: NatsConnection | undefined;
  let connected = () => false;
  const writers: TableWriter[] = [];
  const checks = [
    {
      name: "nats",
      check: async () => {
        if (!nc || !connected()) throw new Error(`not connected to NATS at ${config.NATS_URL}`);
        await requireJetStream(nc, {
          streams: [writesStream, dlqStream],
          consumers: tables.map((t) => [writesStream, consumerName(t)] as [string, string]),
          kv: [operationsBucket],
        });
      },
    },
    {
      name: "postgres",
      check: async () => {
        try {
          await sql`select 1`;
        } catch (err) {
          throw new Error(`cannot query Postgres: ${(err as Error).message}`);
        }
      },
    },
    {
      // Not consuming, or holding commands whose outcome cannot be written (names the cause).
      name: "writers",
      check: async () => {
        if (writers.length === 0) throw new Error("starting");
        const problems = writers.flatMap((w) => (w.problem() ? [`${w.table}: ${w.problem()}`] : []));
        if (problems.length > 0) throw new Error(problems.join("; "));
      },
    },
  ];
  const handler = router(opsRoutes("consumer", checks, registry), (err, req) =>
    log.error("unexpected error", { err, method: req.method, url: req.url }),
  );
  const server = await serve(handler, { port: config.PORT, hostname: config.HOST });
  log.info("listening", { url: server.url, runtime });

  const running: Promise<void>[] = [];
  let keeper: HistoryKeeper | undefined;
  let stopping = false;
  void (async () => {
    const conn = await connectNats(config.NATS_URL, "jpw-consumer", log, {
      user: config.NATS_USER,
      pass: config.NATS_PASSWORD,
    });
    nc = conn;
    connected = connectionState(conn);
    log.info("connected to NATS", { url: config.NATS_URL });
    const kv = await new Kvm(conn).open(operationsBucket, { allow_direct: true });
    const deps = { nc: conn, js: jetstream(conn), kv, sql, log, metrics };
    if (stopping) return;
    let jsm: JetStreamManager | undefined;
    keeper = new HistoryKeeper(
      async () => {
        jsm ??= await jetstreamManager(conn, { timeout: 5000 });
        return jsm;
      },
      log.child({ component: "history-keeper" }),
      metrics.history,
      {
        stream: writesStream,
        consumers: tables.map(consumerName),
        intervalMs: config.KEEPER_INTERVAL_MS,
      },
    );
    keeper.start();
    for (const table of tables) {
      const writer = new TableWriter(table, deps, {
        batchSize: config.CONSUMER_BATCH_SIZE,
        concurrency: config.CONSUMER_CONCURRENCY,
        maxInFlight: config.CONSUMER_MAX_IN_FLIGHT,
        fkRetries: config.CONSUMER_FK_RETRIES,
        fkDelayMs: config.CONSUMER_FK_DELAY_MS,
        retry: { baseMs: config.CONSUMER_RETRY_BASE_MS, maxMs: config.CONSUMER_RETRY_MAX_MS },
      });
      writers.push(writer);
      running.push(writer.run());
    }
  })().catch((err) => log.error("NATS set-up failed", { err }));

  return async () => {
    stopping = true;
    log.info("shutting down: finishing the messages in flight");
    // Stop pulling, settle everything taken (reply, record, ack), then close the connections.
    await keeper?.stop();
    await Promise.all(writers.map((w) => w.stop()));
    await Promise.all(running);
    if (nc) await nc.drain().catch(() => {});
    await sql.end({ timeout: 5 });
    await server.close(1000);
    log.info("stopped");
  };
});
