// An ephemeral PostgreSQL cluster per test file: initdb in a temp folder as the `postgres` user,
// wal_level=logical (Debezium), the same authentication as the local stack (postgres-auth.ts: SCRAM
// passwords over TCP, generated per test process), a migrated template database, and a fresh copy
// of it per suite.
import { join } from "node:path";
import postgres from "postgres";
import { migrate } from "../infra/migrate.ts";
import { adminOverSocket, postgresUrl, setRolePasswords, writePostgresAuth } from "../infra/postgres-auth.ts";
import { run } from "../infra/proc.ts";
import type { PostgresRole } from "../infra/secrets.ts";
import { initdbArgs, postgresArgs, postgresOwner } from "../infra/server-config.ts";
import { tools } from "../infra/tools.ts";
import { onFreePort } from "./ports.ts";
import { makeTempDir, removeTempDir, ServerProcess, waitReady } from "./process.ts";
import { reusedSecrets, testSecrets } from "./secrets.ts";

export interface TestDatabase extends AsyncDisposable {
  name: string;
  /** Superuser URL of this database (password inside). */
  url: string;
  /** The same database as a service's role (jpw_writer, jpw_reader, jpw_cdc, ...), password inside. */
  urlAs(role: PostgresRole | (string & {})): string;
  drop(): Promise<void>;
}

export interface PostgresServer extends AsyncDisposable {
  host: string;
  port: number;
  /** Superuser URL of the `postgres` maintenance database. */
  url: string;
  reused: boolean;
  pid: number | undefined;
  /** A fresh database copied from the migrated template (or an empty one with `migrated: false`). */
  createDatabase(prefix?: string, opts?: { migrated?: boolean }): Promise<TestDatabase>;
  /** Fast shutdown; `start()` brings it back on the same port with the same data. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** SIGKILL of the postmaster, as a crash. */
  kill(): Promise<void>;
}

const template = "jpw_template";
let counter = 0;

/**
 * The roles' passwords of every server this process started or reuses, by host:port: harness
 * helpers given only a URL (startWritePath gives the producer its own role) find them here.
 */
const known = new Map<string, () => Record<PostgresRole, string>>();
const serverKey = (url: string) => new URL(url).host;

/** The password of `role` on the Postgres server `url` points at (one this process started or reuses). */
export function postgresPasswordFor(url: string, role: PostgresRole): string {
  const passwords = known.get(serverKey(url));
  if (!passwords)
    throw new Error(`no Postgres at ${serverKey(url)} was started or reused by this test process`);
  return passwords()[role];
}

export interface StartPostgresOptions {
  /** Ignore DATABASE_URL and start our own cluster (tests that stop or kill it). */
  own?: boolean;
  /**
   * Keep fsync and full_page_writes on, as in production: benchmarks measure commits that reach the
   * disk. Tests leave it off (ephemeral clusters need no OS-crash safety).
   */
  durable?: boolean;
}

export async function startPostgres(opts: StartPostgresOptions = {}): Promise<PostgresServer> {
  const given = process.env.DATABASE_URL;
  if (given && !opts.own) return reusedServer(given);

  const owner = postgresOwner();
  const passwords = testSecrets().postgres;
  const dir = makeTempDir("pg", owner);
  const dataDir = join(dir, "data");
  await run(tools.postgres("initdb"), initdbArgs(dataDir), { prefix: false, ...owner });
  writePostgresAuth(dataDir, owner);
  const adminUrl = (on: number, db = "postgres") =>
    postgresUrl({
      host: "127.0.0.1",
      port: on,
      database: db,
      role: "postgres",
      password: passwords.postgres,
    });

  let port = 0;
  let proc: ServerProcess | undefined;
  // A restart keeps its port: clients reconnect to the same URL.
  const boot = async (on: number) => {
    port = on;
    proc = new ServerProcess({
      name: "postgres",
      cmd: tools.postgres(),
      args: postgresArgs({ dataDir, port, socketDir: dir, ephemeral: !opts.durable }),
      owner,
    });
    await waitReady(proc, "postgres", () => canConnect(() => adminOverSocket(dir, on)));
  };
  await onFreePort(boot);
  known.set(`127.0.0.1:${port}`, () => passwords);
  // The superuser's password first (over the socket), then the template's migrations create the
  // services' roles, which get theirs.
  await withSql(adminOverSocket(dir, port), (sql) => setRolePasswords(sql, { postgres: passwords.postgres }));
  await createTemplate(adminUrl(port));
  await withSql(adminOverSocket(dir, port), (sql) => setRolePasswords(sql, passwords));

  return {
    host: "127.0.0.1",
    get port() {
      return port;
    },
    get url() {
      return adminUrl(port);
    },
    get pid() {
      return proc?.pid;
    },
    reused: false,
    createDatabase: (prefix, o) =>
      createDatabase(adminUrl(port), passwords, prefix, o?.migrated === false ? "template0" : template),
    start: () => boot(port),
    // SIGINT is Postgres's "fast" shutdown: abort transactions, close connections, checkpoint.
    stop: async () => {
      proc?.signal("SIGINT");
      await proc?.exited;
    },
    kill: async () => {
      proc?.killNow();
      await proc?.exited;
    },
    async [Symbol.asyncDispose]() {
      proc?.signal("SIGINT");
      const timer = setTimeout(() => proc?.killNow(), 10_000);
      await proc?.exited;
      clearTimeout(timer);
      removeTempDir(dir);
    },
  };
}

async function withSql<T>(sql: postgres.Sql, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

const canConnect = (open: () => postgres.Sql) =>
  withSql(open(), async (sql) => {
    await sql`select 1`;
    return true;
  });

function withDatabase(url: string, db: string, user?: string, password?: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  if (user) {
    u.username = user;
    u.password = password ? encodeURIComponent(password) : "";
  }
  return u.toString();
}

async function createTemplate(url: string, name = template): Promise<void> {
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const db = postgres(withDatabase(url, name), { max: 1, onnotice: () => {} });
  try {
    await migrate(db);
  } finally {
    await db.end();
  }
}

async function createDatabase(
  url: string,
  passwords: Record<PostgresRole, string>,
  prefix = "test",
  from = template,
): Promise<TestDatabase> {
  const name = `${prefix}_${process.pid}_${++counter}`.replace(/[^a-z0-9_]/gi, "_").toLowerCase();
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${name} template ${from}`);
  } finally {
    await admin.end();
  }
  const dbUrl = withDatabase(url, name);
  const drop = async () => {
    const a = postgres(url, { max: 1, onnotice: () => {} });
    try {
      // Replication slots (Debezium) pin a database: drop the inactive ones first.
      await a.unsafe(
        `select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = '${name}' and not active`,
      );
      await a.unsafe(`drop database if exists ${name} with (force)`);
    } finally {
      await a.end();
    }
  };
  return {
    name,
    url: dbUrl,
    urlAs: (role) => withDatabase(url, name, role, passwords[role as PostgresRole]),
    drop,
    [Symbol.asyncDispose]: drop,
  };
}

/**
 * A server given by DATABASE_URL: a superuser URL with its password (as `just status` prints it);
 * the services' roles log in with that stack's passwords (secrets.ts), which this never changes.
 */
function reusedServer(given: string): PostgresServer {
  const passwords = () => reusedSecrets("DATABASE_URL").postgres;
  known.set(serverKey(given), passwords);
  const refuse = async () => {
    throw new Error(
      `cannot stop the Postgres at DATABASE_URL=${given}: unset DATABASE_URL to let the test start its own`,
    );
  };
  const u = new URL(given);
  // One template per test process: files running side by side on one server must not share it.
  const name = `${template}_${process.pid}`;
  let made: Promise<void> | undefined;
  return {
    host: u.hostname,
    port: Number(u.port || 5432),
    url: given,
    reused: true,
    pid: undefined,
    createDatabase: async (prefix, o) => {
      if (o?.migrated === false) return createDatabase(given, passwords(), prefix, "template0");
      made ??= createTemplate(given, name);
      await made;
      return createDatabase(given, passwords(), prefix, name);
    },
    start: refuse,
    stop: refuse,
    kill: refuse,
    async [Symbol.asyncDispose]() {
      if (!made) return;
      const a = postgres(given, { max: 1, onnotice: () => {} });
      try {
        await a.unsafe(`drop database if exists ${name} with (force)`);
      } finally {
        await a.end();
      }
    },
  };
}
