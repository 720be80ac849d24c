// What the checker prints: a progress line while it runs, and the summary table at the end, with
// every violation's seed and operation.
import { inspect } from "node:util";
import { color } from "../../services/infra/term.ts";
import type { CacheCheck } from "./cache.ts";
import { type Fault, healedAt } from "./faults.ts";
import type { Ledger, Violation } from "./ledger.ts";
import type { Growth } from "./memory.ts";
import type { VerifyOptions } from "./options.ts";

export interface RunFigures {
  injected: Fault[];
  runMs: number;
  interrupted: boolean;
}

const fmt = (ms: number) => {
  const s = Math.floor(ms / 1000);
  return s >= 3600
    ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`
    : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
};

function byClass(ledger: Ledger): string {
  const classes = new Map<string, number>();
  for (const [k, n] of ledger.writeStatuses()) {
    const c = k === "no answer" ? "no answer" : k.startsWith("503") ? k : k.replace(/^(\d)\d\d.*/, "$1xx");
    const key = ["201", "200", "202"].includes(k) ? k : c;
    classes.set(key, (classes.get(key) ?? 0) + n);
  }
  return [...classes].map(([k, n]) => `${k} ${n}`).join(" · ");
}

export function progressLine(now: number, ledger: Ledger, faults: number): string {
  const n = ledger.requests();
  return `${fmt(now)}  ${n} requests (${(n / Math.max(1, now / 1000)).toFixed(0)}/s)  writes: ${byClass(ledger)}  faults ${faults}  violations ${ledger.violations.length}`;
}

/**
 * For each fault, how long after it was healed (a kill: after the signal) the first write was
 * confirmed (201): how long writes stopped flowing, as a client sees it. After a leader kill only
 * writes sent after the kill count: one sent before may still be confirmed by the old leader.
 */
export function recoveries(ledger: Ledger, faults: Fault[]): { fault: Fault; ms: number }[] {
  const confirmed = ledger.attempts.flatMap((a) => a.answers.filter((x) => x.status === 201));
  const commits = confirmed.map((x) => x.at + x.ms).sort((a, b) => a - b);
  const out: { fault: Fault; ms: number }[] = [];
  for (const fault of faults) {
    const end = healedAt(fault);
    if (fault.kind === "leader") {
      const after = confirmed.filter((x) => x.at >= end).map((x) => x.at + x.ms);
      if (after.length) out.push({ fault, ms: Math.min(...after) - end });
      continue;
    }
    let lo = 0;
    let hi = commits.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (commits[mid]! < end) lo = mid + 1;
      else hi = mid;
    }
    if (lo < commits.length) out.push({ fault, ms: commits[lo]! - end });
  }
  return out;
}

export interface Summary extends RunFigures {
  seed: number;
  options: VerifyOptions;
  ledger: Ledger;
  rows: { users: number; orders: number };
  deadLetters: number;
  cache: CacheCheck;
  growth: Growth[];
  notes: string[];
  violations: Violation[];
  reportFile: string;
}

export function printSummary(s: Summary): void {
  const { ledger } = s;
  const line = (k: string, v: string) => console.log(`  ${k.padEnd(22)} ${v}`);
  const rerun = `just verify --seed ${s.seed} --duration ${Math.round(s.options.durationMs / 1000)}s --clients ${s.options.clients} --faults ${s.options.faults} --limits ${s.options.limits}${s.options.cluster ? " --cluster" : ""}`;
  console.log(`\n${color.bold("summary")}`);
  line("seed", `${s.seed}   (${rerun})`);
  line("ran", `${fmt(s.runMs)}${s.interrupted ? " (interrupted)" : ""} with ${s.options.clients} clients`);
  line(
    "requests",
    `${ledger.requests()} (${ledger.attempts.length} writes attempted, ${ledger.hand.length} commands by hand, ${ledger.manual.length} SQL changes)`,
  );
  const writes = [...ledger.writeStatuses()].sort((a, b) => b[1] - a[1]);
  line("write answers", writes.map(([k, n]) => `${k}: ${n}`).join(", ") || "none");
  line(
    "read answers",
    [...ledger.reads].map(([k, n]) => `${k === 0 ? "no answer" : k}: ${n}`).join(", ") || "none",
  );
  const kinds = new Map<string, number>();
  for (const f of s.injected)
    kinds.set(`${f.kind} ${f.target}`, (kinds.get(`${f.kind} ${f.target}`) ?? 0) + 1);
  line(
    "faults injected",
    `${s.injected.length}${kinds.size ? `: ${[...kinds].map(([k, n]) => `${k} ×${n}`).join(", ")}` : ""}`,
  );
  const rec = recoveries(ledger, s.injected).sort((a, b) => b.ms - a.ms);
  if (rec.length) {
    const p50 = [...rec].sort((a, b) => a.ms - b.ms)[Math.floor(rec.length / 2)]!.ms;
    line(
      "writes flowing again",
      `p50 ${(p50 / 1000).toFixed(1)}s after a fault healed; slowest: ${rec
        .slice(0, 3)
        .map((r) => `${r.fault.kind} ${r.fault.target} ${(r.ms / 1000).toFixed(1)}s`)
        .join(", ")}`,
    );
  }
  // Every leader kill on its own line: the cluster's failover time is the figure a cluster run is for.
  const leaders = recoveries(ledger, s.injected).filter((r) => r.fault.kind === "leader");
  if (leaders.length) {
    line(
      "after leader kills",
      leaders
        .map((r) => `${(r.ms / 1000).toFixed(1)}s${r.fault.node ? ` (${r.fault.node})` : ""}`)
        .join(", "),
    );
  }
  line("final rows", `${s.rows.users} users, ${s.rows.orders} orders; ${s.deadLetters} dead letters`);
  line("cache", `${s.cache.checked} entries read, ${s.cache.hits} hits compared with Postgres`);
  for (const g of s.growth) {
    line(
      `memory ${g.name}`,
      `${g.fromMiB.toFixed(0)} → ${g.toMiB.toFixed(0)} MiB over ${g.minutes.toFixed(0)} min (${g.perHour >= 0 ? "+" : ""}${g.perHour.toFixed(1)} %/h${g.enforced ? ", held to < 10 %/h" : ", reported only"})`,
    );
  }
  for (const n of s.notes.slice(0, 10)) line("note", n);
  if (s.notes.length > 10) line("", `… ${s.notes.length - 10} more notes in ${s.reportFile}`);
  const rules = new Map<string, number>();
  for (const v of s.violations) rules.set(v.rule, (rules.get(v.rule) ?? 0) + 1);
  line(
    "violations",
    s.violations.length
      ? color.red(`${s.violations.length}: ${[...rules].map(([r, n]) => `${r} ×${n}`).join(", ")}`)
      : color.green("none"),
  );
  line("report", s.reportFile);
  for (const [i, v] of s.violations.slice(0, 20).entries()) {
    console.log(`\n${color.red(`violation ${i + 1}`)} [${v.rule}] ${v.what}`);
    if (v.detail !== undefined)
      console.log(inspect(v.detail, { depth: 6, colors: false, breakLength: 120 }).replace(/^/gm, "    "));
  }
  if (s.violations.length > 20) console.log(`\n… ${s.violations.length - 20} more in ${s.reportFile}`);
  console.log(
    s.violations.length
      ? color.red(`\nverify: ${s.violations.length} violations with seed ${s.seed}`)
      : color.green(`\nverify: no violations with seed ${s.seed}`),
  );
}
