// CI's cluster run: `just verify --cluster` (three NATS nodes, R3, two producers and two consumers),
// every fault kind plus killing the WRITES leader's node, a fresh seed each run (printed;
// JPW_VERIFY_CLUSTER_SEED repeats one, JPW_VERIFY_CLUSTER_SECONDS sets the time, 120 s by default).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { freshSeed } from "./rng.ts";
import { runChecker } from "./test-kit.ts";

const seed = Number(process.env.JPW_VERIFY_CLUSTER_SEED) || freshSeed();
const seconds = Number(process.env.JPW_VERIFY_CLUSTER_SECONDS) || 120;

test(`a cluster keeps every promise while the WRITES leader's node is killed and started again (seed ${seed}, ${seconds}s)`, async () => {
  const args = ["--cluster", "--seed", String(seed), "--duration", `${seconds}s`, "--clients", "6"];
  const summary = await runChecker([...args, "--faults", "all"], seconds);
  const leaderKills = Number(/leader \S+ ×(\d+)/.exec(summary)?.[1] ?? 0);
  assert.ok(leaderKills >= 1, `the WRITES leader's node was killed (${leaderKills}):\n${summary}`);
  console.log(summary);
});

test.run();
