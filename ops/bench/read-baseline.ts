// The read benchmark's baseline: the same GET /api/users/:id answered straight from Postgres (the
// reader's own Store queries), served by the same runtime adapter and router as the reader.
//
//   DATABASE_URL=... PORT=0 tsx ops/bench/read-baseline.ts
import { type } from "arktype";
import { Store } from "../../services/reader/store.ts";
import { loadConfig, positiveInt } from "../../services/shared/config.ts";
import { NotFoundError } from "../../services/shared/errors.ts";
import { baselineEnv, runBaseline } from "./baseline.ts";

const Env = type({ ...baselineEnv("jpw_reader", 0), PG_POOL_MAX: positiveInt(10) });

await runBaseline("read-baseline", () => loadConfig(Env), {
  pool: (config) => config.PG_POOL_MAX,
  graceMs: 2000,
  routes: (sql) => {
    const store = new Store(sql);
    return [
      [
        "GET",
        "/api/users/:id",
        async (_req, params) => {
          const body = await store.user(params.id ?? "");
          if (body === undefined) throw new NotFoundError("no such user");
          return new Response(body, { headers: { "content-type": "application/json" } });
        },
      ],
    ];
  },
});
