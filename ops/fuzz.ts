// Fuzzes the HTTP API against its OpenAPI document on a fresh system the harness starts (edge,
// services, NATS, Postgres, Redis, Debezium), prints the seed and every finding, exits 1 on any.
//
//   tsx ops/fuzz.ts [--duration 2m] [--seed N] [--checks all|name,name]
import { parseDuration } from "../services/infra/reconcile/units.ts";
import { color, fail, say } from "../services/infra/term.ts";
import { fuzz, fuzzSeed, startFuzzSystem } from "../services/testing/fuzz.ts";

function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const seconds = Math.max(1, Math.round(parseDuration(option("duration") ?? "2m") / 1e9));
const seed = option("seed") ? Number(option("seed")) : fuzzSeed();
if (!Number.isSafeInteger(seed) || seed <= 0) {
  fail("fuzz", `--seed must be a positive integer (got ${option("seed")})`);
  process.exit(2);
}
const checks = option("checks")?.split(",");

say("fuzz", `seed ${seed}, ${seconds}s; starting the system`);
await using system = await startFuzzSystem();
say("fuzz", `system up behind ${system.edge?.url}`);
const result = await fuzz(system, { seed, seconds, ...(checks ? { checks } : {}) });
for (const r of result.runs)
  say("fuzz", `${r.passed ? color.green("ok  ") : color.red("FAIL")} ${r.target}: ${r.summary}`);
say("fuzz", `seed ${seed}: rerun with \`${result.rerun}\``);
process.exitCode = result.passed ? 0 : 1;
