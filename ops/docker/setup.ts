// The one-shot `setup` service of docker-compose.yml: what the native stack does between starting
// the servers and starting the services. Migrations and the roles' passwords, then streams.yaml
// through the reconciler, then Debezium Server's configuration (the same template as everywhere)
// into a shared volume, readable by Debezium's user only (it holds two passwords).
import { chownSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { type } from "arktype";
import postgres from "postgres";
import { debeziumConfig } from "../../services/infra/debezium.ts";
import { migrate } from "../../services/infra/migrate.ts";
import { postgresUrl, setRolePasswords } from "../../services/infra/postgres-auth.ts";
import { connectTo, loadSpecFile, reconcile } from "../../services/infra/reconcile/mod.ts";
import { secretsFromEnv } from "../../services/infra/secrets.ts";
import { loadConfig, port } from "../../services/shared/config.ts";

const Env = type({
  "+": "delete",
  NATS_URL: "string",
  PG_HOST: "string",
  PG_DATABASE: "string",
  DEBEZIUM_CONFIG_FILE: "string",
  DEBEZIUM_OFFSETS_FILE: "string",
  DEBEZIUM_HTTP_PORT: port(8080),
  /** The user Debezium Server's image runs as (jboss). */
  DEBEZIUM_UID: type("string.integer.parse").default("185"),
});

const env = loadConfig(Env);
const secrets = secretsFromEnv(process.env);
const log = (line: string) => console.log(`[setup] ${line}`);
const db = (role: "postgres" | "jpw_cdc") =>
  postgresUrl({
    host: env.PG_HOST,
    port: 5432,
    database: env.PG_DATABASE,
    role,
    password: secrets.postgres[role],
  });

const sql = postgres(db("postgres"), { max: 1, onnotice: () => {} });
try {
  const { applied, total } = await migrate(sql, { log });
  log(`${applied.length} migrations applied, ${total} in total`);
  log(`passwords set for ${(await setRolePasswords(sql, secrets.postgres)).join(", ")}`);
} finally {
  await sql.end();
}

const nc = await connectTo(env.NATS_URL, { user: "admin", pass: secrets.nats.admin });
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
    natsUser: "debezium",
    natsPassword: secrets.nats.debezium,
    databaseUrl: db("jpw_cdc"),
    slot: "jpw_compose",
    offsetsFile: env.DEBEZIUM_OFFSETS_FILE,
    httpPort: env.DEBEZIUM_HTTP_PORT,
    // Other containers (the reader's system panel) ask Debezium's /q/health.
    httpHost: "0.0.0.0",
  }),
  { mode: 0o600 },
);
chownSync(env.DEBEZIUM_CONFIG_FILE, env.DEBEZIUM_UID, 0);
log(`Debezium config written to ${env.DEBEZIUM_CONFIG_FILE}`);
