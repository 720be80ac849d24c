// What the stack does between its groups of processes: once the servers are up, the database, its
// migrations and every JetStream object exist before any service starts. ops/stack.ts and the
// checker (ops/verify) run the same steps.
import { migrate } from "../../services/infra/migrate.ts";
import { setRolePasswords } from "../../services/infra/postgres-auth.ts";
import { httpOk, metaLeader } from "../../services/infra/probe.ts";
import {
  connectTo,
  DestructiveChangeError,
  loadSpecFile,
  reconcile,
} from "../../services/infra/reconcile/mod.ts";
import type { Secrets } from "../../services/infra/secrets.ts";
import { say, warn } from "../../services/infra/term.ts";
import { until } from "../../services/infra/until.ts";
import { localUrls, stackDirs, stackReplicaPorts, stackReplicas } from "./stack-config.ts";
import { databaseName, type Group, stackAdminSql } from "./stack-procs.ts";

/**
 * The environment streams.yaml is read with. In a cluster the CDC stream cannot acknowledge before
 * its write is on disk (persist_mode async is for one replica only: docs/durability.md), so the
 * cluster's stack sets JPW_CDC_PERSIST_MODE=default unless a person chose otherwise.
 */
export function streamsEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  if (stackReplicas() === 1) return env;
  return { ...env, JPW_REPLICAS: "3", JPW_CDC_PERSIST_MODE: env.JPW_CDC_PERSIST_MODE || "default" };
}

/** A failure to tell a person in one line (no stack trace). */
export class StackError extends Error {
  override name = "StackError";
}

export interface SetupLog {
  say(scope: string, line: string): void;
  warn(scope: string, line: string): void;
}

/**
 * After a group is ready: database, migrations, the roles' passwords and JetStream objects before
 * anything uses them. Postgres is administered over its socket (no password needed, peer
 * authentication for the user that runs the stack); NATS as its admin user.
 */
export async function afterGroup(
  group: Group,
  secrets: Secrets,
  log: SetupLog = { say, warn },
): Promise<void> {
  if (group !== "infra") return;
  const admin = stackAdminSql();
  try {
    const [exists] = await admin`select 1 from pg_database where datname = ${databaseName}`;
    if (!exists) {
      await admin.unsafe(`create database ${databaseName}`);
      log.say("stack", `created database ${databaseName}`);
    }
  } finally {
    await admin.end();
  }
  const sql = stackAdminSql(databaseName);
  try {
    const { applied, total } = await migrate(sql, { log: (l) => log.say("migrate", l) });
    log.say(
      "migrate",
      `${applied.length ? `${applied.length} applied` : "up to date"} (${total} migrations)`,
    );
    // Set at every start, never in a migration: migrations are committed, passwords are not.
    const roles = await setRolePasswords(sql, secrets.postgres);
    log.say("stack", `passwords set for ${roles.join(", ")} (from ${stackDirs().secrets})`);
  } finally {
    await sql.end();
  }
  // The reconciler runs before any service: services only check that their objects exist. A
  // cluster creates and changes streams only once its nodes have elected a meta leader and every
  // node has caught up with the streams it holds (full /healthz): before that, a restarted cluster
  // lists some objects as missing, and creating them again fails.
  if (stackReplicas() > 1) {
    const leader = await until(
      () => metaLeader(localUrls().natsMonitorUrl),
      60_000,
      "a JetStream meta leader",
    );
    const health = stackReplicaPorts().nats.map((n) => `http://127.0.0.1:${n.monitorPort}/healthz`);
    await until(
      async () => (await Promise.all(health.map((u) => httpOk(u)))).every(Boolean),
      60_000,
      "every NATS node to be current",
    );
    log.say("stack", `JetStream meta leader ${leader}, every node current`);
  }
  const nc = await connectTo(localUrls().natsUrl, { user: "admin", pass: secrets.nats.admin });
  try {
    const { plan, result } = await reconcile(nc, loadSpecFile(undefined, { env: streamsEnv() }), {
      monitorUrl: localUrls().natsMonitorUrl,
      log: (l) => log.say("streams", l),
    }).catch((err) => {
      // The stack never destroys data on its own: the person decides, with the reconciler's own flag.
      if (err instanceof DestructiveChangeError) {
        throw new StackError(
          `${err.message.replace(/ Re-run with --allow-destructive.*$/, "")} Review it with \`just streams plan\`, ` +
            "then run `just streams apply --allow-destructive` and start the stack again (README: Upgrading a stack)",
        );
      }
      throw err;
    });
    for (const w of plan.warnings) log.warn("streams", w);
    const changed = result.created + result.updated + result.replaced + result.deleted;
    log.say(
      "streams",
      changed
        ? `streams.yaml applied (${result.created} created, ${result.updated} updated)`
        : "streams.yaml: no changes",
    );
  } finally {
    await nc.close();
  }
}
