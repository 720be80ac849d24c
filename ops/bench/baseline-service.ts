// The write benchmark's baseline: POST /api/users inserted straight into Postgres, no NATS. Same
// HTTP adapter, same request parsing and validation, same driver and pool as the write path, one
// INSERT per request; what the pipeline costs is the difference.
import { type } from "arktype";
import { parseWriteRequest } from "../../services/producer/request.ts";
import { loadConfig, positiveInt } from "../../services/shared/config.ts";
import { ConflictError } from "../../services/shared/errors.ts";
import { json } from "../../services/shared/http.ts";
import type { UserData } from "../../services/shared/writes.ts";
import { entityPath } from "../../services/shared/writes.ts";
import { baselineEnv, runBaseline } from "./baseline.ts";

const Env = type({ ...baselineEnv("jpw_writer", 13009), PG_POOL_SIZE: positiveInt(8) });

await runBaseline("baseline", () => loadConfig(Env), {
  pool: (config) => config.PG_POOL_SIZE,
  graceMs: 1000,
  routes: (sql) => [
    [
      "POST",
      "/api/users",
      async (req) => {
        const w = await parseWriteRequest(req, "users");
        const u = w.data as UserData;
        const [row] = await sql<{ id: string; name: string; email: string; created_at: Date }[]>`
          insert into users (id, name, email) values (${w.operationId}, ${u.name}, ${u.email})
          on conflict do nothing
          returning id, name, email, created_at`;
        if (!row) throw new ConflictError(`the email ${u.email} or the id is already taken`, "email-taken");
        const user = {
          id: row.id,
          name: row.name,
          email: row.email,
          createdAt: row.created_at.toISOString(),
        };
        return json({ operationId: w.operationId, user }, 201, { location: entityPath("users", row.id) });
      },
    ],
  ],
});
