// The write API: POST /api/users and POST /api/orders through JetStream, answered with the committed
// outcome. Wires config, NATS, the reply inbox, the backlog bound, a read-only Postgres pool (for
// deduplicated retries) and HTTP; the work is in write-path.ts.
import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { type } from "arktype";
import postgres from "postgres";
import { loadConfig, logLevel, natsEnv, nonNegativeInt, port, positiveInt } from "../shared/config.ts";
import { UnavailableError } from "../shared/errors.ts";
import { opsRoutes } from "../shared/health.ts";
import { type RouteHandler, router } from "../shared/http.ts";
import { runService } from "../shared/lifecycle.ts";
import { createLogger } from "../shared/log.ts";
import { Registry } from "../shared/metrics.ts";
import { connectionState, connectNats, requireJetStream } from "../shared/nats.ts";
import { operationsBucket } from "../shared/operations.ts";
import { servedElsewhere } from "../shared/public-routes.ts";
import { runtime, serve } from "../shared/runtime.ts";
import { type Table, writesStream } from "../shared/writes.ts";
import { Backlog } from "./backlog.ts";
import { Originals } from "./outcome.ts";
import { ReplyInbox } from "./replies.ts";
import { type WritePathDeps, writeMetrics, writeRoute } from "./write-path.ts";

const Env = type({
  "+": "delete",
  ...natsEnv("producer"),
  /** Read-only (jpw_producer): answers a deduplicated retry from the row. Never a readiness check. */
  DATABASE_URL: "string = 'postgres://jpw_producer@127.0.0.1:15432/jpw'",
  PORT: port(13001),
  HOST: "string = '127.0.0.1'",
  LOG_LEVEL: logLevel,
  /** How long a write waits for its committed outcome before answering 202. */
  WRITE_TIMEOUT_MS: nonNegativeInt(3000),
  /** How often the writers' backlogs are read (bounds the overshoot with several producers). */
  BACKLOG_REFRESH_MS: positiveInt(200),
});

await runService("producer", async () => {
  const config = loadConfig(Env);
  const log = createLogger("producer", config.LOG_LEVEL);
  const registry = new Registry("jpw_producer");
  const metrics = writeMetrics(registry);
  // Postgres down only makes a deduplicated retry answer 202: it is no readiness check.
  const sql = postgres(config.DATABASE_URL, {
    max: 2,
    connect_timeout: 2,
    onnotice: () => {},
    connection: { application_name: "jpw-producer", statement_timeout: 2000 },
  });

  // HTTP comes up first, so /healthz and /readyz answer (and name NATS) while NATS is unreachable.
  let nc: NatsConnection | undefined;
  let connected = () => false;
  let deps: WritePathDeps | undefined;
  const write = (table: Table): RouteHandler => {
    let handler: RouteHandler | undefined;
    return (req, params, url) => {
      if (!deps) throw new UnavailableError(`not connected to NATS at ${config.NATS_URL} yet`, 1);
      handler ??= writeRoute(deps, table);
      return handler(req, params, url);
    };
  };
  const checks = [
    {
      name: "nats",
      check: async () => {
        if (!nc || !connected()) throw new Error(`not connected to NATS at ${config.NATS_URL}`);
        await requireJetStream(nc, { streams: [writesStream], kv: [operationsBucket] });
      },
    },
  ];
  const handler = router(
    [
      ...opsRoutes("producer", checks, registry),
      ["POST", "/api/users", write("users")],
      ["POST", "/api/orders", write("orders")],
    ],
    (err, req) => log.error("unexpected error", { err, method: req.method, url: req.url }),
    servedElsewhere("producer"),
  );
  const server = await serve(handler, { port: config.PORT, hostname: config.HOST });
  log.info("listening", { url: server.url, runtime });

  let inbox: ReplyInbox | undefined;
  void (async () => {
    nc = await connectNats(config.NATS_URL, "jpw-producer", log, {
      user: config.NATS_USER,
      pass: config.NATS_PASSWORD,
    });
    connected = connectionState(nc);
    const kv = await new Kvm(nc).open(operationsBucket, { allow_direct: true });
    inbox = new ReplyInbox(nc, log);
    const conn = nc;
    let jsm: JetStreamManager | undefined;
    const backlog = new Backlog(
      async () => {
        jsm ??= await jetstreamManager(conn, { timeout: 2000 });
        return jsm;
      },
      log,
      { refreshMs: config.BACKLOG_REFRESH_MS },
    );
    deps = {
      js: jetstream(nc),
      kv,
      sql,
      inbox,
      backlog,
      originals: new Originals(),
      connected,
      log,
      metrics,
      timeoutMs: config.WRITE_TIMEOUT_MS,
    };
    log.info("connected to NATS", { url: config.NATS_URL });
    // Not fatal: the stream may be applied later. Until then writes answer 503 and /readyz says why.
    await requireJetStream(nc, { streams: [writesStream], kv: [operationsBucket] }).catch((err) =>
      log.warn((err as Error).message),
    );
  })().catch((err) => log.error("NATS set-up failed", { err }));

  return async () => {
    log.info("shutting down");
    // In-flight writes finish (each within WRITE_TIMEOUT_MS) before the connection goes.
    await server.close(config.WRITE_TIMEOUT_MS + 2000);
    inbox?.close();
    if (nc) await nc.drain().catch(() => {});
    await sql.end({ timeout: 2 });
  };
});
