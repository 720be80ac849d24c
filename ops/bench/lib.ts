// Helpers shared by the benchmarks (ops/bench/*.ts): a load generator (wrk, driven by a Lua
// script), a sequential single-client latency probe with hrtime precision, CPU accounting per
// process from /proc, a CPU-profile summary, and the JSON artifact every benchmark writes.
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { join } from "node:path";
import { artifactsDir } from "../../services/infra/paths.ts";
import { tools } from "../../services/infra/tools.ts";
import { processTree } from "../lib/procfs.ts";

export interface WrkResult {
  requests: number;
  durationUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  maxUs: number;
  /** `status`: answers that were not 2xx or 3xx. */
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  /** requests / duration */
  rps: number;
}

/** What post-users.lua adds: answers by status, counted by its response() hook. */
export interface WriteWrkResult extends WrkResult {
  s201: number;
  s202: number;
  other: number;
}

/** Requests that got no answer at all. */
export const socketErrors = (r: WrkResult) =>
  r.errors.connect + r.errors.read + r.errors.write + r.errors.timeout;

/**
 * Runs wrk with a Lua script whose done() prints one `WRK_RESULT {json}` line (post-users.lua,
 * wrkScript in read-lib.ts), so nothing is parsed out of wrk's human output.
 */
export async function runWrk<R extends WrkResult = WrkResult>(opts: {
  url: string;
  script: string;
  connections: number;
  durationS: number;
  threads?: number;
  args?: string[];
}): Promise<R> {
  const args = [
    `-t${opts.threads ?? 1}`,
    `-c${opts.connections}`,
    `-d${opts.durationS}s`,
    "--timeout",
    "10s",
    "-s",
    opts.script,
    opts.url,
    ...(opts.args?.length ? ["--", ...opts.args] : []),
  ];
  const out = await capture(tools.wrk(), args);
  const line = out.split("\n").find((l) => l.startsWith("WRK_RESULT "));
  if (!line) throw new Error(`wrk printed no result:\n${out}`);
  const r = JSON.parse(line.slice("WRK_RESULT ".length)) as Omit<R, "rps">;
  return { ...r, rps: r.requests / (r.durationUs / 1e6) } as R;
}

/** Runs a command to its end and returns its output (stdout and stderr); rejects on a non-zero exit. */
export function capture(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      out += d;
    });
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}:\n${out}`)),
    );
  });
}

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Status codes seen, with counts. */
  statuses: Record<number, number>;
}

/** What one sequential client saw: every request's time (ms), in order, and the statuses. */
export interface SequentialTimes {
  timesMs: number[];
  statuses: Record<number, number>;
}

/**
 * One client, one request at a time, over one keep-alive connection: the latency a lone user sees.
 * Timed with performance.now() around each request (client overhead included, a few tens of µs).
 */
export async function sequentialPosts(opts: {
  url: string;
  path: string;
  count: number;
  body: (i: number) => string;
  headers?: (i: number) => Record<string, string>;
}): Promise<SequentialTimes> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const u = new URL(opts.url);
  const timesMs: number[] = [];
  const statuses: Record<number, number> = {};
  try {
    for (let i = 0; i < opts.count; i++) {
      const body = opts.body(i);
      const started = performance.now();
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(
          {
            agent,
            host: u.hostname,
            port: u.port,
            path: opts.path,
            method: "POST",
            headers: {
              "content-type": "application/json",
              "content-length": Buffer.byteLength(body),
              ...opts.headers?.(i),
            },
          },
          (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
          },
        );
        req.on("error", reject);
        req.end(body);
      });
      timesMs.push(performance.now() - started);
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  } finally {
    agent.destroy();
  }
  return { timesMs, statuses };
}

/** Percentiles of what one or more sequential runs saw. */
export function latencySummary(runs: SequentialTimes[]): LatencySummary {
  const times = runs.flatMap((r) => r.timesMs).sort((a, b) => a - b);
  const statuses: Record<number, number> = {};
  for (const r of runs)
    for (const [s, n] of Object.entries(r.statuses)) statuses[Number(s)] = (statuses[Number(s)] ?? 0) + n;
  return {
    count: times.length,
    p50Ms: percentile(times, 50),
    p90Ms: percentile(times, 90),
    p99Ms: percentile(times, 99),
    maxMs: times[times.length - 1] ?? 0,
    statuses,
  };
}

/** One sequential client (sequentialPosts), summarised. */
export async function singleClient(opts: Parameters<typeof sequentialPosts>[0]): Promise<LatencySummary> {
  return latencySummary([await sequentialPosts(opts)]);
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

const clockTicks = 100; // USER_HZ on Linux

/** CPU seconds (user + system) a process has used so far; 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may contain spaces) start at state (field 3).
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / clockTicks;
  } catch {
    return 0;
  }
}

/**
 * CPU seconds of this process's children that have exited and been waited for (wrk runs, once
 * each ends): how much the load generator cost.
 */
export function reapedChildrenCpuSeconds(): number {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[13]) + Number(fields[14])) / clockTicks;
}

/** The whole machine's CPU seconds so far: busy (everything but idle and iowait) and in total. */
export function machineCpuSeconds(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!;
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  const total = ticks.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  return { busy: (total - idle) / clockTicks, total: total / clockTicks };
}

/** The load averages (1, 5, 15 minutes), as `uptime` prints them: how busy the machine was. */
export function loadAverage(): [number, number, number] {
  const [a, b, c] = readFileSync("/proc/loadavg", "utf8").split(" ").map(Number);
  return [a ?? 0, b ?? 0, c ?? 0];
}

/** CPU used by named process trees over `run`, in seconds. */
export async function measureCpu<T>(
  roots: Record<string, number | undefined>,
  run: () => Promise<T>,
): Promise<{ result: T; cpu: Record<string, number> }> {
  const sample = () =>
    Object.fromEntries(
      Object.entries(roots).map(([name, pid]) => [
        name,
        pid ? processTree(pid).reduce((sum, p) => sum + cpuSeconds(p), 0) : 0,
      ]),
    );
  const before = sample();
  const result = await run();
  const after = sample();
  return {
    result,
    cpu: Object.fromEntries(Object.keys(roots).map((k) => [k, round((after[k] ?? 0) - (before[k] ?? 0), 2)])),
  };
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/**
 * Where a V8 CPU profile (node --cpu-prof) spent its busy (non-idle) time, in percent: self time by
 * area (our code, each package, node internals, GC) and by function, and the inclusive time of our
 * own functions (what each step of a request costs with everything it calls).
 */
export function summarizeProfile(
  file: string,
  top = 15,
): {
  busyMs: number;
  byArea: [string, number][];
  byFunction: [string, number][];
  ourCode: [string, number][];
} {
  const profile = JSON.parse(readFileSync(file, "utf8")) as {
    nodes: ProfileNode[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const name = (f: ProfileNode["callFrame"]) => {
    const where = f.url
      ? `${f.url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*\/(services|ops)\//, "$1/")}:${f.lineNumber + 1}`
      : "";
    return `${f.functionName || "(anonymous)"} ${where}`.trim();
  };
  let total = 0;
  const areas = new Map<string, number>();
  const fns = new Map<string, number>();
  const ours = new Map<string, number>();
  for (const [id, us] of self) {
    const f = byId.get(id)!.callFrame;
    if (f.functionName === "(idle)") continue;
    total += us;
    const area = areaOf(f.url, f.functionName);
    areas.set(area, (areas.get(area) ?? 0) + us);
    fns.set(name(f), (fns.get(name(f)) ?? 0) + us);
    // Inclusive: each of our functions on the stack is charged once per sample.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const cf = byId.get(cur)!.callFrame;
      const n = name(cf);
      if (areaOf(cf.url, cf.functionName) !== "project code" || seen.has(n)) continue;
      seen.add(n);
      ours.set(n, (ours.get(n) ?? 0) + us);
    }
  }
  const busy = total || 1;
  const pct = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, v]) => [k, round((100 * v) / busy, 1)] as [string, number]);
  return { busyMs: round(total / 1000, 0), byArea: pct(areas), byFunction: pct(fns), ourCode: pct(ours) };
}

function areaOf(url: string, fn: string): string {
  if (fn === "(idle)") return "idle";
  if (fn === "(garbage collector)") return "gc";
  if (fn === "(program)") return "v8/native";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith("node:")) return `node:${url.slice(5).split("/")[0]}`;
  if (/\/services\/|\/ops\//.test(url)) return "project code";
  return url ? "other" : "native";
}

/** The biggest profile in a --cpu-prof-dir: the main thread's (loader workers are mostly idle). */
export function mainThreadProfile(dir: string): string {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".cpuprofile"))
    .map((f) => ({ f, size: statSync(join(dir, f)).size }))
    .sort((a, b) => b.size - a.size);
  if (!files[0]) throw new Error(`no CPU profile in ${dir}`);
  return join(dir, files[0].f);
}

/** Writes artifacts/bench/<name>.json and returns its path. */
export function writeArtifact(name: string, data: unknown): string {
  const dir = join(artifactsDir, "bench");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}

export const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The figures of a benchmark's write rounds: medians of rate and latency, every status counted. */
export const summarizeWrites = (runs: WriteWrkResult[]) => ({
  rps: round(median(runs.map((r) => r.rps)), 0),
  p50Ms: round(median(runs.map((r) => r.p50Us)) / 1000, 2),
  p99Ms: round(median(runs.map((r) => r.p99Us)) / 1000, 2),
  maxMs: round(Math.max(...runs.map((r) => r.maxUs)) / 1000, 1),
  statuses: {
    201: runs.reduce((n, r) => n + r.s201, 0),
    202: runs.reduce((n, r) => n + r.s202, 0),
    other: runs.reduce((n, r) => n + r.other, 0),
  },
  socketErrors: runs.reduce((n, r) => n + socketErrors(r), 0),
});
