// Write benchmark: POST /api/users through the whole pipeline (producer → JetStream → consumer →
// Postgres → reply) against a baseline that inserts straight into Postgres through the same HTTP
// adapter and driver, in the same run, on the same servers: nats-server with sync_interval: always
// and Postgres with fsync on. Prints req/s, p50 and p99 of both, their ratios and the single-client
// p50, writes artifacts/bench/write.json, and ends with one line:
//   write: throughput ratio R, p99 ratio Q, single-client p50 P ms
//
//   tsx ops/bench/write.ts [--duration 10] [--connections 64] [--rounds 1] [--single 2000] [--profile]
//
// --profile runs the services under node --cpu-prof and summarises where their time went
// (profiles in artifacts/bench/profiles/); numbers measured with it are slower. The consumer's
// CONSUMER_* variables (e.g. CONSUMER_CONCURRENCY) pass through, to compare settings.
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { artifactsDir, root } from "../../services/infra/paths.ts";
import { until } from "../../services/infra/until.ts";
import { startNats } from "../../services/testing/nats.ts";
import { startPostgres } from "../../services/testing/postgres.ts";
import { type RunningService, startService } from "../../services/testing/service.ts";
import { applyStreams } from "../../services/testing/streams.ts";
import { parseCommandLine } from "../lib/args.ts";
import {
  type LatencySummary,
  mainThreadProfile,
  measureCpu,
  round,
  runWrk,
  singleClient,
  summarizeProfile,
  summarizeWrites,
  type WriteWrkResult,
  writeArtifact,
} from "./lib.ts";

const { values: opts } = parseCommandLine(
  {
    options: {
      duration: { type: "string" },
      connections: { type: "string" },
      rounds: { type: "string" },
      single: { type: "string" },
      profile: { type: "boolean" },
    },
  },
  "usage: tsx ops/bench/write.ts [--duration 10] [--connections 64] [--rounds 1] [--single 2000] [--profile]",
);
const durationS = Number(opts.duration ?? 10);
const connections = Number(opts.connections ?? 64);
const rounds = Number(opts.rounds ?? 1);
const singleCount = Number(opts.single ?? 2000);
const profile = opts.profile === true;
const script = join(root, "ops", "bench", "post-users.lua");
const say = (line: string) => process.stderr.write(`bench: ${line}\n`);

const profileDir = join(artifactsDir, "bench", "profiles");
// One folder per service: node writes a profile per thread (tsx's loader runs in a worker).
const nodeArgs = (name: string) =>
  profile ? ["--cpu-prof", `--cpu-prof-dir=${join(profileDir, name)}`] : [];
if (profile) {
  rmSync(profileDir, { recursive: true, force: true });
  mkdirSync(profileDir, { recursive: true });
}

say("starting nats-server (sync_interval: always) and Postgres (fsync on)");
await using nats = await startNats({ own: true });
await using pg = await startPostgres({ own: true, durable: true });
// One database each, so both insert into tables of the same size.
await using pipelineDb = await pg.createDatabase("bench_pipeline");
await using baselineDb = await pg.createDatabase("bench_baseline");
await applyStreams(nats.url);

// Per-write lines are debug; info shows only start-up and anomalies (and the "listening" line startService waits for).
const quiet = { LOG_LEVEL: "info" };
const consumer = await startService({
  entry: "services/consumer/main.ts",
  name: "consumer",
  env: {
    ...quiet,
    ...nats.env("consumer"),
    DATABASE_URL: pipelineDb.urlAs("jpw_writer"),
    ...Object.fromEntries(
      Object.entries(process.env).filter(
        (e): e is [string, string] => e[0].startsWith("CONSUMER_") && !!e[1],
      ),
    ),
  },
  nodeArgs: nodeArgs("consumer"),
});
const producer = await startService({
  entry: "services/producer/main.ts",
  name: "producer",
  env: { ...quiet, ...nats.env("producer"), DATABASE_URL: pipelineDb.urlAs("jpw_producer") },
  nodeArgs: nodeArgs("producer"),
});
const baseline = await startService({
  entry: "ops/bench/baseline-service.ts",
  name: "baseline",
  env: { ...quiet, DATABASE_URL: baselineDb.urlAs("jpw_writer") },
  nodeArgs: nodeArgs("baseline"),
});
const services: RunningService[] = [consumer, producer, baseline];
for (const s of [consumer, producer])
  await until(async () => (await fetch(`${s.url}/readyz`)).ok, 30_000, "readiness");

let runId = 0;
const load = (url: string, seconds: number) =>
  runWrk<WriteWrkResult>({ url, script, connections, durationS: seconds, args: [`r${++runId}`] });

say("warming up (3 s each)");
await load(baseline.url, 3);
const pipelineWarmUp = await load(producer.url, 3);

const pids = {
  producer: producer.proc.pid,
  consumer: consumer.proc.pid,
  "nats-server": nats.pid,
  postgres: pg.pid,
  baseline: baseline.proc.pid,
};
const baselineRuns: WriteWrkResult[] = [];
const pipelineRuns: WriteWrkResult[] = [];
const cpu: Record<string, number>[] = [];
const baselineCpu: Record<string, number>[] = [];
for (let r = 1; r <= rounds; r++) {
  say(`round ${r}/${rounds}: baseline, ${connections} connections, ${durationS} s`);
  const base = await measureCpu(pids, () => load(baseline.url, durationS));
  baselineRuns.push(base.result);
  baselineCpu.push(base.cpu);
  say(`round ${r}/${rounds}: pipeline, ${connections} connections, ${durationS} s`);
  const measured = await measureCpu(pids, () => load(producer.url, durationS));
  pipelineRuns.push(measured.result);
  cpu.push(measured.cpu);
}

say(`single client: ${singleCount} sequential requests each`);
const single = async (url: string, tag: string): Promise<LatencySummary> =>
  singleClient({
    url,
    path: "/api/users",
    count: singleCount,
    body: (i) => JSON.stringify({ name: `Single ${i}`, email: `${tag}.${i}@single.example` }),
    headers: () => ({ "idempotency-key": crypto.randomUUID() }),
  });
const singleBaseline = await single(baseline.url, "baseline");
const singlePipeline = await single(producer.url, "pipeline");

// Every write the pipeline accepted (201 or 202) is in Postgres once it settles. wrk stops with up
// to one request per connection in flight, unanswered but possibly applied: at most that many more.
const pipelineLoads = [pipelineWarmUp, ...pipelineRuns];
const accepted = pipelineLoads.reduce((n, r) => n + r.s201 + r.s202, 0);
const cutOff = pipelineLoads.length * connections;
const sql = postgres(pipelineDb.url, { max: 1, onnotice: () => {} });
const benchRows = async () =>
  (await sql`select count(*)::int as n from users where email like '%@bench.example'`)[0]!.n as number;
say("checking that every accepted write landed");
await until(async () => (await benchRows()) >= accepted, 120_000, "the accepted writes to land");
const landed = await benchRows();
await sql.end();

// How the consumer batched: rows per INSERT statement, from its own histogram.
const consumerMetrics = await (await fetch(`${consumer.url}/metrics`)).text();
const batchSum = Number(
  /^jpw_consumer_batch_rows_sum\{table="users"\} (\S+)/m.exec(consumerMetrics)?.[1] ?? 0,
);
const batchCount = Number(
  /^jpw_consumer_batch_rows_count\{table="users"\} (\S+)/m.exec(consumerMetrics)?.[1] ?? 0,
);
const rowsPerStatement = batchCount ? round(batchSum / batchCount, 1) : 0;

for (const s of services) await s.stop();
const profiles = profile
  ? Object.fromEntries(
      ["producer", "consumer", "baseline"].map((n) => [
        n,
        summarizeProfile(mainThreadProfile(join(profileDir, n))),
      ]),
    )
  : undefined;

const b = summarizeWrites(baselineRuns);
const p = summarizeWrites(pipelineRuns);
const throughputRatio = round(p.rps / b.rps, 2);
const p99Ratio = round(p.p99Ms / b.p99Ms, 2);
const pipelineRequests = pipelineRuns.reduce((n, r) => n + r.requests, 0);
const cpuTotal = Object.fromEntries(
  Object.keys(pids).map((k) => [k, cpu.reduce((sum, c) => sum + (c[k] ?? 0), 0)]),
);
const cpuPerRequestUs = Object.fromEntries(
  Object.entries(cpuTotal)
    .filter(([k]) => k !== "baseline")
    .map(([k, s]) => [k, round((s / pipelineRequests) * 1e6, 0)]),
);

const baselineRequests = baselineRuns.reduce((n, r) => n + r.requests, 0);
const baselineCpuPerRequestUs = Object.fromEntries(
  ["baseline", "postgres"].map((k) => [
    k,
    round((baselineCpu.reduce((sum, c) => sum + (c[k] ?? 0), 0) / baselineRequests) * 1e6, 0),
  ]),
);

const result = {
  when: new Date().toISOString(),
  machine: { cores: (await import("node:os")).cpus().length },
  settings: {
    connections,
    durationS,
    rounds,
    singleCount,
    profile,
    nats: "sync_interval: always",
    postgres: "fsync on",
  },
  baseline: b,
  pipeline: {
    ...p,
    accepted,
    landed,
    everyAcceptedWriteLanded: landed >= accepted && landed <= accepted + cutOff,
  },
  ratios: { throughput: throughputRatio, p99: p99Ratio },
  singleClient: { pipeline: singlePipeline, baseline: singleBaseline },
  pipelineCpuPerRequestUs: cpuPerRequestUs,
  consumerRowsPerStatement: rowsPerStatement,
  baselineCpuPerRequestUs,
  targets: {
    throughputRatio: { target: ">= 0.8", met: throughputRatio >= 0.8 },
    p99Ratio: { target: "<= 2", met: p99Ratio <= 2 },
    singleClientP50Ms: { target: "<= 1.5", met: singlePipeline.p50Ms <= 1.5 },
  },
  ...(profiles ? { profiles } : {}),
};
const file = writeArtifact("write", result);

const row = (name: string, r: typeof b) =>
  `${name.padEnd(10)} ${String(r.rps).padStart(8)} ${r.p50Ms.toFixed(2).padStart(8)} ${r.p99Ms.toFixed(2).padStart(8)} ${String(r.statuses[201]).padStart(8)} ${String(r.statuses[202]).padStart(6)} ${String(r.statuses.other + r.socketErrors).padStart(6)}`;
console.log(`\nwrite benchmark: POST /api/users, ${connections} connections, ${durationS} s × ${rounds}`);
console.log(
  `${"".padEnd(10)} ${"req/s".padStart(8)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)} ${"201".padStart(8)} ${"202".padStart(6)} ${"errors".padStart(6)}`,
);
console.log(row("baseline", b));
console.log(row("pipeline", p));
console.log(
  `single client (${singleCount} sequential): pipeline p50 ${singlePipeline.p50Ms.toFixed(2)} ms, p99 ${singlePipeline.p99Ms.toFixed(2)} ms; baseline p50 ${singleBaseline.p50Ms.toFixed(2)} ms, p99 ${singleBaseline.p99Ms.toFixed(2)} ms`,
);
console.log(
  `pipeline CPU per request (µs): ${Object.entries(cpuPerRequestUs)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ")}`,
);
console.log(
  `baseline CPU per request (µs): ${Object.entries(baselineCpuPerRequestUs)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ")}`,
);
console.log(`consumer: ${rowsPerStatement} rows per INSERT on average (whole run)`);
console.log(
  `every accepted pipeline write landed: ${landed >= accepted && landed <= accepted + cutOff ? "yes" : "NO"} (${accepted} accepted, ${landed} rows, up to ${cutOff} cut off in flight)`,
);
if (profiles) {
  for (const [name, s] of Object.entries(profiles)) {
    console.log(
      `\n${name} profile (${s.busyMs} ms busy), self time by area: ${s.byArea.map(([a, v]) => `${a} ${v}%`).join(", ")}`,
    );
    console.log("  hottest functions (self):");
    for (const [fn, v] of s.byFunction.slice(0, 10)) console.log(`  ${String(v).padStart(5)}%  ${fn}`);
    console.log("  our code (inclusive):");
    for (const [fn, v] of s.ourCode.slice(0, 8)) console.log(`  ${String(v).padStart(5)}%  ${fn}`);
  }
}
console.log(`\nresult: ${file}`);
console.log(
  `write: throughput ratio ${throughputRatio}, p99 ratio ${p99Ratio}, single-client p50 ${singlePipeline.p50Ms.toFixed(2)} ms`,
);
