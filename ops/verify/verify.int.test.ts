// CI's short soak: `just verify` on one node, every fault kind, tiny limits, a fresh seed each run
// (printed; JPW_VERIFY_SEED repeats one, JPW_VERIFY_SECONDS sets the time, 150 s by default).
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { root } from "../../services/infra/paths.ts";
import { freshSeed } from "./rng.ts";

const seed = Number(process.env.JPW_VERIFY_SEED) || freshSeed();
const seconds = Number(process.env.JPW_VERIFY_SECONDS) || 150;

test(`the system keeps every promise under the seeded workload and faults (seed ${seed}, ${seconds}s, tiny limits)`, async () => {
  const args = ["--seed", String(seed), "--duration", `${seconds}s`, "--clients", "6", "--faults", "all"];
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(root, "ops/verify/cli.ts"), ...args, "--limits", "tiny"],
    {
      cwd: root,
      env: { ...process.env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const lines: string[] = [];
  const keep = (line: string) => {
    lines.push(line);
    if (lines.length > 400) lines.shift();
  };
  createInterface({ input: child.stdout }).on("line", keep);
  createInterface({ input: child.stderr }).on("line", keep);
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  const summary = lines.slice(lines.indexOf("summary")).join("\n");
  assert.is(code, 0, `just verify ${args.join(" ")} --limits tiny exited ${code}:\n${lines.join("\n")}`);
  const faults = Number(/faults injected\s+(\d+)/.exec(summary)?.[1] ?? 0);
  const requests = Number(/requests\s+(\d+)/.exec(summary)?.[1] ?? 0);
  assert.ok(faults >= seconds / 20, `faults were injected (${faults}):\n${summary}`);
  assert.ok(requests >= seconds * 5, `the clients got answers (${requests}):\n${summary}`);
  console.log(summary);
});

test.run();
