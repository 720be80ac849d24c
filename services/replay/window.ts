// Which history a replay covers, and whether it reaches back far enough to rebuild the database.
//
// History no longer reaches back when WRITES was trimmed (its first sequence is past 1: the
// history keeper removed applied commands beyond jpw.history.*), or when the live database holds
// rows older than its history that were not inserted outside the log (a row's created_at is its
// command's requestedAt): older than the first retained command, or than the stream itself. Then a snapshot whose floor the retained history
// continues from starts the rebuild, or replay refuses, naming the oldest retained command.
import type { JetStreamManager } from "@nats-io/jetstream";
import type { Sql } from "postgres";
import { isoTimestampSql } from "../shared/timestamps.ts";
import { tables, writesStream } from "../shared/writes.ts";
import { type Cut, commandAtOrAfter, type Landmark, messageAt, ReplayRefused, readCut } from "./history.ts";
import { listSnapshots, readSnapshot, type Snapshot, unusable } from "./snapshot.ts";

export interface Plan {
  cut: Cut;
  /** The oldest command WRITES retains. */
  oldest: Landmark | undefined;
  /** The message at the cut (its time). */
  atCut: Landmark | undefined;
  /** Why history alone does not rebuild the database (undefined: it does). */
  gap: string | undefined;
  /** Where the rebuild starts, when not from an empty database. */
  snapshot: Snapshot | undefined;
  /** The first sequence to read: the stream's first, or the snapshot's floor + 1. */
  from: number;
}

export interface PlanOptions {
  until?: number | undefined;
  /** A snapshot folder to start from (even when history reaches back). */
  snapshot?: string | undefined;
  /** Where `just snapshot` keeps them: searched when history does not reach back. */
  snapshotsDir?: string | undefined;
}

export async function planReplay(
  jsm: JetStreamManager,
  live: Sql | undefined,
  o: PlanOptions,
): Promise<Plan> {
  const cut = await readCut(jsm, o.until);
  const oldest = await commandAtOrAfter(jsm, cut.first);
  const atCut = await messageAt(jsm, cut.cut);
  const gap = await historyGap(live, cut, oldest);
  const plan = { cut, oldest, atCut, gap, snapshot: undefined, from: cut.first };
  const history = { streamCreated: cut.streamCreated, first: cut.first, cut: cut.cut };

  if (o.snapshot) {
    const s = await readSnapshot(o.snapshot).catch((err) => {
      throw new ReplayRefused(`cannot read the snapshot ${o.snapshot}: ${(err as Error).message}`);
    });
    const why = unusable(s, history);
    if (why) throw new ReplayRefused(`the snapshot ${s.path} cannot start this rebuild: ${why}`);
    return { ...plan, snapshot: s, from: s.manifest.floor + 1 };
  }
  if (!gap) return plan;

  const snapshots = o.snapshotsDir ? await listSnapshots(o.snapshotsDir) : [];
  const usable = snapshots.find((s) => !unusable(s, history));
  if (usable) return { ...plan, snapshot: usable, from: usable.manifest.floor + 1 };

  const newest = snapshots[0];
  throw new ReplayRefused(
    `history no longer reaches back: ${gap}. ${describeOldest(oldest)}. ` +
      (newest
        ? `No snapshot in ${o.snapshotsDir} can start the rebuild (the newest, ${newest.path}: ${unusable(newest, history)}).`
        : `There is no snapshot${o.snapshotsDir ? ` in ${o.snapshotsDir}` : ""} to start from: take them with just snapshot, more often than history's reach.`),
  );
}

export function describeOldest(oldest: Landmark | undefined): string {
  if (!oldest) return `${writesStream} retains no command`;
  return `The oldest retained command is seq ${oldest.seq} (stored ${oldest.time.toISOString()}, operationId ${oldest.operationId ?? "none: it does not parse"})`;
}

async function historyGap(
  live: Sql | undefined,
  cut: Cut,
  oldest: Landmark | undefined,
): Promise<string | undefined> {
  const reasons: string[] = [];
  if (cut.first > 1) reasons.push(`${writesStream} was trimmed (it starts at seq ${cut.first})`);
  if (live) {
    // An untrimmed stream holds every command since it was created: rows older than that come
    // from another incarnation of WRITES. (Against its first command instead, a row of a second
    // producer whose clock runs a little behind would look older than history.) A trimmed one
    // holds history from its oldest command on.
    const [since, what] =
      cut.first === 1
        ? [cut.streamCreated, `${writesStream} was created`]
        : [oldest?.requestedAt ?? oldest?.time.toISOString(), "the oldest retained command"];
    const older = await rowsBefore(live, since);
    if (older.count > 0) {
      reasons.push(
        `the database holds ${older.count.toLocaleString("en-US")} row(s) made before ${since ? `${what} (${since})` : "any retained command"}, ` +
          `the oldest ${older.table} ${older.id} created ${older.createdAt}`,
      );
    }
  }
  return reasons.length > 0 ? reasons.join("; ") : undefined;
}

/** Rows created before `since` (all rows without it) that were not inserted outside the log. */
async function rowsBefore(
  live: Sql,
  since: string | undefined,
): Promise<{ count: number; table?: string; id?: string; createdAt?: string }> {
  const [{ audited }] = (await live`select to_regclass('audit_log') is not null as audited`) as unknown as [
    { audited: boolean },
  ];
  const notOutside = audited
    ? "and not exists (select 1 from audit_log a where a.new_id = t.id and a.op = 'INSERT')"
    : "";
  let count = 0;
  let oldest: { table: string; id: string; createdAt: string } | undefined;
  for (const table of tables) {
    const rows = await live.unsafe<{ id: string; created_at: string; n: number }[]>(
      `select t.id::text, ${isoTimestampSql("t.created_at")} as created_at, count(*) over ()::int as n
       from ${table} t where t.created_at < $1::timestamptz ${notOutside}
       order by t.created_at limit 1`,
      [since ?? "infinity"],
    );
    const r = rows[0];
    if (!r) continue;
    count += r.n;
    if (!oldest || r.created_at < oldest.createdAt) oldest = { table, id: r.id, createdAt: r.created_at };
  }
  return { count, ...oldest };
}
