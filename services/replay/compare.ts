// Verify's comparison: the rebuilt database against the live one, row for row.
//
// The live side is read in one REPEATABLE READ snapshot. Once it is taken, the commands stored
// after the cut are read (`afterCut`): every live row visible in the snapshot was inserted after
// its command was stored, so a live row the rebuild lacks is either from one of those commands
// (not compared: after the cut), or it was made outside the log, or it is a failure.
//
// A difference is listed as changed outside the log when audit_log (migration 0003: every change
// to users and orders by a role other than the consumer's) names a change of that row, or a
// TRUNCATE of its table; every other difference is a failure of the log.
import type { Sql } from "postgres";
import { type Table, tables } from "../shared/writes.ts";

export interface OutsideChange {
  op: "INSERT" | "UPDATE" | "DELETE" | "TRUNCATE";
  role: string;
  application: string;
  at: string;
}

export interface Difference {
  table: Table;
  id: string;
  /** changed: in both, not equal; extra: only live; missing: only in the rebuild. */
  kind: "changed" | "extra" | "missing";
  live?: Record<string, unknown>;
  rebuilt?: Record<string, unknown>;
  /** The changes outside the log that explain it (none: a failure). */
  outside: OutsideChange[];
}

export interface Comparison {
  /** Rows present on both sides, per table. */
  compared: Record<Table, number>;
  /** Live rows not compared: their command came after the cut. */
  afterCut: Record<Table, number>;
  outOfLog: Difference[];
  failures: Difference[];
  /** False when the live database has no audit_log: nothing can be told apart. */
  audited: boolean;
  seconds: number;
}

const rowsOf = (sql: Sql, table: Table) =>
  sql.unsafe<{ id: string; row: string }[]>(
    `select id::text as id, to_jsonb(t)::text as row from ${table} t order by id`,
  );

export async function compare(
  live: Sql,
  rebuilt: Sql,
  afterCut: () => Promise<Set<string>>,
): Promise<Comparison> {
  const started = performance.now();
  return live.begin("isolation level repeatable read read only", async (tx) => {
    // Both sides render timestamps alike. The snapshot is taken by the first query; the tail is
    // read after it.
    await tx`set local timezone to 'UTC'`;
    const [{ audited }] = (await tx`select to_regclass('audit_log') is not null as audited`) as unknown as [
      { audited: boolean },
    ];
    const tail = await afterCut();
    const out: Comparison = {
      compared: { users: 0, orders: 0 },
      afterCut: { users: 0, orders: 0 },
      outOfLog: [],
      failures: [],
      audited,
      seconds: 0,
    };
    const found: Difference[] = [];
    for (const table of tables) {
      const l = cursor(rowsOf(tx as unknown as Sql, table));
      const r = cursor(rowsOf(rebuilt, table));
      let a = await l.next();
      let b = await r.next();
      while (a || b) {
        if (a && b && a.id === b.id) {
          out.compared[table]++;
          if (a.row !== b.row)
            found.push({
              table,
              id: a.id,
              kind: "changed",
              live: JSON.parse(a.row),
              rebuilt: JSON.parse(b.row),
              outside: [],
            });
          a = await l.next();
          b = await r.next();
        } else if (a && (!b || a.id < b.id)) {
          if (tail.has(a.id)) out.afterCut[table]++;
          else found.push({ table, id: a.id, kind: "extra", live: JSON.parse(a.row), outside: [] });
          a = await l.next();
        } else if (b) {
          found.push({ table, id: b.id, kind: "missing", rebuilt: JSON.parse(b.row), outside: [] });
          b = await r.next();
        }
      }
    }
    if (audited) await explain(tx as unknown as Sql, found);
    for (const d of found) (d.outside.length > 0 ? out.outOfLog : out.failures).push(d);
    out.seconds = (performance.now() - started) / 1000;
    return out;
  });
}

/** Attaches to each difference the changes outside the log that touched its row. */
async function explain(sql: Sql, found: Difference[]): Promise<void> {
  const truncates = await sql<(OutsideChange & { table_name: string })[]>`
    select op, role, application, to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at, table_name
    from audit_log where op = 'TRUNCATE' order by id`;
  for (let i = 0; i < found.length; i += 10_000) {
    const part = found.slice(i, i + 10_000);
    const byId = new Map(part.map((d) => [d.id, d]));
    const rows = await sql<(OutsideChange & { old_id: string | null; new_id: string | null })[]>`
      select op, role, application, to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at,
        old_id::text, new_id::text
      from audit_log
      where old_id = any(${[...byId.keys()]}::uuid[]) or new_id = any(${[...byId.keys()]}::uuid[])
      order by id`;
    for (const r of rows) {
      const change = { op: r.op, role: r.role, application: r.application, at: r.at };
      for (const id of new Set([r.old_id, r.new_id])) if (id) byId.get(id)?.outside.push(change);
    }
  }
  // A row only the rebuild has, gone in a TRUNCATE of its table after it was created.
  for (const d of found) {
    if (d.kind !== "missing" || d.outside.length > 0) continue;
    const created = String(d.rebuilt?.created_at ?? "");
    for (const t of truncates) {
      if (t.table_name === d.table && Date.parse(t.at) >= Date.parse(created)) {
        d.outside.push({ op: t.op, role: t.role, application: t.application, at: t.at });
      }
    }
  }
}

/** Rows of a query one at a time, read 2000 at a time. */
function cursor(query: ReturnType<typeof rowsOf>) {
  const it = query.cursor(2000)[Symbol.asyncIterator]();
  let rows: { id: string; row: string }[] = [];
  let i = 0;
  return {
    async next(): Promise<{ id: string; row: string } | undefined> {
      while (i >= rows.length) {
        const r = await it.next();
        if (r.done) return undefined;
        rows = r.value;
        i = 0;
      }
      return rows[i++];
    },
  };
}
