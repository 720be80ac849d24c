// The servers' own command-line clients as the local stack's administrators, so the README's
// examples work with authentication on. Credentials come from the stack's secrets folder
// (<JPW_DATA_DIR>/secrets, owner-only) and reach the client through its environment, never its
// command line (which everyone can read in `ps`).
//
//   tsx ops/clients.ts nats [args]        the nats CLI as `admin` (NATS_URL, NATS_USER, NATS_PASSWORD)
//   tsx ops/clients.ts psql [args]        psql as the superuser on the stack's database (PGPASSWORD)
//   tsx ops/clients.ts redis-cli [args]   redis-cli as `admin` (REDISCLI_AUTH)
import { spawnSync } from "node:child_process";
import { tools } from "../services/infra/tools.ts";
import { stackSecrets, stackSecretsDir } from "./lib/admin.ts";
import { databaseName, localUrls, stackPorts } from "./lib/stack-config.ts";

const [client, ...args] = process.argv.slice(2);
const secrets = stackSecrets();
if (!secrets) {
  console.error(
    `${stackSecretsDir()} does not exist or is not readable by this user: start the stack (just up -d, just dev) as the user that owns it`,
  );
  process.exit(1);
}
const ports = stackPorts();
const commands: Record<string, () => { cmd: string; args: string[]; env: Record<string, string> }> = {
  nats: () => ({
    cmd: tools.nats(),
    args,
    env: { NATS_URL: localUrls().natsUrl, NATS_USER: "admin", NATS_PASSWORD: secrets.nats.admin },
  }),
  // `just psql [db] [psql options]`: the stack's database unless another is named first.
  psql: () => {
    const [db, rest] = args[0] && !args[0].startsWith("-") ? [args[0], args.slice(1)] : [databaseName, args];
    return {
      cmd: tools.postgres("psql"),
      args: ["-h", "127.0.0.1", "-p", String(ports.postgres), "-U", "postgres", "-d", db, ...rest],
      env: { PGPASSWORD: secrets.postgres.postgres },
    };
  },
  "redis-cli": () => ({
    cmd: tools.redisCli(),
    args: ["-h", "127.0.0.1", "-p", String(ports.redis), "--user", "admin", ...args],
    env: { REDISCLI_AUTH: secrets.redis.admin },
  }),
};
const make = client ? commands[client] : undefined;
if (!make) {
  console.error(`usage: tsx ops/clients.ts ${Object.keys(commands).join(" | ")} [args]`);
  process.exit(1);
}
const run = make();
const r = spawnSync(run.cmd, run.args, { stdio: "inherit", env: { ...process.env, ...run.env } });
process.exit(r.status ?? 1);
