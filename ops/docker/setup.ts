// The one-shot `setup` service of docker-compose.yml: what the native stack does between starting
// the servers and starting the services. Migrations, then streams.yaml through the reconciler,
// then Debezium Server's configuration (the same template as everywhere) into a shared volume.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { type } from "arktype";
import postgres from "postgres";
import { debeziumConfig } from "../../services/infra/debezium.ts";
import { migrate } from "../../services/infra/migrate.ts";
import { connectTo, loadSpecFile, reconcile } from "../../services/infra/reconcile/mod.ts";
import { loadConfig, port } from "../../services/shared/config.ts";

const Env = type({
  "+": "delete",
  DATABASE_URL: "string",
  NATS_URL: "string",
  CDC_DATABASE_URL: "string",
  DEBEZIUM_CONFIG_FILE: "string",
  DEBEZIUM_OFFSETS_FILE: "string",
  DEBEZIUM_HTTP_PORT: port(8080),
});

const env = loadConfig(Env);
const log = (line: string) => console.log(`[setup] ${line}`);

const sql = postgres(env.DATABASE_URL, { max: 1, onnotice: () => {} });
try {
  const { applied, total } = await migrate(sql, { log });
  log(`${applied.length} migrations applied, ${total} in total`);
} finally {
  await sql.end();
}

const nc = await connectTo(env.NATS_URL);
try {
  const { result } = await reconcile(nc, loadSpecFile(), { log });
  log(`streams.yaml applied (${result.created} created, ${result.updated} updated)`);
} finally {
  await nc.close();
}

mkdirSync(dirname(env.DEBEZIUM_CONFIG_FILE), { recursive: true });
writeFileSync(
  env.DEBEZIUM_CONFIG_FILE,
  debeziumConfig({
    natsUrl: env.NATS_URL,
    databaseUrl: env.CDC_DATABASE_URL,
    slot: "jpw_compose",
    offsetsFile: env.DEBEZIUM_OFFSETS_FILE,
    httpPort: env.DEBEZIUM_HTTP_PORT,
    // Other containers (the reader's system panel) ask Debezium's /q/health.
    httpHost: "0.0.0.0",
  }),
);
log(`Debezium config written to ${env.DEBEZIUM_CONFIG_FILE}`);
