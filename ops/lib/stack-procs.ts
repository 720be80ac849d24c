// Every process of the native local stack, in start order: how to prepare it, run it, know it is
// ready, and what a person needs to reach it. Every server authenticates: the credentials come from
// the stack's secrets folder (generated on first start, owner-only) and reach processes through
// their environment or owner-only config files, never their command lines.
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { chown } from "node:fs/promises";
import { join } from "node:path";
import { caddyfile } from "../../services/infra/caddyfile.ts";
import { type DebeziumRun, debeziumReady, prepareDebeziumRun } from "../../services/infra/debezium.ts";
import { natsAuthorizationFor } from "../../services/infra/nats-auth.ts";
import { root } from "../../services/infra/paths.ts";
import { adminOverSocket, writePostgresAuth } from "../../services/infra/postgres-auth.ts";
import { httpOk, redisPing } from "../../services/infra/probe.ts";
import { run } from "../../services/infra/proc.ts";
import { redisAcl } from "../../services/infra/redis-auth.ts";
import { natsUsers, postgresRoles, redisUsers, type Secrets } from "../../services/infra/secrets.ts";
import {
  initdbArgs,
  natsConfig,
  postgresArgs,
  postgresOwner,
  redisConfig,
} from "../../services/infra/server-config.ts";
import { serviceCommand } from "../../services/infra/service-command.ts";
import { tools } from "../../services/infra/tools.ts";
import { debeziumHealthUrl } from "../../services/shared/cdc.ts";
import { stackSecrets } from "./admin.ts";
import {
  databaseName,
  localUrls,
  type NatsNode,
  stackDirs,
  stackPorts,
  stackProfile,
  stackReplicaPorts,
} from "./stack-config.ts";
import type { ProcSpec } from "./supervisor.ts";

export type Group = "infra" | "cdc" | "app" | "edge";

export interface StackProc extends ProcSpec {
  group: Group;
  port: number;
  /** Lines for `just status`: URLs a person can paste into a client. */
  reach: string[];
  ready(): Promise<boolean>;
  readyTimeoutMs: number;
  /** One-time preparation before the first start (initdb, config files). */
  prepare?(): Promise<void>;
}

/** Credentials that are never used: `status`, `down` and `logs` start nothing. */
const none: Secrets = {
  dir: "",
  nats: Object.fromEntries(natsUsers.map((u) => [u, ""])) as Secrets["nats"],
  postgres: Object.fromEntries(postgresRoles.map((r) => [r, ""])) as Secrets["postgres"],
  redis: Object.fromEntries(redisUsers.map((u) => [u, ""])) as Secrets["redis"],
};

/** Where the local Postgres listens for the stack's own administration (peer authentication). */
export const postgresSocketDir = () => join(stackDirs().postgres, "socket");

/** The superuser over the local socket: the stack administers its cluster without a password. */
export const stackAdminSql = (database = "postgres") =>
  adminOverSocket(postgresSocketDir(), stackPorts().postgres, database);

/**
 * `secrets`: the stack's (the commands that start processes pass loadSecrets', which creates
 * missing ones); by default those this user may read (`status`, a readiness wait), else none:
 * the processes can then be listed and stopped, not started. Probes that need a credential read
 * it when they run: a readiness wait may begin before the stack's first start generated them.
 */
export async function stackProcs(given?: Secrets): Promise<StackProc[]> {
  const secrets = given ?? stackSecrets() ?? none;
  const probing = () => given ?? stackSecrets() ?? none;
  const ports = stackPorts();
  const dirs = stackDirs();
  const urls = localUrls(secrets);
  const profile = stackProfile();
  const owner = postgresOwner();
  const pgData = join(dirs.postgres, "data");
  const pgSocket = postgresSocketDir();

  const replicas = stackReplicaPorts();
  const procs: StackProc[] = [
    ...replicas.nats.map((node) => natsProc(node, replicas.nats, secrets)),
    {
      group: "infra",
      name: "postgres",
      port: ports.postgres,
      cmd: tools.postgres(),
      args: postgresArgs({ dataDir: pgData, port: ports.postgres, socketDir: pgSocket, ephemeral: false }),
      ...(owner ?? {}),
      stopSignal: "SIGINT",
      reach: [`DATABASE_URL=${localUrls().adminDatabaseUrl}`],
      ready: async () => {
        const sql = stackAdminSql();
        try {
          await sql`select 1`;
          return true;
        } catch {
          return false;
        } finally {
          await sql.end({ timeout: 1 });
        }
      },
      readyTimeoutMs: 30_000,
      prepare: async () => {
        mkdirSync(pgSocket, { recursive: true });
        if (owner) {
          await chown(dirs.postgres, owner.uid, owner.gid);
          await chown(pgSocket, owner.uid, owner.gid);
        }
        if (!existsSync(join(pgData, "PG_VERSION"))) {
          await run(tools.postgres("initdb"), initdbArgs(pgData), { prefix: false, ...(owner ?? {}) });
        }
        // Every start: a cluster made before the stack authenticated (trust) gets the same rules.
        writePostgresAuth(pgData, owner);
      },
    },
    {
      group: "infra",
      name: "redis",
      port: ports.redis,
      cmd: tools.redisServer(),
      args: [join(dirs.redis, "redis.conf")],
      reach: [`REDIS_URL=${localUrls().redisUrl}`],
      ready: () => redisPing(ports.redis),
      readyTimeoutMs: 15_000,
      prepare: async () => {
        mkdirSync(dirs.redis, { recursive: true });
        writeFileSync(
          join(dirs.redis, "redis.conf"),
          redisConfig({
            port: ports.redis,
            dir: dirs.redis,
            acl: redisAcl(secrets.redis),
            maxmemory: process.env.JPW_REDIS_MAXMEMORY || "256mb",
          }),
          { mode: 0o600 },
        );
      },
    },
  ];

  procs.push(debeziumProc(ports.debezium, secrets, probing));

  // Each service as its own NATS user (services/infra/nats-auth.ts).
  const service = (
    name: "consumer" | "producer" | "reader",
    port: number,
    env: Record<string, string>,
    /** The process's name: the service's, or `producer-2` for a replica. */
    procName: string = name,
  ): StackProc => {
    const entry = join(root, "services", name, "main.ts");
    return {
      group: "app",
      name: procName,
      port,
      // JPW_RUNTIME=deno runs the services under Deno; JPW_NODE_ARGS are extra flags for node
      // (`just bench system --profile` passes --cpu-prof, which NODE_OPTIONS does not allow).
      ...serviceCommand(
        process.env.JPW_RUNTIME === "deno" ? "deno" : "node",
        entry,
        (process.env.JPW_NODE_ARGS ?? "").split(" ").filter(Boolean),
      ),
      cwd: root,
      env: {
        ...process.env,
        HOST: "127.0.0.1",
        PORT: String(port),
        NATS_URL: urls.natsUrl,
        NATS_USER: name,
        NATS_PASSWORD: secrets.nats[name],
        ...env,
      },
      restart: true,
      reach: [`http://127.0.0.1:${port}`],
      ready: () => httpOk(`http://127.0.0.1:${port}/readyz`),
      readyTimeoutMs: 30_000,
    };
  };
  procs.push(
    ...replicas.consumers.map((c) =>
      service("consumer", c.port, { DATABASE_URL: urls.writerDatabaseUrl }, c.name),
    ),
    ...replicas.producers.map((c) =>
      service("producer", c.port, { DATABASE_URL: urls.producerDatabaseUrl }, c.name),
    ),
    service("reader", ports.reader, {
      DATABASE_URL: urls.readerDatabaseUrl,
      REDIS_URL: urls.readerRedisUrl,
      PRODUCER_URL: replicas.producers.map((r) => `http://127.0.0.1:${r.port}`).join(","),
      CONSUMER_URL: replicas.consumers.map((r) => `http://127.0.0.1:${r.port}`).join(","),
      DEBEZIUM_HEALTH_URL: debeziumHealthUrl(ports.debezium),
    }),
  );

  procs.push({
    group: "edge",
    name: "edge",
    port: ports.edge,
    cmd: tools.caddy(),
    args: ["run", "--adapter", "caddyfile", "--config", join(dirs.data, "edge", "Caddyfile")],
    env: {
      ...process.env,
      XDG_DATA_HOME: join(dirs.data, "edge", "data"),
      XDG_CONFIG_HOME: join(dirs.data, "edge", "config"),
    },
    restart: true,
    reach: [`UI and API ${urls.edgeUrl}`],
    ready: () => httpOk(`http://127.0.0.1:${ports.edge}/healthz`),
    readyTimeoutMs: 15_000,
    prepare: async () => {
      mkdirSync(join(dirs.data, "edge"), { recursive: true });
      writeFileSync(
        join(dirs.data, "edge", "Caddyfile"),
        caddyfile({
          port: ports.edge,
          producer: replicas.producers.map((r) => `127.0.0.1:${r.port}`),
          reader: `127.0.0.1:${ports.reader}`,
          webRoot: join(root, "web", "dist"),
          ...(profile.server
            ? {
                loopback: false,
                domain: profile.domain,
                httpsPort: ports.https,
                acmeEmail: profile.acmeEmail,
              }
            : {}),
        }),
      );
    },
  });
  // On a server nobody watches a terminal: a process that exits is started again (with the
  // supervisor's growing delay) instead of leaving the system without it.
  if (profile.server) for (const p of procs) p.restart = true;
  return procs;
}

/**
 * One nats-server: alone, or a node of the cluster whose routes reach the others. Each node has its
 * own folder (config, JetStream store); a lone server keeps the folder layout it always had.
 */
function natsProc(node: NatsNode, nodes: NatsNode[], secrets: Secrets): StackProc {
  const dir = nodes.length > 1 ? join(stackDirs().nats, node.name) : stackDirs().nats;
  const monitorUrl = `http://127.0.0.1:${node.monitorPort}`;
  const clientUrl = `nats://127.0.0.1:${node.port}`;
  return {
    group: "infra",
    name: node.name,
    port: node.port,
    cmd: tools.natsServer(),
    args: ["-c", join(dir, "nats.conf")],
    reach: [`NATS_URL=${clientUrl}`, `monitoring ${monitorUrl}`],
    // A node of a cluster is healthy once it has JetStream; that the cluster has a meta leader is
    // the stack's next wait (stack-setup.ts), since a lone node cannot have one.
    ready: () => httpOk(`${monitorUrl}/healthz?js-enabled-only=true`),
    readyTimeoutMs: 20_000,
    prepare: async () => {
      mkdirSync(dir, { recursive: true });
      const routes = nodes.filter((n) => n !== node).map((n) => n.clusterPort ?? 0);
      writeFileSync(
        join(dir, "nats.conf"),
        natsConfig({
          port: node.port,
          httpPort: node.monitorPort,
          storeDir: join(dir, "store"),
          serverName: nodes.length > 1 ? `jpw-local-${node.name}` : "jpw-local",
          authorization: natsAuthorizationFor(secrets.nats),
          ...(node.clusterPort ? { cluster: { name: "jpw-local", port: node.clusterPort, routes } } : {}),
        }),
        { mode: 0o600 },
      );
    },
  };
}

const localSlot = "jpw_local";

/**
 * Debezium Server streams the local database into the CDC stream. It exits whenever NATS restarts
 * (its sink never reconnects), so it always runs with a restart policy; its offsets file keeps a
 * restart from missing or replaying much.
 */
function debeziumProc(httpPort: number, secrets: Secrets, probing: () => Secrets): StackProc {
  const dirs = stackDirs();
  const urls = localUrls(secrets);
  const options = {
    runDir: dirs.debezium,
    natsUrl: urls.natsUrl,
    natsUser: "debezium",
    natsPassword: secrets.nats.debezium,
    databaseUrl: urls.cdcDatabaseUrl,
    slot: localSlot,
    httpPort,
  };
  let run: DebeziumRun | undefined;
  let missing: Error | undefined;
  try {
    // How to start it; its config file (passwords inside) is written only when it starts.
    run = prepareDebeziumRun(options, { writeConfig: false });
  } catch (err) {
    missing = err as Error;
  }
  return {
    group: "cdc",
    name: "debezium",
    port: httpPort,
    cmd: run?.cmd ?? "java",
    args: run?.args ?? [],
    cwd: run?.cwd ?? dirs.debezium,
    env: run?.env ?? process.env,
    restart: true,
    reach: [`health ${debeziumHealthUrl(httpPort)}`, `slot ${localSlot}`],
    ready: async () => {
      const sql = stackAdminSql(databaseName);
      try {
        const natsAuth = { user: "admin", pass: probing().nats.admin };
        return (await debeziumReady({ sql, slot: localSlot, natsUrl: urls.natsUrl, natsAuth })).ready;
      } catch {
        return false;
      } finally {
        await sql.end({ timeout: 1 });
      }
    },
    // A cold JVM on two busy cores.
    readyTimeoutMs: 120_000,
    prepare: async () => {
      if (missing) throw missing;
      prepareDebeziumRun(options);
    },
  };
}

export { databaseName };
