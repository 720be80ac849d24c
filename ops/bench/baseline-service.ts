// The write benchmark's baseline: POST /api/users inserted straight into Postgres, no NATS. Same
// HTTP adapter, same request parsing and validation, same driver and pool as the write path, one
// INSERT per request; what the pipeline costs is the difference.
import { type } from "arktype";
import postgres from "postgres";
import { parseWriteRequest } from "../../services/producer/request.ts";
import { loadConfig, logLevel, port, positiveInt } from "../../services/shared/config.ts";
import { ConflictError } from "../../services/shared/errors.ts";
import { json, router } from "../../services/shared/http.ts";
import { runService } from "../../services/shared/lifecycle.ts";
import { createLogger } from "../../services/shared/log.ts";
import { runtime, serve } from "../../services/shared/runtime.ts";
import type { UserData } from "../../services/shared/writes.ts";
import { entityPath } from "../../services/shared/writes.ts";

const Env = type({
  "+": "delete",
  DATABASE_URL: "string = 'postgres://jpw_writer@127.0.0.1:15432/jpw'",
  PORT: port(13009),
  HOST: "string = '127.0.0.1'",
  LOG_LEVEL: logLevel,
  PG_POOL_SIZE: positiveInt(8),
});

await runService("baseline", async () => {
  const config = loadConfig(Env);
  const log = createLogger("baseline", config.LOG_LEVEL);
  const sql = postgres(config.DATABASE_URL, { max: config.PG_POOL_SIZE, onnotice: () => {} });
  const handler = router(
    [
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
    (err) => log.error("unexpected error", { err }),
  );
  const server = await serve(handler, { port: config.PORT, hostname: config.HOST });
  log.info("listening", { url: server.url, runtime });
  return async () => {
    await server.close(1000);
    await sql.end({ timeout: 5 });
  };
});
