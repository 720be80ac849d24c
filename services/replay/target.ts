// The database a rebuild goes into: created when missing, migrated, refused when it already holds
// rows (unless told: an interrupted replay run again finds its rows and answers them duplicate).
import postgres, { type Sql } from "postgres";
import { migrate } from "../infra/migrate.ts";
import { ReplayRefused } from "./history.ts";

const identifier = /^[a-z_][a-z0-9_]{0,62}$/;

/** `into` is a database name on the live database's server, or a postgres:// URL. */
export function targetUrl(liveUrl: string, into: string): string {
  if (into.includes("://")) return into;
  if (!identifier.test(into)) {
    throw new ReplayRefused(
      `"${into}" is not a database name for replay (lower-case letters, digits and _), nor a postgres:// URL`,
    );
  }
  return withDatabase(liveUrl, into);
}

export const databaseOf = (url: string) => decodeURIComponent(new URL(url).pathname.slice(1));

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Whether two URLs name the same database on the same server. */
export function sameDatabase(a: string, b: string): boolean {
  const [x, y] = [new URL(a), new URL(b)];
  const port = (u: URL) => u.port || "5432";
  const host = (u: URL) => (u.hostname === "localhost" ? "127.0.0.1" : u.hostname);
  return host(x) === host(y) && port(x) === port(y) && databaseOf(a) === databaseOf(b);
}

/** A connection to the server's maintenance database, for CREATE and DROP DATABASE. */
const maintenance = (url: string) => postgres(withDatabase(url, "postgres"), { max: 1, onnotice: () => {} });

export async function createDatabaseIfMissing(url: string): Promise<boolean> {
  const name = databaseOf(url);
  if (!identifier.test(name)) throw new ReplayRefused(`"${name}" is not a database name replay creates`);
  const admin = maintenance(url);
  try {
    const [exists] = await admin`select 1 from pg_database where datname = ${name}`;
    if (exists) return false;
    await admin.unsafe(`create database ${name}`);
    return true;
  } finally {
    await admin.end();
  }
}

export async function dropDatabase(url: string): Promise<void> {
  const admin = maintenance(url);
  try {
    await admin.unsafe(`drop database if exists ${databaseOf(url)} with (force)`);
  } finally {
    await admin.end();
  }
}

/** Creates (when missing) and migrates the target; refuses one that holds rows unless `force`. */
export async function prepareTarget(
  url: string,
  o: { force: boolean; log?: (line: string) => void },
): Promise<{ created: boolean }> {
  const created = await createDatabaseIfMissing(url);
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await migrate(sql, { log: o.log });
    const [counts] = await sql<{ users: number; orders: number }[]>`
      select (select count(*) from users)::int as users, (select count(*) from orders)::int as orders`;
    const { users, orders } = counts!;
    if ((users > 0 || orders > 0) && !o.force) {
      throw new ReplayRefused(
        `database ${databaseOf(url)} already holds ${users} users and ${orders} orders: replay into a new ` +
          "database, or pass --force to apply history over them (rows already there answer duplicate)",
      );
    }
  } finally {
    await sql.end();
  }
  return { created };
}

/**
 * The rebuild's connection, as the consumer's role (jpw_writer): the same privileges as the
 * writers, and the audit trigger, which skips that role, records nothing.
 */
export function rebuildConnection(url: string): Sql {
  return postgres(url, {
    max: 1,
    onnotice: () => {},
    connection: { role: "jpw_writer", application_name: "jpw-replay", TimeZone: "UTC" } as Record<
      string,
      string
    >,
  });
}
