// What only the read-path benchmarks (cdc.ts, read.ts) need: GET scripts for wrk, a latency
// summary and a Server-Sent Events reader. The rest is in lib.ts.
import { percentile } from "./lib.ts";

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

/**
 * A wrk script that GETs a random one of `paths` and reports the summary runWrk reads (no
 * response() hook: defining one makes wrk parse every answer, which costs throughput).
 */
export function wrkScript(paths: string[]): string {
  return `
local paths = { ${paths.map((p) => JSON.stringify(p)).join(", ")} }
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_RESULT {"requests":%d,"durationUs":%d,"p50Us":%d,"p90Us":%d,"p99Us":%d,"maxUs":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.status, e.timeout))
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
