// Snapshots: a consistent copy of users and orders taken *after* reading the writers' ack floor F,
// so everything at or below F is in it (anything later that is also in it replays as duplicate).
// A snapshot plus the commands after F rebuilds the database once history no longer reaches back.
//
// One folder per snapshot, <dir>/<time>-f<F>/: users.jsonl.gz and orders.jsonl.gz (one row per
// line as Postgres's to_jsonb writes it, so numbers and timestamps stay exact) and manifest.json,
// written last: a folder without it is an interrupted snapshot and is ignored (and removed by the
// next one). Rows are read by a cursor and restored by INSERT … jsonb_populate_recordset, not
// COPY: postgres.js's COPY streams can hang (porsager/postgres#917, #1173).

import { once } from "node:events";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { pipeline } from "node:stream/promises";
import { createGunzip, createGzip } from "node:zlib";
import type { JetStreamManager } from "@nats-io/jetstream";
import { type } from "arktype";
import type { PendingQuery, Sql } from "postgres";
import { type Table, tables } from "../shared/writes.ts";
import { readCut } from "./history.ts";

const Manifest = type({
  version: "1",
  takenAt: "string",
  /** The writers' ack floor read before the copy began. */
  floor: "number.integer >= 0",
  /** WRITES's creation time: sequences mean nothing in another incarnation of the stream. */
  streamCreated: "string",
  database: "string",
  /** The migrations the copied database had. */
  migrations: "string[]",
  columns: { users: "string[]", orders: "string[]" },
  rows: { users: "number", orders: "number" },
});
export type Manifest = typeof Manifest.infer;

export interface Snapshot {
  path: string;
  manifest: Manifest;
}

const file = (table: Table) => `${table}.jsonl.gz`;
const columnList = (columns: string[]) => columns.map((c) => `"${c.replaceAll('"', '""')}"`).join(", ");

/** Takes a snapshot of `live` into `dir`, then keeps only the newest `keep` there. */
export async function takeSnapshot(
  jsm: JetStreamManager,
  live: Sql,
  o: { dir: string; keep: number; database: string },
): Promise<Snapshot> {
  // The floor first: the copy, begun after it, holds every command at or below it.
  const cut = await readCut(jsm);
  const takenAt = new Date().toISOString();
  const name = `${takenAt.replace(/[:.]/g, "-")}-f${cut.floor}`;
  const partial = join(o.dir, `${name}.partial`);
  await mkdir(partial, { recursive: true, mode: 0o700 });
  try {
    const manifest = await live.begin("isolation level repeatable read read only", async (tx) => {
      const migrations = (
        await tx<{ file: string }[]>`select file from schema_migrations order by version`
      ).map((r) => r.file);
      const columns = {} as Record<Table, string[]>;
      const rows = {} as Record<Table, number>;
      for (const table of tables) {
        columns[table] = (
          await tx<{ column_name: string }[]>`
            select column_name::text from information_schema.columns
            where table_schema = 'public' and table_name = ${table} order by ordinal_position`
        ).map((r) => r.column_name);
        rows[table] = await writeRows(
          tx.unsafe<{ row: string }[]>(`select to_jsonb(t)::text as row from ${table} t order by id`),
          join(partial, file(table)),
        );
      }
      return {
        version: 1,
        takenAt,
        floor: cut.floor,
        streamCreated: cut.streamCreated,
        database: o.database,
        migrations,
        columns,
        rows,
      } satisfies Manifest;
    });
    await writeFile(join(partial, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`, {
      mode: 0o600,
    });
    const path = join(o.dir, name);
    await rename(partial, path);
    await prune(o.dir, o.keep);
    return { path, manifest };
  } catch (err) {
    await rm(partial, { recursive: true, force: true });
    throw err;
  }
}

/** Every complete snapshot in `dir`, newest first. */
export async function listSnapshots(dir: string): Promise<Snapshot[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const out: Snapshot[] = [];
  for (const name of names) {
    if (name.endsWith(".partial")) continue;
    const s = await readSnapshot(join(dir, name)).catch(() => undefined);
    if (s) out.push(s);
  }
  return out.sort((a, b) => b.manifest.takenAt.localeCompare(a.manifest.takenAt));
}

export async function readSnapshot(path: string): Promise<Snapshot> {
  const m = Manifest(JSON.parse(await readFile(join(path, "manifest.json"), "utf8")));
  if (m instanceof type.errors) throw new Error(`${path}/manifest.json: ${m.summary}`);
  return { path, manifest: m };
}

/** Keeps the newest `keep` snapshots and removes interrupted ones. */
async function prune(dir: string, keep: number): Promise<void> {
  const names = await readdir(dir);
  for (const name of names.filter((n) => n.endsWith(".partial"))) {
    await rm(join(dir, name), { recursive: true, force: true });
  }
  for (const s of (await listSnapshots(dir)).slice(keep)) await rm(s.path, { recursive: true, force: true });
}

/**
 * Why a snapshot cannot start a rebuild of this history (undefined: it can): it must belong to
 * this WRITES, and every command after its floor must still be retained, up to the cut.
 */
export function unusable(
  s: Snapshot,
  h: { streamCreated: string; first: number; cut: number },
): string | undefined {
  const m = s.manifest;
  if (m.streamCreated !== h.streamCreated)
    return `it was taken with another WRITES (created ${m.streamCreated}, this one ${h.streamCreated})`;
  if (m.floor < h.first - 1)
    return `history after its floor ${m.floor} is no longer retained (WRITES starts at ${h.first})`;
  if (m.floor > h.cut) return `its floor ${m.floor} is past the cut ${h.cut}`;
  return undefined;
}

/** Writes each row as a line, gzipped; returns how many. */
async function writeRows(query: PendingQuery<{ row: string }[]>, path: string): Promise<number> {
  const gzip = createGzip({ level: 1 });
  const written = pipeline(gzip, createWriteStream(path, { mode: 0o600 }));
  let count = 0;
  for await (const rows of query.cursor(2000)) {
    const ok = gzip.write(`${rows.map((r) => r.row).join("\n")}\n`);
    count += rows.length;
    if (!ok) await once(gzip, "drain");
  }
  gzip.end();
  await written;
  return count;
}

/** Loads a snapshot's rows into `target` (a fresh, migrated database), users first. */
export async function restoreSnapshot(target: Sql, s: Snapshot): Promise<void> {
  for (const table of tables) {
    // Named columns: one a later migration added takes its default.
    const columns = columnList(s.manifest.columns[table]);
    const insert = (lines: string[]) =>
      target.unsafe(
        `insert into ${table} (${columns}) select ${columns} from jsonb_populate_recordset(null::${table}, $1::text::jsonb)`,
        [`[${lines.join(",")}]`],
      );
    const lines = createInterface({
      input: createReadStream(join(s.path, file(table))).pipe(createGunzip()),
    });
    let batch: string[] = [];
    for await (const line of lines) {
      if (line) batch.push(line);
      if (batch.length === 2000) {
        await insert(batch);
        batch = [];
      }
    }
    if (batch.length > 0) await insert(batch);
  }
}
