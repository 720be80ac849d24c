// CI's short soak: `just verify` on one node, every fault kind, tiny limits, a fresh seed each run
// (printed; JPW_VERIFY_SEED repeats one, JPW_VERIFY_SECONDS sets the time, 150 s by default).
import { test } from "uvu";
import { freshSeed } from "./rng.ts";
import { runChecker } from "./test-kit.ts";

const seed = Number(process.env.JPW_VERIFY_SEED) || freshSeed();
const seconds = Number(process.env.JPW_VERIFY_SECONDS) || 150;

test(`the system keeps every promise under the seeded workload and faults (seed ${seed}, ${seconds}s, tiny limits)`, async () => {
  const args = ["--seed", String(seed), "--duration", `${seconds}s`, "--clients", "6", "--faults", "all"];
  console.log(await runChecker([...args, "--limits", "tiny"], seconds));
});

test.run();
