// What replay tells a person: the window it covers, its progress, how each command ended, and
// verify's differences. Plain lines; ops/replay.ts prints them.
import { consumerName, type Table, tables, writesStream } from "../shared/writes.ts";
import type { Comparison, Difference, OutsideChange } from "./compare.ts";
import type { History, ReadProgress } from "./history.ts";
import type { RebuildProgress, RebuildReport, Tally } from "./rebuild.ts";
import type { Plan } from "./window.ts";

const n = (x: number) => x.toLocaleString("en-US");
/** "1 command", "2 commands" */
const count = (x: number, noun: string) => `${n(x)} ${noun}${x === 1 ? "" : "s"}`;
const at = (d: Date | undefined) => (d ? ` (${d.toISOString()})` : "");

/** Before reading: where history starts and where it is cut. */
export function describePlan(p: Plan): string[] {
  const { cut } = p;
  const floors = tables.map((t) => `${consumerName(t)} ${cut.floors[t]}`).join(", ");
  const until =
    cut.cut === cut.floor ? "the writers' ack floor" : `--until (the writers' ack floor is ${cut.floor})`;
  const lines = [
    `history: ${writesStream} from seq ${cut.first}${at(p.oldest?.time)} to the cut at seq ${cut.cut}${at(p.atCut?.time)}, ${until} (${floors}); the stream ends at ${cut.last}`,
  ];
  if (p.snapshot) {
    const m = p.snapshot.manifest;
    lines.push(
      `starting from the snapshot ${p.snapshot.path} (taken ${m.takenAt} at floor ${m.floor}: ${n(m.rows.users)} users, ${n(m.rows.orders)} orders)${p.gap ? `, because ${p.gap}` : ""}; history from seq ${p.from}`,
    );
  }
  return lines;
}

/** After reading: what the window holds. */
export function describeHistory(h: History): string[] {
  const users = h.commands.users.count;
  const orders = h.commands.orders.count;
  const lines = [
    `window: seq ${h.from}${at(h.fromTime)} to ${h.cut}${at(h.cutTime)}: ${count(users + orders, "command")} (${n(users)} users, ${n(orders)} orders) and ${count(h.decisionEvents, "decision")}; ${count(h.tailCommands, "command")} after the cut not replayed`,
  ];
  if (h.removed.length > 0) {
    lines.push(
      `removed from history: ${ranges(h.removed)} (${n(h.removed.length)} message(s): what they held cannot be replayed)`,
    );
  }
  if (h.unreadable.length > 0)
    lines.push(`decision events that do not parse (ignored): ${ranges(h.unreadable)}`);
  if (h.other > 0) lines.push(`${n(h.other)} message(s) on other writes.> subjects (nothing applies them)`);
  return lines;
}

export function describeReading(p: ReadProgress): string {
  return `reading ${writesStream}: seq ${p.seq} of ${p.last}, ${n(p.messages)} messages`;
}

/** A progress line: done, rate since the start, and the time left at that rate. */
export function describeApplying(p: RebuildProgress, elapsedSeconds: number): string {
  const rate = elapsedSeconds > 0 ? p.done / elapsedSeconds : 0;
  const left = rate > 0 ? Math.ceil((p.total - p.done) / rate) : undefined;
  const pct = p.total > 0 ? Math.floor((100 * p.done) / p.total) : 100;
  return `applying: ${n(p.done)} of ${n(p.total)} commands (${pct}%), ${p.table} at seq ${p.seq}, ${n(Math.round(rate))} commands/s${left !== undefined ? `, ETA ${left}s` : ""}`;
}

export function describeReport(r: RebuildReport): string[] {
  const lines = tables.map((t) => `${t}: ${tallyLine(r.tables[t])}`);
  for (const p of r.pulledForward) {
    lines.push(
      `pulled forward: the create of user ${p.operationId} (seq ${p.seq}, after the cut), committed live before an order within the window that needs it`,
    );
  }
  const rate = r.seconds > 0 ? Math.round(r.commands / r.seconds) : r.commands;
  lines.push(`${n(r.commands)} commands replayed in ${r.seconds.toFixed(1)}s (${n(rate)} commands/s)`);
  if (r.failures.length === 0)
    lines.push("faithful: every command without a decision committed (or came back duplicate)");
  else {
    lines.push(`fidelity failures: ${n(r.failures.length)} command(s) without a decision did not commit`);
    for (const f of r.failures.slice(0, 50)) {
      lines.push(`  seq ${f.seq} ${f.table} ${f.operationId ?? "(no operationId)"}: ${f.problem}`);
    }
    if (r.failures.length > 50) lines.push(`  … and ${n(r.failures.length - 50)} more`);
  }
  return lines;
}

function tallyLine(t: Tally): string {
  const decided = Object.entries(t.decided).map(([k, v]) => `${n(v)} ${k}`);
  return (
    `${n(t.committed)} committed, ${n(t.duplicate)} duplicate` +
    (decided.length > 0 ? `; not applied, decided live: ${decided.join(", ")}` : "") +
    (t.failures > 0 ? `; ${n(t.failures)} fidelity failure(s)` : "")
  );
}

export function describeComparison(c: Comparison): string[] {
  const lines = tables.map(
    (t: Table) => `${t}: ${n(c.compared[t])} rows compared, ${n(c.afterCut[t])} after the cut (not compared)`,
  );
  lines.push(`compared in ${c.seconds.toFixed(1)}s`);
  if (!c.audited)
    lines.push("the live database has no audit_log (migration 0003): no difference can be told apart");
  if (c.outOfLog.length > 0) {
    lines.push(`changed outside the log (listed, not failures): ${n(c.outOfLog.length)}`);
    lines.push(...capped(c.outOfLog, outside));
  }
  if (c.failures.length > 0) {
    lines.push(`failures: ${n(c.failures.length)} difference(s) the log does not explain`);
    lines.push(...capped(c.failures, failure));
  }
  return lines;
}

function capped(ds: Difference[], line: (d: Difference) => string, max = 50): string[] {
  const out = ds.slice(0, max).map((d) => `  ${line(d)}`);
  if (ds.length > max) out.push(`  … and ${n(ds.length - max)} more`);
  return out;
}

const verbs: Record<OutsideChange["op"], string> = {
  INSERT: "inserted",
  UPDATE: "updated",
  DELETE: "deleted",
  TRUNCATE: "truncated",
};

function outside(d: Difference): string {
  const who = d.outside
    .map((c) => `${verbs[c.op]} by ${c.role}${c.application ? ` (${c.application})` : ""} at ${c.at}`)
    .join(", then ");
  return `${d.table} ${d.id}: changed outside the log: ${who}${fields(d)}`;
}

function failure(d: Difference): string {
  const what = {
    changed: "differs from what its command made",
    extra: "no command in the window made it",
    missing: "missing from the database (its command committed in the rebuild)",
  }[d.kind];
  return `${d.table} ${d.id}: ${what}, and no change outside the log was recorded${fields(d)}`;
}

/** For a changed row, each field as rebuilt → as live. */
function fields(d: Difference): string {
  if (d.kind !== "changed" || !d.live || !d.rebuilt) return "";
  const keys = [...new Set([...Object.keys(d.rebuilt), ...Object.keys(d.live)])];
  const changed = keys.filter((k) => JSON.stringify(d.rebuilt![k]) !== JSON.stringify(d.live![k]));
  return `: ${changed.map((k) => `${k} ${JSON.stringify(d.rebuilt![k])} → ${JSON.stringify(d.live![k])}`).join(", ")}`;
}

/** 3, 5-9, 12 */
function ranges(seqs: number[]): string {
  const out: string[] = [];
  for (let i = 0; i < seqs.length && out.length < 20; ) {
    let j = i;
    while (j + 1 < seqs.length && seqs[j + 1] === seqs[j]! + 1) j++;
    out.push(i === j ? `${seqs[i]}` : `${seqs[i]}-${seqs[j]}`);
    i = j + 1;
  }
  return `seq ${out.join(", ")}${out.length === 20 ? ", …" : ""}`;
}
