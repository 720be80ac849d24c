// What both baselines (baseline-service.ts for writes, read-baseline.ts for reads) share: each is a
// service of its own with one Postgres pool, served by the same config loading, router, runtime
// adapter and lifecycle as ours, so a comparison measures what the pipeline adds and nothing else.
import { type } from "arktype";
import postgres, { type Sql } from "postgres";
import { logLevel, port } from "../../services/shared/config.ts";
import { type RouteHandler, router } from "../../services/shared/http.ts";
import { runService } from "../../services/shared/lifecycle.ts";
import { createLogger, type Level } from "../../services/shared/log.ts";
import { runtime, serve } from "../../services/shared/runtime.ts";

/** What every baseline reads: Postgres as the compared service's role, where to listen, how loud. */
export const baselineEnv = (role: string, defaultPort: number) =>
  ({
    "+": "delete",
    DATABASE_URL: type("string").default(`postgres://${role}@127.0.0.1:15432/jpw`),
    PORT: port(defaultPort),
    HOST: "string = '127.0.0.1'",
    LOG_LEVEL: logLevel,
  }) as const;

interface BaselineEnv {
  DATABASE_URL: string;
  PORT: number;
  HOST: string;
  LOG_LEVEL: Level;
}

/** `config` parses the environment (inside the service's start, so a bad variable is one line). */
export function runBaseline<C extends BaselineEnv>(
  name: string,
  config: () => C,
  o: {
    /** The pool size, from the variable the compared service reads (so one setting sizes both). */
    pool: (config: C) => number;
    /** How long in-flight requests get at shutdown. */
    graceMs: number;
    routes: (sql: Sql) => [method: string, pattern: string, handler: RouteHandler][];
  },
): Promise<void> {
  return runService(name, async () => {
    const env = config();
    const log = createLogger(name, env.LOG_LEVEL);
    const sql = postgres(env.DATABASE_URL, { max: o.pool(env), onnotice: () => {} });
    const onError = (err: unknown) => log.error("unexpected error", { err });
    const server = await serve(router(o.routes(sql), onError), { port: env.PORT, hostname: env.HOST });
    log.info("listening", { url: server.url, runtime });
    return async () => {
      await server.close(o.graceMs);
      await sql.end({ timeout: 5 });
    };
  });
}
