// Replay's two jobs, for the command line (ops/replay.ts) and the tests:
//   replayInto  rebuilds a database from the retained history (or a snapshot plus the history
//               after it) through the consumer's own code;
//   verify      does that into a scratch database, compares it with the live one row for row up
//               to the cut, and drops it.
// Both take their clients as parameters: the admin NATS connection and the live database as its
// owner; the rebuild itself connects as the consumer's role (target.ts).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { Sql } from "postgres";
import { readMigrations } from "../infra/migrate.ts";
import { type Comparison, compare } from "./compare.ts";
import { commandIdsAfter, type History, type ReadProgress, ReplayRefused, readHistory } from "./history.ts";
import { type RebuildProgress, type RebuildReport, rebuild } from "./rebuild.ts";
import { restoreSnapshot } from "./snapshot.ts";
import {
  databaseOf,
  dropDatabase,
  prepareTarget,
  rebuildConnection,
  sameDatabase,
  withDatabase,
} from "./target.ts";
import { type Plan, type PlanOptions, planReplay } from "./window.ts";

export interface Clients {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** The live database as its owner (undefined for --into when it cannot be reached). */
  live: Sql | undefined;
  liveUrl: string;
}

export interface RunOptions extends PlanOptions {
  /** Commands per statement. */
  batchSize: number;
  /** Where history is spooled while it is applied (a temp folder by default). */
  spoolDir?: string | undefined;
}

export interface ReplayEvents {
  planned?(plan: Plan): void;
  reading?(p: ReadProgress): void;
  read?(h: History, plan: Plan): void;
  applying?(p: RebuildProgress): void;
  /** The scratch database verify is about to create (to drop it if the process is stopped). */
  scratch?(url: string): void;
  line?(text: string): void;
}

export interface Replayed {
  plan: Plan;
  report: RebuildReport;
}

export async function replayInto(
  c: Clients,
  targetUrl: string,
  o: RunOptions & { force: boolean },
  ev: ReplayEvents = {},
): Promise<Replayed> {
  if (sameDatabase(targetUrl, c.liveUrl)) {
    throw new ReplayRefused(
      `${databaseOf(targetUrl)} is the live database: replay rebuilds into another one (--into <new name>)`,
    );
  }
  const plan = await planReplay(c.jsm, c.live, o);
  ev.planned?.(plan);
  await prepareTarget(targetUrl, { force: o.force, log: ev.line });
  const sql = rebuildConnection(targetUrl);
  try {
    return { plan, report: await rebuildFrom(c, sql, plan, o, ev) };
  } finally {
    await sql.end();
  }
}

export interface Verified extends Replayed {
  comparison: Comparison;
  seconds: number;
}

export async function verify(c: Clients, o: RunOptions, ev: ReplayEvents = {}): Promise<Verified> {
  const started = performance.now();
  const live = c.live;
  if (!live) throw new ReplayRefused("verify needs the live database");
  await sameMigrations(live);
  const plan = await planReplay(c.jsm, live, o);
  ev.planned?.(plan);
  const scratch = withDatabase(c.liveUrl, `jpw_verify_${process.pid}_${Date.now().toString(36)}`);
  ev.scratch?.(scratch);
  try {
    await prepareTarget(scratch, { force: false });
    const sql = rebuildConnection(scratch);
    try {
      const report = await rebuildFrom(c, sql, plan, o, ev);
      const comparison = await compare(live, sql, () => commandIdsAfter(c.js, c.jsm, plan.cut.cut));
      return { plan, report, comparison, seconds: (performance.now() - started) / 1000 };
    } finally {
      await sql.end();
    }
  } finally {
    await dropDatabase(scratch);
  }
}

/** The snapshot (if any), then the history after it, into `sql`'s database. */
async function rebuildFrom(
  c: Clients,
  sql: Sql,
  plan: Plan,
  o: RunOptions,
  ev: ReplayEvents,
): Promise<RebuildReport> {
  if (plan.snapshot) await restoreSnapshot(sql, plan.snapshot);
  const dir = await mkdtemp(join(o.spoolDir ?? tmpdir(), "jpw-replay-"));
  try {
    const history = await readHistory(c.js, c.jsm, {
      from: plan.from,
      cut: plan.cut.cut,
      last: plan.cut.last,
      dir,
      onProgress: ev.reading,
    });
    try {
      ev.read?.(history, plan);
      return await rebuild(sql, history, { batchSize: o.batchSize, onProgress: ev.applying });
    } finally {
      await history.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The rebuild is migrated to this checkout's migrations; the live database must have the same. */
async function sameMigrations(live: Sql): Promise<void> {
  const shipped = (await readMigrations()).map((m) => m.file);
  const applied = (await live<{ file: string }[]>`select file from schema_migrations order by version`).map(
    (r) => r.file,
  );
  const missing = shipped.filter((f) => !applied.includes(f));
  const unknown = applied.filter((f) => !shipped.includes(f));
  if (missing.length > 0) {
    throw new ReplayRefused(
      `the live database lacks migration(s) ${missing.join(", ")}: run just migrate first (the rebuild gets every migration of this checkout)`,
    );
  }
  if (unknown.length > 0) {
    throw new ReplayRefused(
      `the live database has migration(s) this checkout does not know (${unknown.join(", ")}): verify from the release that applied them`,
    );
  }
}
