// The one-shot `config` service of docker-compose.yml: renders the servers' configuration from the
// same modules as the native stack (users and permissions, ACLs, pg_hba) into a shared volume,
// before nats, redis and postgres start. It gets every password in its environment (from the
// env file `just compose-env` writes) and writes only their hashes: the files hold no secret.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type } from "arktype";
import { natsAuthorizationFor } from "../../services/infra/nats-auth.ts";
import { pgHba, pgIdent } from "../../services/infra/postgres-auth.ts";
import { redisAcl } from "../../services/infra/redis-auth.ts";
import { secretsFromEnv } from "../../services/infra/secrets.ts";
import { natsConfig, redisConfig } from "../../services/infra/server-config.ts";
import { loadConfig } from "../../services/shared/config.ts";

const Env = type({ "+": "delete", CONFIG_DIR: "string = '/config'" });
const { CONFIG_DIR: dir } = loadConfig(Env);
const secrets = secretsFromEnv(process.env);

mkdirSync(dir, { recursive: true });
// Readable by the servers' own users (redis and postgres run as uid 999): hashes only.
const write = (name: string, text: string) => writeFileSync(join(dir, name), text, { mode: 0o644 });
write(
  "nats.conf",
  natsConfig({
    host: "0.0.0.0",
    port: 4222,
    httpPort: 8222,
    storeDir: "/data",
    serverName: "jpw-compose",
    authorization: natsAuthorizationFor(secrets.nats),
  }),
);
write(
  "redis.conf",
  redisConfig({
    bind: "0.0.0.0",
    port: 6379,
    dir: "/data",
    acl: redisAcl(secrets.redis),
    maxmemory: "256mb",
  }),
);
write("pg_hba.conf", pgHba(["all"]));
write("pg_ident.conf", pgIdent("postgres"));
console.log(`[config] nats.conf, redis.conf, pg_hba.conf and pg_ident.conf written to ${dir}`);
