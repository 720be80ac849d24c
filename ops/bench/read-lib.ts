// Helpers of the read-path benchmarks (cdc.ts, read.ts): percentiles, wrk runs, SSE reading and
// the JSON artifact. Kept apart from the write benchmark's lib.ts until the lead merges them.
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { artifactsDir } from "../lib/paths.ts";
import { tools } from "../lib/tools.ts";

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function summarize(values: number[]) {
  const s = [...values].sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    count: s.length,
    min: round(s[0] ?? Number.NaN),
    p50: round(percentile(s, 50)),
    p90: round(percentile(s, 90)),
    p99: round(percentile(s, 99)),
    max: round(s[s.length - 1] ?? Number.NaN),
    mean: round(s.reduce((a, b) => a + b, 0) / (s.length || 1)),
  };
}

/** Writes artifacts/bench/<name>.json and returns its path. */
export function writeArtifact(name: string, data: unknown): string {
  const dir = join(artifactsDir, "bench");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}

export const say = (line: string) => console.log(`[bench] ${line}`);

export interface WrkResult {
  requests: number;
  seconds: number;
  rps: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  errors: number;
  non2xx: number;
}

/**
 * One wrk run. `script` is a Lua file (e.g. picking a random path per request); the summary comes
 * from wrk's done() callback as one JSON line, so nothing is parsed out of its human output.
 */
export function runWrk(o: {
  url: string;
  script: string;
  connections: number;
  threads: number;
  seconds: number;
}): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      tools.wrk(),
      [`-t${o.threads}`, `-c${o.connections}`, `-d${o.seconds}s`, "--latency", "-s", o.script, o.url],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      out += d;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const line = out.split("\n").find((l) => l.startsWith("JSON "));
      if (code !== 0 || !line) return reject(new Error(`wrk failed (exit ${code}):\n${out}`));
      const r = JSON.parse(line.slice(5)) as Omit<WrkResult, "rps">;
      resolve({ ...r, rps: r.requests / r.seconds });
    });
  });
}

/** A wrk script that GETs a random one of `paths` and reports a JSON summary line. */
export function wrkScript(paths: string[]): string {
  return `
local paths = { ${paths.map((p) => JSON.stringify(p)).join(", ")} }
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('JSON {"requests":%d,"seconds":%f,"latencyP50Ms":%f,"latencyP99Ms":%f,"errors":%d,"non2xx":%d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.timeout, e.status))
end
`;
}

/** Reads Server-Sent Events from `url`, calling `onEvent` with each `data:` payload parsed as JSON. */
export async function readEvents(
  url: string,
  onEvent: (data: Record<string, unknown>) => void,
  signal: AbortSignal,
): Promise<void> {
  const res = await fetch(url, { signal });
  if (!res.ok || !res.body) throw new Error(`GET ${url} answered ${res.status}`);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      let at = buf.indexOf("\n\n");
      while (at >= 0) {
        const block = buf.slice(0, at);
        buf = buf.slice(at + 2);
        for (const line of block.split("\n")) {
          if (line.startsWith("data:")) onEvent(JSON.parse(line.slice(5)) as Record<string, unknown>);
        }
        at = buf.indexOf("\n\n");
      }
    }
  })().catch(() => {});
}
