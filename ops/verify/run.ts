// One run of the checker: start the owned stack, play the seeded workload and fault schedule for
// the given time, heal everything, let every client finish what it started (as a client would:
// poll its 202s, retry what it could not tell with the same key), wait for the writers to drain,
// then check the final state, the dead letters, the cache and memory, and print the summary.
// Loaded by cli.ts after it has chosen this run's ports and data folder (the stack's modules read
// them from the environment).
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Sql } from "postgres";
import { artifactsDir } from "../../services/infra/paths.ts";
import { color } from "../../services/infra/term.ts";
import type { OrderRow, UserRow } from "../../services/shared/rows.ts";
import { isoTimestampFormat } from "../../services/shared/timestamps.ts";
import { consumerName, dlqHeaders, dlqStream, tables, writesStream } from "../../services/shared/writes.ts";
import { stackDirs, stackPorts, stackReplicaPorts } from "../lib/stack-config.ts";
import { operatorNats, operatorSql } from "./access.ts";
import { cacheTargets, checkCache } from "./cache.ts";
import { checkFinal, type DeadLetter, snapshotOf, verdict } from "./checks.ts";
import { HttpClient } from "./client.ts";
import {
  describeFault,
  type Fault,
  type FaultKind,
  faultTargets,
  inject,
  makeSchedule,
  memoryWitnesses,
  selectFaults,
} from "./faults.ts";
import { Ledger, type Violation } from "./ledger.ts";
import { boundPerHour, type Growth, MemoryLog } from "./memory.ts";
import { runOperator } from "./operator.ts";
import type { VerifyOptions } from "./options.ts";
import { printSummary, progressLine, type RunFigures, recoveries } from "./report.ts";
import { Rng } from "./rng.ts";
import { OwnedStack } from "./stack.ts";
import { type ClientContext, drive, poll, runClient } from "./workload.ts";

const say = (line: string) => console.log(`${color.dim("[verify]")} ${line}`);

export async function verify(o: VerifyOptions): Promise<number> {
  const dirs = stackDirs();
  const ports = stackPorts();
  const memory = new MemoryLog();
  const started = performance.now();
  say(`starting the system in ${dirs.data} (edge on :${ports.edge})`);
  const stack = await OwnedStack.start({ say: (l) => say(l) });
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  let nc: NatsConnection | undefined;
  let sql: Sql | undefined;
  try {
    say(
      `system up in ${((performance.now() - started) / 1000).toFixed(0)}s: ${stack.procs.map((p) => p.name).join(", ")}`,
    );
    say(`links through proxies: ${stack.links.map((l) => l.name).join(", ")}`);
    nc = await operatorNats();
    sql = operatorSql(4);
    const figures = await play(o, stack, nc, sql, memory, () => interrupted);
    return await finish(o, stack, nc, sql, memory, figures);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await nc?.close().catch(() => {});
    await sql?.end({ timeout: 2 }).catch(() => {});
    say("stopping the system");
    await stack.stop();
  }
}

interface Played extends RunFigures {
  ledger: Ledger;
  t0: number;
  http: HttpClient;
}

async function play(
  o: VerifyOptions,
  stack: OwnedStack,
  nc: NatsConnection,
  sql: Sql,
  memory: MemoryLog,
  interrupted: () => boolean,
): Promise<Played> {
  const ports = stackPorts();
  const ledger = new Ledger();
  const t0 = performance.now();
  const now = () => Math.round(performance.now() - t0);
  const http = new HttpClient(`http://127.0.0.1:${ports.edge}`, t0);
  let stopping = false;
  const isStopping = () => stopping || interrupted() || now() >= o.durationMs;
  let tags = 0;
  const tag = () => `v${o.seed.toString(36)}-${(++tags).toString(36)}`;

  const targets = faultTargets(
    stack.procs.map((p) => p.name),
    stack.links.map((l) => l.name),
  );
  const schedule = makeSchedule(new Rng(o.seed, 1), weighLeaderKills(selectFaults(o.faults, targets)), {
    startMs: 10_000,
    endMs: o.durationMs - 5000,
  });
  say(
    `seed ${o.seed}: ${o.clients} clients for ${fmtDuration(o.durationMs)}, ${schedule.length} faults scheduled (${o.faults}), ${o.limits} limits`,
  );

  const injected: Fault[] = [];
  const faults = new AbortController();
  const player = (async () => {
    for (const f of schedule) {
      const wait = t0 + f.at - performance.now();
      if (wait > 0) await sleep(wait, undefined, { signal: faults.signal }).catch(() => {});
      if (faults.signal.aborted || isStopping()) return;
      injected.push(f);
      say(`${fmtDuration(now())} fault ${injected.length}: ${describeFault(f)}`);
      await inject(stack, f, faults.signal, { streamLeader: (s) => streamLeader(nc, s) });
      if (f.node)
        say(`${fmtDuration(now())} fault ${injected.length}: ${f.node} led ${f.target}; started again`);
    }
  })();

  const sampler = setInterval(() => {
    for (const p of stack.procs) {
      p.notice();
      const pid = p.pid;
      const rss = p.rss();
      if (pid && rss && !p.frozen) memory.add(p.name, { at: now(), pid, rss });
    }
  }, 10_000);

  const reportEvery = o.durationMs >= 30 * 60_000 ? 60_000 : 15_000;
  let lastViolations = 0;
  const progress = setInterval(() => {
    say(progressLine(now(), ledger, injected.length));
    for (const v of ledger.violations.slice(lastViolations))
      say(color.red(`violation: ${v.rule}: ${v.what}`));
    lastViolations = ledger.violations.length;
  }, reportEvery);

  const clients = Array.from({ length: o.clients }, (_, i) =>
    runClient(clientContext(http, ledger, new Rng(o.seed, 100 + i), i, isStopping, now, tag)),
  );
  const operator = runOperator({ nc, sql, ledger, rng: new Rng(o.seed, 2), stopping: isStopping, now, tag });
  try {
    await Promise.all([...clients, operator]);
  } finally {
    // A client or the operator that fails ends the run: the others stop at their next step.
    stopping = true;
    faults.abort();
    clearInterval(progress);
    clearInterval(sampler);
    await Promise.allSettled([...clients, operator, player]);
  }
  say(`${fmtDuration(now())} workload stopped: ${progressLine(now(), ledger, injected.length)}`);
  return { ledger, t0, http, injected, runMs: now(), interrupted: interrupted() };
}

function clientContext(
  http: HttpClient,
  ledger: Ledger,
  rng: Rng,
  client: number,
  stopping: () => boolean,
  now: () => number,
  tag: () => string,
): ClientContext {
  return { http, ledger, rng, client, stopping, now, tag };
}

async function finish(
  o: VerifyOptions,
  stack: OwnedStack,
  nc: NatsConnection,
  sql: Sql,
  memory: MemoryLog,
  played: Played,
): Promise<number> {
  const { ledger, http, t0 } = played;
  const now = () => Math.round(performance.now() - t0);
  const violations: Violation[] = [...ledger.violations];
  const notes: string[] = [];

  // Heal, then the system must come back on its own.
  stack.heal();
  const healedAt = performance.now();
  try {
    await stack.untilReady(180_000);
    say(`every process ready ${((performance.now() - healedAt) / 1000).toFixed(1)}s after healing`);
  } catch {
    violations.push({
      rule: "recovers",
      what: `not ready 180 s after the faults were healed: ${(await stack.notReady()).join(", ")}`,
    });
  }

  // Clients finish what they started: 202s polled to the end, what they could not tell retried.
  const settleUntil = now() + 120_000;
  const ctx = clientContext(
    http,
    ledger,
    new Rng(o.seed, 3),
    -1,
    () => now() > settleUntil,
    now,
    () => "end",
  );
  const open = ledger.attempts.filter((a) => a.id && !ledger.operatorOwned.has(a.id));
  const ambiguous = open.filter((a) => {
    const last = a.answers[a.answers.length - 1];
    return (
      a.keySent !== undefined && last !== undefined && last.status !== 202 && verdict(last) === "unknown"
    );
  });
  const accepted = open.filter(
    (a) => a.answers.some((x) => x.status === 202) && !isFinal(a.resolution?.status),
  );
  say(
    `settling: ${accepted.length} accepted writes to poll, ${ambiguous.length} unanswered writes to retry with their keys`,
  );
  await runPool(ambiguous, 8, (a) => drive(ctx, a, 6));
  await runPool(accepted, 8, (a) => poll(ctx, a, settleUntil));

  // Every command settled: nothing pending or unacknowledged, nothing held.
  const jsm = await jetstreamManager(nc, { timeout: 5000 });
  const drained = await waitFor(90_000, async () => {
    for (const t of tables) {
      const c = await jsm.consumers.info(writesStream, consumerName(t));
      if (c.num_pending + c.num_ack_pending > 0)
        return `${consumerName(t)}: ${c.num_pending} pending, ${c.num_ack_pending} unacknowledged`;
    }
    let held = 0;
    for (const c of stackReplicaPorts().consumers) held += await heldCommands(c.port);
    return held > 0 ? `${held} commands held by the consumers` : undefined;
  });
  if (drained) violations.push({ rule: "none-abandoned", what: `90 s after quiescence: ${drained}` });
  const quietAt = performance.now();

  // The cache, within a few seconds of quiescence.
  const ids: [string, "users" | "orders"][] = [];
  for (const m of ledger.manual) ids.push([m.id, m.table]);
  const read = [...ledger.readIds].slice(-2000);
  for (const r of read) ids.push(r);
  const cache = await checkCache(
    `http://127.0.0.1:${stackPorts().reader}`,
    cacheTargets(sql, ids),
    quietAt + 15_000,
  );
  violations.push(...cache.violations);
  say(
    `cache: ${cache.checked} entries read through the reader, ${cache.hits} served from Redis and compared with Postgres`,
  );

  // The final state.
  const users = await sql<UserRow[]>`
    select id, name, email, to_char(created_at at time zone 'UTC', ${isoTimestampFormat}) as created_at from users`;
  const orders = await sql<OrderRow[]>`
    select id, user_id, items, total::text as total,
      to_char(created_at at time zone 'UTC', ${isoTimestampFormat}) as created_at from orders`;
  const dlq = await deadLetters(nc);
  const operations = new Map<string, string>();
  for (const h of ledger.hand) {
    if (h.garbage || h.stored !== true) continue;
    const ans = await http.get(`/api/operations/${h.id}`);
    operations.set(
      h.id,
      ans.status === 200 ? String((ans.body as { status?: string }).status) : String(ans.status),
    );
  }
  const final = checkFinal({
    ledger,
    snapshot: snapshotOf(users, orders),
    dlq,
    tiny: o.limits === "tiny",
    operations,
  });
  violations.push(...final.violations);
  notes.push(...final.notes);

  const growth: Growth[] = [];
  for (const p of stack.procs) {
    const g = memory.growth(p.name, (n) => memoryWitnesses.test(n) && !/^edge/.test(n));
    if (!g) continue;
    growth.push(g);
    if (g.enforced && g.perHour >= boundPerHour) {
      violations.push({
        rule: "memory-bounded",
        what: `${g.name} grew ${g.perHour.toFixed(1)} %/h over ${g.minutes.toFixed(0)} min (${g.fromMiB.toFixed(0)} → ${g.toMiB.toFixed(0)} MiB)`,
      });
    }
  }

  const report = {
    seed: o.seed,
    options: o,
    runMs: played.runMs,
    faults: recoveries(ledger, played.injected).map((r) => ({ ...r.fault, writesAgainAfterMs: r.ms })),
    writes: Object.fromEntries(ledger.writeStatuses()),
    reads: Object.fromEntries(ledger.reads),
    rows: { users: users.length, orders: orders.length },
    deadLetters: dlq.length,
    cache: { checked: cache.checked, hits: cache.hits },
    memory: growth,
    notes,
    violations,
  };
  // Beside the logs, and where it outlives the data folder (removed after a run that passed).
  writeFileSync(join(stackDirs().data, "report.json"), JSON.stringify(report, null, 2));
  mkdirSync(join(artifactsDir, "verify"), { recursive: true });
  const reportFile = join(artifactsDir, "verify", `${o.seed}.json`);
  writeFileSync(reportFile, JSON.stringify(report, null, 2));
  printSummary({
    ...played,
    seed: o.seed,
    options: o,
    rows: { users: users.length, orders: orders.length },
    deadLetters: dlq.length,
    cache,
    growth,
    notes,
    violations,
    reportFile,
  });
  return violations.length ? 1 : 0;
}

/**
 * A cluster run is for its leader kills: among dozens of process and link faults a uniform pick
 * would rarely choose one, so they make up about a third of the schedule.
 */
function weighLeaderKills(pairs: [FaultKind, string][]): [FaultKind, string][] {
  const leaders = pairs.filter(([k]) => k === "leader");
  if (!leaders.length || leaders.length === pairs.length) return pairs;
  const copies = Math.ceil((pairs.length - leaders.length) / 2 / leaders.length);
  return [...pairs, ...Array.from({ length: copies }, () => leaders).flat()];
}

/** The server that leads `stream` now (undefined while it has none: an election). */
async function streamLeader(nc: NatsConnection, stream: string): Promise<string | undefined> {
  const jsm = await jetstreamManager(nc, { timeout: 5000 });
  return (await jsm.streams.info(stream)).cluster?.leader;
}

const isFinal = (s: string | undefined) => s === "committed" || s === "rejected" || s === "failed";

async function runPool<T>(items: T[], n: number, work: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: n }, async () => {
      for (let x = queue.shift(); x !== undefined; x = queue.shift()) await work(x);
    }),
  );
}

/** Polls `problem` (a description of what is still wrong, or undefined) until it is gone. */
async function waitFor(ms: number, problem: () => Promise<string | undefined>): Promise<string | undefined> {
  const deadline = performance.now() + ms;
  let last: string | undefined = "not checked";
  while (performance.now() < deadline) {
    last = await problem().catch((err) => `cannot tell (${(err as Error).message})`);
    if (!last) return undefined;
    await sleep(1000);
  }
  return last;
}

/** jpw_consumer_held summed over tables and causes. */
async function heldCommands(consumerPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${consumerPort}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(/^jpw_consumer_held(?:\{[^}]*\})? (\d+(?:\.\d+)?)$/gm)) n += Number(m[1]);
  return n;
}

async function deadLetters(nc: NatsConnection): Promise<DeadLetter[]> {
  const jsm = await jetstreamManager(nc, { timeout: 5000 });
  const { first_seq, last_seq, messages } = (await jsm.streams.info(dlqStream)).state;
  const out: DeadLetter[] = [];
  if (!messages) return out;
  for (let seq = first_seq; seq <= last_seq; seq++) {
    const m = await jsm.streams.getMessage(dlqStream, { seq }).catch(() => null);
    if (!m) continue;
    out.push({
      seq,
      ...(m.header?.get(dlqHeaders.operationId) ? { operationId: m.header.get(dlqHeaders.operationId) } : {}),
      ...(m.header?.get(dlqHeaders.reason) ? { reason: m.header.get(dlqHeaders.reason) } : {}),
      body: new TextDecoder().decode(m.data),
    });
  }
  return out;
}

export function fmtDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${String(m).padStart(2, "0")}m` : `${m}m${String(s % 60).padStart(2, "0")}s`;
}
