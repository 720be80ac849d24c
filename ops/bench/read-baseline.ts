// The read benchmark's baseline: the same GET /api/users/:id answered straight from Postgres (the
// reader's own Store queries), served by the same runtime adapter and router as the reader.
//
//   DATABASE_URL=... PORT=0 tsx ops/bench/read-baseline.ts
import { type } from "arktype";
import postgres from "postgres";
import { Store } from "../../services/reader/store.ts";
import { loadConfig, logLevel, port, positiveInt } from "../../services/shared/config.ts";
import { NotFoundError } from "../../services/shared/errors.ts";
import { router } from "../../services/shared/http.ts";
import { runService } from "../../services/shared/lifecycle.ts";
import { createLogger } from "../../services/shared/log.ts";
import { runtime, serve } from "../../services/shared/runtime.ts";

const Env = type({
  "+": "delete",
  DATABASE_URL: "string = 'postgres://jpw_reader@127.0.0.1:15432/jpw'",
  PORT: port(0),
  HOST: "string = '127.0.0.1'",
  LOG_LEVEL: logLevel,
  PG_POOL_MAX: positiveInt(10),
});

await runService("read-baseline", async () => {
  const config = loadConfig(Env);
  const log = createLogger("read-baseline", config.LOG_LEVEL);
  const sql = postgres(config.DATABASE_URL, { max: config.PG_POOL_MAX, onnotice: () => {} });
  const store = new Store(sql);
  const handler = router([
    [
      "GET",
      "/api/users/:id",
      async (_req, params) => {
        const body = await store.user(params.id ?? "");
        if (body === undefined) throw new NotFoundError("no such user");
        return new Response(body, { headers: { "content-type": "application/json" } });
      },
    ],
  ]);
  const server = await serve(handler, { port: config.PORT, hostname: config.HOST });
  log.info("listening", { url: server.url, runtime });
  return async () => {
    await server.close(2000);
    await sql.end({ timeout: 5 });
  };
});
