// `just bench system` (entry: system.ts, which chose this stack's data folder and ports).
//
// The system: the stack exactly as `just up -d` starts it (ops/stack.ts, the same process
// definitions and configuration), in its own data folder and ports. The baseline: a direct-insert
// service (baseline-service.ts: node:http adapter + postgres.js, one INSERT per request) into a table
// of its own database in the same Postgres cluster, which no publication covers (the CDC side does
// no work for it), behind a Caddy with the same generated Caddyfile whose write upstream is the
// baseline. The whole system keeps running during the baseline's rounds.
//
// Rounds alternate (system, baseline, system, ...): wrk with post-users.lua through each edge. For
// both: req/s, p50, p99, and a single client's p50 (sequential requests, alternating between the
// two). For the system: commit → key invalidated (the reader's invalidation feed carries each
// change's latency), the consumers' backlogs (NATS monitoring) sampled every second (a backlog that
// grows without bound fails the run), and CPU µs per write per process tree from /proc, over the
// round and the drain of its CDC tail. Prints a table, writes artifacts/bench/system.json and ends
// with one line:
//   system: throughput ratio R, p99 ratio Q, single-client p50 P ms, cdc p99 under load C ms
import { spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { migrate } from "../../services/infra/migrate.ts";
import { artifactsDir, root } from "../../services/infra/paths.ts";
import { until } from "../../services/infra/until.ts";
import type { InvalidationEvent } from "../../services/shared/invalidation.ts";
import { startEdge } from "../../services/testing/edge.ts";
import { startService } from "../../services/testing/service.ts";
import { stackSecrets } from "../lib/admin.ts";
import { processTree } from "../lib/procfs.ts";
import { localUrls, stackDirs, stackPorts } from "../lib/stack-config.ts";
import { stackProcs } from "../lib/stack-procs.ts";
import {
  cpuSeconds,
  latencySummary,
  loadAverage,
  machineCpuSeconds,
  percentile,
  reapedChildrenCpuSeconds,
  round,
  runWrk,
  type SequentialTimes,
  sequentialPosts,
  summarizeProfile,
  summarizeWrites,
  type WriteWrkResult,
  writeArtifact,
} from "./lib.ts";
import { readEvents, summarize } from "./read-lib.ts";

export interface SystemBenchOptions {
  durationS: number;
  connections: number;
  rounds: number;
  warmupS: number;
  single: number;
  keep: boolean;
  profile: boolean;
  dataDir: string;
}

const say = (line: string) => process.stderr.write(`bench: ${line}\n`);
const script = join(root, "ops", "bench", "post-users.lua");
const baselineDatabase = "bench_baseline";
/** Commit → invalidated, p99 under the full write load; and the other targets of issue #11. */
const targets = { throughputRatio: 0.6, p99Ratio: 2, singleClientP50Ms: 1.2, cdcP99Ms: 100 };

/** Consumers whose backlog is watched: stream/consumer as the NATS monitoring endpoint names them. */
type Backlogs = Record<string, number>;

export async function runSystemBench(o: SystemBenchOptions): Promise<void> {
  const started = new Date();
  const load = [loadAverage()];
  const stackEnv: NodeJS.ProcessEnv = { ...process.env };
  const profileDir = join(artifactsDir, "bench", "profiles", "system");
  if (o.profile) {
    rmSync(profileDir, { recursive: true, force: true });
    mkdirSync(profileDir, { recursive: true });
    stackEnv.JPW_NODE_ARGS = `--cpu-prof --cpu-prof-dir=${profileDir}`;
  }
  // The stack's own output goes to stderr: stdout is the benchmark's report.
  const stackCli = (command: string[]) =>
    spawnSync(process.execPath, ["--import", "tsx", join(root, "ops", "stack.ts"), ...command], {
      cwd: root,
      env: stackEnv,
      stdio: ["ignore", 2, 2],
    });
  let stackRunning = false;
  const stopStack = () => {
    if (!stackRunning) return;
    stackRunning = false;
    say("stopping the stack (just down)");
    stackCli(["down"]);
    const logs = join(artifactsDir, "bench", "system-logs");
    rmSync(logs, { recursive: true, force: true });
    if (existsSync(stackDirs().logs)) cpSync(stackDirs().logs, logs, { recursive: true });
    if (!o.keep) rmSync(o.dataDir, { recursive: true, force: true });
  };
  // Ctrl-C, or any failure: the detached stack must not outlive the benchmark.
  process.once("exit", stopStack);

  say(`starting the stack as \`just up -d\` does, in ${o.dataDir} (the UI build and a JVM start: a minute)`);
  stackRunning = true;
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(root, "ops", "stack.ts"), "up", "-d"], {
      cwd: root,
      env: stackEnv,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const keep = (d: Buffer) => {
      out += d;
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve() : reject(new Error(`just up -d failed (exit ${code}):\n${out.slice(-4000)}`)),
    );
  });
  const ports = stackPorts();
  // The URLs with the stack's passwords (generated in its data folder when it first started).
  const urls = localUrls(stackSecrets());
  const edgeUrl = `http://127.0.0.1:${ports.edge}`;
  const readerUrl = `http://127.0.0.1:${ports.reader}`;
  const procNames = (await stackProcs()).map((p) => p.name);
  say(`stack up: ${procNames.join(", ")}; edge ${edgeUrl}`);

  say(`baseline: database ${baselineDatabase} in the same cluster (migrated, no publication)`);
  await prepareBaselineDatabase(urls.adminDatabaseUrl);
  await using baseline = await startService({
    entry: "ops/bench/baseline-service.ts",
    name: "baseline",
    env: { LOG_LEVEL: "info", DATABASE_URL: inDatabase(urls.writerDatabaseUrl, baselineDatabase) },
  });
  await using baselineEdge = await startEdge({
    producerUrl: baseline.url,
    readerUrl,
    webRoot: join(root, "web", "dist"),
  });

  // Every invalidation the reader applies, with its commit → applied latency.
  const feed = new AbortController();
  let collecting: { latencyMs: number[]; creates: number } | undefined;
  await readEvents(
    `${readerUrl}/api/events`,
    (data) => {
      const e = data as unknown as InvalidationEvent;
      if (!collecting || e.table !== "users" || e.op !== "c") return;
      collecting.creates++;
      if (typeof e.latencyMs === "number") collecting.latencyMs.push(e.latencyMs);
    },
    feed.signal,
  );

  const monitorUrl = urls.natsMonitorUrl;
  const backlogs = async (): Promise<Backlogs> => {
    const res = await fetch(`${monitorUrl}/jsz?consumers=true`);
    const body = (await res.json()) as {
      account_details?: {
        stream_detail?: {
          name: string;
          consumer_detail?: { name: string; num_pending: number; num_ack_pending: number }[];
        }[];
      }[];
    };
    const out: Backlogs = {};
    for (const a of body.account_details ?? [])
      for (const s of a.stream_detail ?? [])
        for (const c of s.consumer_detail ?? [])
          out[`${s.name}/${c.name}`] = c.num_pending + c.num_ack_pending;
    return out;
  };

  // CPU of each process of the stack: its supervisor's descendants (the postmaster and every
  // backend, the JVM, ...), without the supervisor, which is counted apart.
  const pidDir = stackDirs().run;
  const supervisorPid = (name: string) => {
    try {
      return Number(readFileSync(join(pidDir, `${name}.pid`), "utf8").trim()) || undefined;
    } catch {
      return undefined;
    }
  };
  const sampleCpu = (): Record<string, number> => {
    const out: Record<string, number> = { supervisors: 0 };
    for (const name of procNames) {
      const sup = supervisorPid(name);
      if (!sup) continue;
      const own = cpuSeconds(sup);
      out[name] = processTree(sup).reduce((sum, p) => sum + cpuSeconds(p), 0) - own;
      out.supervisors! += own;
    }
    for (const [name, pid] of [
      ["baseline", baseline.proc.pid],
      ["baseline edge", baselineEdge.pid],
    ] as const) {
      out[name] = pid ? processTree(pid).reduce((sum, p) => sum + cpuSeconds(p), 0) : 0;
    }
    out.wrk = reapedChildrenCpuSeconds();
    const self = process.cpuUsage();
    out["bench (feed, probes)"] = (self.user + self.system) / 1e6;
    const m = machineCpuSeconds();
    out["machine busy"] = m.busy;
    out["machine total"] = m.total;
    return out;
  };
  const cpuDelta = (a: Record<string, number>, b: Record<string, number>) =>
    Object.fromEntries(Object.keys(b).map((k) => [k, (b[k] ?? 0) - (a[k] ?? 0)]));

  let runId = 0;
  const wrk = (url: string, seconds: number) =>
    runWrk<WriteWrkResult>({
      url,
      script,
      connections: o.connections,
      durationS: seconds,
      args: [`r${++runId}`],
    });

  /** After the load stops: every create it made invalidated, and no consumer holding anything. */
  const drain = async (accepted: number) => {
    const t0 = performance.now();
    try {
      await until(
        async () =>
          (collecting?.creates ?? 0) >= accepted && Object.values(await backlogs()).every((n) => n === 0),
        60_000,
        "the CDC tail to drain",
        { intervalMs: 100 },
      );
      return { drained: true, ms: Math.round(performance.now() - t0) };
    } catch {
      return { drained: false, ms: Math.round(performance.now() - t0) };
    }
  };

  interface SystemRound {
    wrk: WriteWrkResult;
    cpu: Record<string, number>;
    lagMs: number[];
    creates: number;
    backlogSamples: { atS: number; backlogs: Backlogs }[];
    backlogAtEnd: Backlogs;
    drain: { drained: boolean; ms: number };
    load: [number, number, number];
  }
  interface BaselineRound {
    wrk: WriteWrkResult;
    cpu: Record<string, number>;
    load: [number, number, number];
  }

  const systemRound = async (seconds: number): Promise<SystemRound> => {
    collecting = { latencyMs: [], creates: 0 };
    const samples: SystemRound["backlogSamples"] = [];
    const t0 = performance.now();
    const sampler = setInterval(() => {
      const atS = (performance.now() - t0) / 1000;
      void backlogs()
        .then((b) => samples.push({ atS, backlogs: b }))
        .catch(() => {});
    }, 1000);
    const before = sampleCpu();
    const result = await wrk(edgeUrl, seconds);
    clearInterval(sampler);
    const backlogAtEnd = await backlogs();
    const drained = await drain(result.s201 + result.s202);
    const after = sampleCpu();
    const c = collecting;
    collecting = undefined;
    return {
      wrk: result,
      cpu: cpuDelta(before, after),
      lagMs: c.latencyMs,
      creates: c.creates,
      backlogSamples: samples,
      backlogAtEnd,
      drain: drained,
      load: loadAverage(),
    };
  };
  const baselineRound = async (seconds: number): Promise<BaselineRound> => {
    const before = sampleCpu();
    const result = await wrk(baselineEdge.url, seconds);
    const after = sampleCpu();
    return { wrk: result, cpu: cpuDelta(before, after), load: loadAverage() };
  };

  if (o.warmupS > 0) {
    say(`warming up: ${o.warmupS} s each (the JVM's JIT, the services' pools)`);
    await systemRound(o.warmupS);
    await baselineRound(o.warmupS);
  }
  const systemRuns: SystemRound[] = [];
  const baselineRuns: BaselineRound[] = [];
  for (let r = 1; r <= o.rounds; r++) {
    say(`round ${r}/${o.rounds}: system through the edge, ${o.connections} connections, ${o.durationS} s`);
    const s = await systemRound(o.durationS);
    systemRuns.push(s);
    say(
      `  ${Math.round(s.wrk.rps)} req/s, p99 ${(s.wrk.p99Us / 1000).toFixed(1)} ms; cdc p99 ${round(
        percentile(
          [...s.lagMs].sort((a, b) => a - b),
          99,
        ),
        1,
      )} ms; ` +
        `backlogs at the end ${JSON.stringify(s.backlogAtEnd)}, drained in ${s.drain.ms} ms; load ${s.load.join(" ")}`,
    );
    say(`round ${r}/${o.rounds}: baseline through its edge, ${o.connections} connections, ${o.durationS} s`);
    const b = await baselineRound(o.durationS);
    baselineRuns.push(b);
    say(
      `  ${Math.round(b.wrk.rps)} req/s, p99 ${(b.wrk.p99Us / 1000).toFixed(1)} ms; load ${b.load.join(" ")}`,
    );
  }
  load.push(loadAverage());

  say(`single client: ${o.single} sequential writes each, alternating in tens`);
  const singles = { system: [] as SequentialTimes[], baseline: [] as SequentialTimes[] };
  for (let done = 0; done < o.single; done += 10) {
    const n = Math.min(10, o.single - done);
    for (const [kind, url] of [
      ["system", edgeUrl],
      ["baseline", baselineEdge.url],
    ] as const) {
      singles[kind].push(
        await sequentialPosts({
          url,
          path: "/api/users",
          count: n,
          body: (i) =>
            JSON.stringify({ name: `Single ${done + i}`, email: `${kind}.${done + i}@single.example` }),
          headers: () => ({ "idempotency-key": crypto.randomUUID() }),
        }),
      );
    }
  }
  const single = { system: latencySummary(singles.system), baseline: latencySummary(singles.baseline) };
  load.push(loadAverage());

  feed.abort();
  await baselineEdge.stop();
  await baseline.stop();
  stopStack();

  // Profiles are written when the services exit (at `just down`); each file name carries its pid.
  const profiles = o.profile ? summarizeProfiles(profileDir) : undefined;

  // --- the figures ---------------------------------------------------------------------------
  const sys = summarizeWrites(systemRuns.map((r) => r.wrk));
  const base = summarizeWrites(baselineRuns.map((r) => r.wrk));
  const writes = (runs: { wrk: WriteWrkResult }[]) => runs.reduce((n, r) => n + r.wrk.s201 + r.wrk.s202, 0);
  const perWriteUs = (runs: { wrk: WriteWrkResult; cpu: Record<string, number> }[], keys: string[]) => {
    const n = writes(runs) || 1;
    return Object.fromEntries(
      keys.map((k) => [k, round((runs.reduce((s, r) => s + (r.cpu[k] ?? 0), 0) / n) * 1e6, 0)]),
    );
  };
  const systemKeys = [...procNames, "supervisors"];
  const systemCpu = perWriteUs(systemRuns, systemKeys);
  const systemCpuTotal = Object.values(systemCpu).reduce((a, b) => a + b, 0);
  const baselineCpu = perWriteUs(baselineRuns, ["baseline edge", "baseline", "postgres"]);
  const baselineCpuTotal = Object.values(baselineCpu).reduce((a, b) => a + b, 0);
  // The system's other processes while the baseline ran (keeper, audits, heartbeats): context only.
  const idleSystem = perWriteUs(
    baselineRuns,
    systemKeys.filter((k) => k !== "postgres"),
  );
  const machine = (runs: { cpu: Record<string, number> }[], ours: string[]) =>
    runs.map((r) => {
      const wall = (r.cpu["machine total"] ?? 0) / cpus().length;
      const busy = r.cpu["machine busy"] ?? 0;
      const mine = ours.reduce((s, k) => s + (r.cpu[k] ?? 0), 0);
      return {
        busyCores: round(busy / (wall || 1), 2),
        outsideThisBenchCores: round(Math.max(0, busy - mine) / (wall || 1), 2),
      };
    });
  const everything = [...systemKeys, "baseline", "baseline edge", "wrk", "bench (feed, probes)"];

  const lag = summarize(systemRuns.flatMap((r) => r.lagMs));
  const growth = backlogGrowth(systemRuns, o.durationS);
  const throughputRatio = round(sys.rps / base.rps, 2);
  const p99Ratio = round(sys.p99Ms / base.p99Ms, 2);
  const singleP50 = round(single.system.p50Ms, 2);
  const met = {
    throughputRatio: throughputRatio >= targets.throughputRatio,
    p99Ratio: p99Ratio <= targets.p99Ratio,
    singleClientP50Ms: singleP50 <= targets.singleClientP50Ms,
    cdcP99Ms: lag.p99 <= targets.cdcP99Ms && growth.length === 0,
  };

  const result = {
    when: started.toISOString(),
    machine: {
      cores: cpus().length,
      loadAverage: { atStart: load[0], afterRounds: load[1], atEnd: load[2] },
    },
    settings: {
      connections: o.connections,
      durationS: o.durationS,
      rounds: o.rounds,
      warmupS: o.warmupS,
      single: o.single,
      runtime: process.env.JPW_RUNTIME === "deno" ? "deno" : "node",
      profile: o.profile,
      stack: "just up -d (ops/stack.ts), own data folder and ports",
    },
    system: sys,
    baseline: base,
    ratios: { throughput: throughputRatio, p99: p99Ratio },
    singleClient: single,
    cdcCommitToInvalidatedMs: {
      ...lag,
      perRound: systemRuns.map((r) => summarize(r.lagMs)),
      creates: systemRuns.map((r) => r.creates),
    },
    backlogs: {
      atEndOfRound: systemRuns.map((r) => r.backlogAtEnd),
      drainAfterRound: systemRuns.map((r) => r.drain),
      growingWithoutBound: growth,
      samples: systemRuns.map((r) => r.backlogSamples),
    },
    cpuPerWriteUs: {
      system: { ...systemCpu, total: round(systemCpuTotal, 0) },
      baseline: { ...baselineCpu, total: round(baselineCpuTotal, 0) },
      systemAtRestDuringBaselineRounds: idleSystem,
      loadGenerator: {
        system: perWriteUs(systemRuns, ["wrk"]).wrk,
        baseline: perWriteUs(baselineRuns, ["wrk"]).wrk,
      },
    },
    machineDuringRounds: {
      system: machine(systemRuns, everything),
      baseline: machine(baselineRuns, everything),
    },
    rounds: {
      system: systemRuns.map((r) => ({ ...r.wrk, load: r.load })),
      baseline: baselineRuns.map((r) => ({ ...r.wrk, load: r.load })),
    },
    targets: {
      throughputRatio: { target: `>= ${targets.throughputRatio}`, met: met.throughputRatio },
      p99Ratio: { target: `<= ${targets.p99Ratio}`, met: met.p99Ratio },
      singleClientP50Ms: { target: `<= ${targets.singleClientP50Ms}`, met: met.singleClientP50Ms },
      cdcP99UnderLoadMs: { target: `<= ${targets.cdcP99Ms}, no backlog growth`, met: met.cdcP99Ms },
    },
    ...(profiles ? { profiles } : {}),
  };
  const file = writeArtifact("system", result);

  const row = (name: string, r: typeof sys, s: typeof single.system) =>
    `${name.padEnd(22)} ${String(r.rps).padStart(7)} ${r.p50Ms.toFixed(1).padStart(7)} ${r.p99Ms.toFixed(1).padStart(7)} ${s.p50Ms.toFixed(2).padStart(10)} ${String(r.statuses[201]).padStart(8)} ${String(r.statuses[202]).padStart(5)} ${String(r.statuses.other + r.socketErrors).padStart(6)}`;
  console.log(
    `\nsystem benchmark: POST /api/users through the edge, ${o.connections} connections, ${o.durationS} s × ${o.rounds} rounds (medians), load average ${load[0]!.join(" ")} at the start`,
  );
  console.log(
    `${"".padEnd(22)} ${"req/s".padStart(7)} ${"p50 ms".padStart(7)} ${"p99 ms".padStart(7)} ${"1-client".padStart(10)} ${"201".padStart(8)} ${"202".padStart(5)} ${"errors".padStart(6)}`,
  );
  console.log(row("system (just up)", sys, single.system));
  console.log(row("direct insert, edge", base, single.baseline));
  console.log(
    `cdc commit → invalidated under load: p50 ${lag.p50} ms, p99 ${lag.p99} ms, max ${lag.max} ms (${lag.count} changes)`,
  );
  console.log(
    `backlogs at the end of each round: ${systemRuns.map((r) => JSON.stringify(r.backlogAtEnd)).join(" ")}; drained in ${systemRuns.map((r) => `${r.drain.ms} ms`).join(", ")}`,
  );
  const split = (cpu: Record<string, number>) =>
    Object.entries(cpu)
      .filter(([, v]) => v > 0)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(", ");
  console.log(`CPU µs per write, system (${round(systemCpuTotal, 0)}): ${split(systemCpu)}`);
  console.log(`CPU µs per write, baseline (${round(baselineCpuTotal, 0)}): ${split(baselineCpu)}`);
  console.log(
    `machine during system rounds: ${result.machineDuringRounds.system.map((m) => `${m.busyCores} cores busy (${m.outsideThisBenchCores} outside this benchmark)`).join(", ")}`,
  );
  console.log(`load average after the rounds ${load[1]!.join(" ")}, at the end ${load[2]!.join(" ")}`);
  if (profiles) {
    for (const [name, s] of Object.entries(profiles)) {
      console.log(
        `\n${name} profile (${s.busyMs} ms busy), self time by area: ${s.byArea.map(([a, v]) => `${a} ${v}%`).join(", ")}`,
      );
      for (const [fn, v] of s.byFunction.slice(0, 10)) console.log(`  ${String(v).padStart(5)}%  ${fn}`);
    }
  }
  console.log(
    `targets: throughput ${met.throughputRatio ? "met" : "missed"}, p99 ${met.p99Ratio ? "met" : "missed"}, single client ${met.singleClientP50Ms ? "met" : "missed"}, cdc ${met.cdcP99Ms ? "met" : "missed"}`,
  );
  console.log(`\nresult: ${file}`);
  if (growth.length > 0) {
    process.exitCode = 1;
    console.error(`FAILED: a backlog grows without bound: ${growth.join("; ")}`);
  }
  console.log(
    `system: throughput ratio ${throughputRatio}, p99 ratio ${p99Ratio}, single-client p50 ${singleP50.toFixed(2)} ms, cdc p99 under load ${lag.p99} ms`,
  );
}

/** `url` (a Postgres URL of the stack) pointing at another database of the same cluster. */
function inDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** The baseline's own database: the same tables and roles, and no publication (CDC ignores it). */
async function prepareBaselineDatabase(adminUrl: string): Promise<void> {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${baselineDatabase}`);
  } finally {
    await admin.end();
  }
  const sql = postgres(inDatabase(adminUrl, baselineDatabase), { max: 1, onnotice: () => {} });
  try {
    await migrate(sql);
    await sql`drop publication if exists jpw_cdc`;
  } finally {
    await sql.end();
  }
}

/**
 * A backlog grows without bound when, at the end of a round, a consumer holds more than a second
 * of that round's writes and still had not drained a minute later: the system takes in more than
 * it applies. A backlog that is only the work in flight stays below a second's worth and drains.
 */
function backlogGrowth(
  runs: { wrk: WriteWrkResult; backlogAtEnd: Backlogs; drain: { drained: boolean } }[],
  durationS: number,
): string[] {
  const out: string[] = [];
  runs.forEach((r, i) => {
    const perSecond = (r.wrk.s201 + r.wrk.s202) / durationS;
    for (const [consumer, n] of Object.entries(r.backlogAtEnd)) {
      if (n > perSecond && !r.drain.drained) {
        out.push(
          `${consumer} held ${n} at the end of round ${i + 1} (${Math.round(perSecond)} writes/s) and did not drain`,
        );
      }
    }
  });
  return out;
}

/** Each service's CPU profile (the biggest of its pid: the main thread), summarised. */
function summarizeProfiles(dir: string) {
  const files = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"));
  const byPid = new Map<string, string>();
  for (const f of files) {
    const pid = f.split(".")[3] ?? f;
    const current = byPid.get(pid);
    if (!current || statSync(join(dir, f)).size > statSync(join(dir, current)).size) byPid.set(pid, f);
  }
  const out: Record<string, ReturnType<typeof summarizeProfile>> = {};
  for (const f of byPid.values()) {
    const s = summarizeProfile(join(dir, f));
    // Name it after its entry point, which the profile's URLs show.
    const text = readFileSync(join(dir, f), "utf8");
    const service = /services\/(producer|consumer|reader)\/main\.ts/.exec(text)?.[1] ?? f;
    if (!out[service] || out[service].busyMs < s.busyMs) out[service] = s;
  }
  return out;
}
