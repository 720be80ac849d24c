// The API fuzz in the gate: a short seeded run against the whole system (edge, producer, consumer,
// reader; NATS, Postgres, Redis, Debezium). `just fuzz --duration 30m` runs longer;
// JPW_FUZZ_SEED=<seed> (or `just fuzz --seed <seed>`) sends the same requests again.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fuzz, fuzzSeed, startFuzzSystem } from "./fuzz.ts";

const seed = fuzzSeed();
// CI's budget for this file is 5 minutes: about 30 s to start the system, this, and the ops routes.
const seconds = Number(process.env.JPW_FUZZ_SECONDS ?? 150);

test(`no request yields a 5xx and every answer conforms to the OpenAPI document (seed ${seed}, ${seconds}s)`, async () => {
  await using system = await startFuzzSystem();
  const result = await fuzz(system, { seed, seconds });
  const lines = result.runs.map((r) => `${r.passed ? "ok  " : "FAIL"} ${r.target}: ${r.summary}`);
  console.log(`${lines.join("\n")}\nseed ${seed}: rerun with \`${result.rerun}\``);
  assert.ok(result.passed, `the fuzz found problems (seed ${seed}): rerun with \`${result.rerun}\``);
});

test.run();
