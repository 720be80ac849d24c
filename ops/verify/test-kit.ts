// Runs `just verify` as a child process for the gate's test files, keeping its last lines.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import * as assert from "uvu/assert";
import { root } from "../../services/infra/paths.ts";

/** Runs the checker with `args`; passes when it exits 0 having injected faults and got answers. */
export async function runChecker(args: string[], seconds: number): Promise<string> {
  const child = spawn(process.execPath, ["--import", "tsx", join(root, "ops/verify/cli.ts"), ...args], {
    cwd: root,
    env: { ...process.env, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const keep = (line: string) => {
    lines.push(line);
    if (lines.length > 400) lines.shift();
  };
  createInterface({ input: child.stdout }).on("line", keep);
  createInterface({ input: child.stderr }).on("line", keep);
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  const summary = lines.slice(lines.indexOf("summary")).join("\n");
  assert.is(code, 0, `just verify ${args.join(" ")} exited ${code}:\n${lines.join("\n")}`);
  const faults = Number(/faults injected\s+(\d+)/.exec(summary)?.[1] ?? 0);
  const requests = Number(/requests\s+(\d+)/.exec(summary)?.[1] ?? 0);
  assert.ok(faults >= seconds / 20, `faults were injected (${faults}):\n${summary}`);
  assert.ok(requests >= seconds * 5, `the clients got answers (${requests}):\n${summary}`);
  return summary;
}
