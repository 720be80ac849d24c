// Numbered plain-SQL migrations (`migrations/NNNN_name.sql`), each applied in its own transaction
// and recorded in `schema_migrations`. A re-run applies only new files; a failed file rolls back
// completely and is named in the error; a file edited after it was applied is refused.
//
// The command line is ops/migrate.ts.
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Sql } from "postgres";
import { root } from "./paths.ts";

export const migrationsDir = join(root, "migrations");

export class MigrationError extends Error {
  override name = "MigrationError";
  constructor(
    message: string,
    readonly file?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface Migration {
  version: string;
  file: string;
  sql: string;
  checksum: string;
}

const fileName = /^(\d{4})_([a-z0-9_]+)\.sql$/;

export async function readMigrations(dir = migrationsDir): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".sql")).sort();
  const seen = new Map<string, string>();
  const out: Migration[] = [];
  for (const file of files) {
    const m = fileName.exec(file);
    if (!m) throw new MigrationError(`migration file name ${file} does not match NNNN_name.sql`, file);
    const version = m[1]!;
    const clash = seen.get(version);
    if (clash) throw new MigrationError(`migrations ${clash} and ${file} share the number ${version}`, file);
    seen.set(version, file);
    const sql = await readFile(join(dir, file), "utf8");
    out.push({ version, file, sql, checksum: createHash("sha256").update(sql).digest("hex") });
  }
  return out;
}

// Any two migrators on one database serialise on this lock, so concurrent starts apply each file once.
const lockKey = 0x6a70_7731; // "jpw1"

export async function migrate(
  sql: Sql,
  opts: { dir?: string; log?: (line: string) => void } = {},
): Promise<{ applied: string[]; total: number }> {
  const log = opts.log ?? (() => {});
  const migrations = await readMigrations(opts.dir);
  await sql.begin(async (tx) => {
    // Two concurrent `create table if not exists` can still collide in the catalog: lock first.
    await tx`select pg_advisory_xact_lock(${lockKey})`;
    await tx`
      create table if not exists schema_migrations (
        version text primary key,
        file text not null,
        checksum text not null,
        applied_at timestamptz not null default now()
      )`;
  });
  const applied: string[] = [];
  for (const m of migrations) {
    const done = await sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(${lockKey})`;
      const [row] = await tx<{ checksum: string; file: string }[]>`
        select checksum, file from schema_migrations where version = ${m.version}`;
      if (row) {
        if (row.checksum !== m.checksum) {
          throw new MigrationError(
            `${m.file} was changed after it was applied (as ${row.file}): add a new migration instead of editing an applied one`,
            m.file,
          );
        }
        return false;
      }
      // Rows a migration changes are recorded as changed outside the command log by this name
      // (the audit trigger of 0003_audit.sql).
      await tx`select set_config('application_name', ${`migration ${m.file}`}, true)`;
      try {
        await tx.unsafe(m.sql);
      } catch (err) {
        const e = err as Error & { position?: string; where?: string };
        throw new MigrationError(`${m.file} failed, nothing of it was applied: ${e.message}`, m.file, {
          cause: err,
        });
      }
      await tx`insert into schema_migrations (version, file, checksum) values (${m.version}, ${m.file}, ${m.checksum})`;
      return true;
    });
    if (done) {
      applied.push(m.file);
      log(`applied ${m.file}`);
    }
  }
  return { applied, total: migrations.length };
}
