// What only the read-path benchmarks (cdc.ts, read.ts) need: GET scripts for wrk, a latency
// summary and a Server-Sent Events reader. The rest is in lib.ts.
import { tools } from "../../services/infra/tools.ts";
import { capture, percentile } from "./lib.ts";

export { percentile, writeArtifact } from "./lib.ts";

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
  return capture(tools.wrk(), [
    `-t${o.threads}`,
    `-c${o.connections}`,
    `-d${o.seconds}s`,
    "--latency",
    "-s",
    o.script,
    o.url,
  ]).then((out) => {
    const line = out.split("\n").find((l) => l.startsWith("JSON "));
    if (!line) throw new Error(`wrk printed no result:\n${out}`);
    const r = JSON.parse(line.slice(5)) as Omit<WrkResult, "rps">;
    return { ...r, rps: r.requests / r.seconds };
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
