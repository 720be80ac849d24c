// The one quality gate: format and lint (biome), typecheck (tsc), then every test file, each in its
// own process group with its own temp folder. A file that leaves a process running or a temp folder
// behind fails. The last line is always `N passed, N failed`; the exit code is non-zero on any failure.
//
//   tsx ops/test.ts                   everything
//   tsx ops/test.ts harness migrate   only test files whose path contains one of the words
//   tsx ops/test.ts --no-checks ...   skip format, lint and typecheck (quick local loops)
//   tsx ops/test.ts --unit            checks and unit tests only (*.test.ts, not *.int.test.ts)
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { root } from "../services/infra/paths.ts";
import { color } from "../services/infra/term.ts";
import { until } from "../services/infra/until.ts";
import { parseCommandLine } from "./lib/args.ts";

interface Outcome {
  name: string;
  passed: number;
  failed: number;
  seconds: number;
  output: string;
  problems: string[];
}

const { values, positionals: filters } = parseCommandLine(
  { allowPositionals: true, options: { "no-checks": { type: "boolean" }, unit: { type: "boolean" } } },
  "usage: tsx ops/test.ts [--no-checks] [--unit] [word ...]",
);
const runChecks = values["no-checks"] !== true;
const unitOnly = values.unit === true;
const jobs = Math.max(1, Number(process.env.JPW_TEST_JOBS ?? 2));
const fileTimeoutMs = Number(process.env.JPW_TEST_TIMEOUT_S ?? 900) * 1000;
const runDir = join(tmpdir(), `jpw-test-${process.pid}`);

function findTestFiles(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name.startsWith(".") || entry.name === "dist") continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) findTestFiles(path, out);
    else if (entry.name.endsWith(".test.ts") || entry.name.endsWith(".test.tsx")) out.push(path);
  }
  return out;
}

function alive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Runs a command in its own process group; collects its output; reports leaks. */
function runIsolated(
  name: string,
  cmd: string,
  cmdArgs: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<{ code: number | null; output: string; problems: string[]; seconds: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, cmdArgs, { cwd: root, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => {
      output += d;
    });
    child.stderr.on("data", (d) => {
      output += d;
    });
    const problems: string[] = [];
    const timer = setTimeout(() => {
      problems.push(`${name} did not finish within ${timeoutMs / 1000}s and was killed`);
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {}
    }, timeoutMs);
    child.on("close", async (code) => {
      clearTimeout(timer);
      // Give children a moment to finish dying after their parent's exit handler killed them.
      await until(() => !alive(child.pid!), 2000, "the process group to end").catch(() => {});
      if (alive(child.pid!)) {
        problems.push(`${name} left processes running (killed now)`);
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch {}
      }
      resolve({ code, output, problems, seconds: (performance.now() - started) / 1000 });
    });
  });
}

function parseUvu(output: string): { total: number; passed: number; skipped: number } | undefined {
  // uvu prints one summary per file; colours are off because stdout is a pipe.
  const num = (label: string) => {
    const m = new RegExp(`^\\s*${label}:\\s+(\\d+)`, "m").exec(output);
    return m ? Number(m[1]) : undefined;
  };
  const total = num("Total");
  const passed = num("Passed");
  if (total === undefined || passed === undefined) return undefined;
  return { total, passed, skipped: num("Skipped") ?? 0 };
}

async function runTestFile(file: string, index: number): Promise<Outcome> {
  const name = relative(root, file);
  const tmp = join(runDir, String(index));
  mkdirSync(tmp, { recursive: true });
  // The postgres user (test clusters run as it) must be able to reach folders made in here.
  chmodSync(tmp, 0o755);
  const env = { ...process.env, TMPDIR: tmp, NO_COLOR: "1", FORCE_COLOR: "0" };
  const r = await runIsolated(name, process.execPath, ["--import", "tsx", file], env, fileTimeoutMs);
  const problems = [...r.problems];
  // Only the harness's own folders count (tsx and Deno keep caches in TMPDIR too).
  const left = readdirSync(tmp).filter((d) => d.startsWith("jpw-"));
  if (left.length) problems.push(`${name} left temp folders behind: ${left.join(", ")}`);
  rmSync(tmp, { recursive: true, force: true });
  const summary = parseUvu(r.output);
  let passed = summary?.passed ?? 0;
  let failed = summary ? summary.total - summary.passed : 0;
  if (summary?.skipped)
    problems.push(`${name} skipped ${summary.skipped} test(s): a skipped test is a defect`);
  if (!summary) problems.push(`${name} printed no uvu summary (crashed before its tests finished?)`);
  else if (r.code !== 0 && failed === 0) problems.push(`${name} exited with code ${r.code}`);
  if (problems.length) failed += problems.length;
  if (passed < 0) passed = 0;
  return { name, passed, failed, seconds: r.seconds, output: r.output, problems };
}

async function runCheck(name: string, cmd: string, cmdArgs: string[]): Promise<Outcome> {
  const r = await runIsolated(name, cmd, cmdArgs, { ...process.env, NO_COLOR: "1" }, fileTimeoutMs);
  const ok = r.code === 0 && r.problems.length === 0;
  return {
    name,
    passed: ok ? 1 : 0,
    failed: ok ? 0 : 1,
    seconds: r.seconds,
    output: r.output,
    problems: r.problems,
  };
}

function report(o: Outcome): void {
  const mark = o.failed ? color.red("FAIL") : color.green("ok  ");
  const counts = o.failed ? `${o.passed} passed, ${o.failed} failed` : `${o.passed} passed`;
  console.log(`${mark} ${o.name} ${color.dim(`(${counts}, ${o.seconds.toFixed(1)}s)`)}`);
  if (o.failed || process.env.JPW_TEST_VERBOSE) {
    const body = o.output.trimEnd();
    if (body) console.log(body.replace(/^/gm, "     │ "));
    for (const p of o.problems) console.log(`     ${color.red("✗")} ${p}`);
  }
}

async function main(): Promise<number> {
  mkdirSync(runDir, { recursive: true });
  chmodSync(runDir, 0o755);
  const bin = (name: string) => join(root, "node_modules", ".bin", name);
  const outcomes: Outcome[] = [];

  if (runChecks) {
    console.log(color.bold("checks"));
    const checks: [string, string, string[]][] = [
      ["format and lint (biome check)", bin("biome"), ["check", "."]],
      ["typecheck services and ops (tsc)", bin("tsc"), ["--noEmit", "-p", "tsconfig.json"]],
    ];
    // Installing must never rewrite the lockfile (bootstrap uses `npm ci`): a dirty lock after the
    // first run means some machine would install other packages than this one.
    if (existsSync(join(root, ".git"))) {
      checks.push([
        "lockfile as committed (git diff package-lock.json)",
        "git",
        ["diff", "--exit-code", "--stat", "--", "package-lock.json"],
      ]);
    }
    if (existsSync(join(root, "web", "tsconfig.json"))) {
      checks.push(["typecheck web (tsc)", bin("tsc"), ["--noEmit", "-p", "web/tsconfig.json"]]);
    }
    for (const [name, cmd, cmdArgs] of checks) {
      const o = await runCheck(name, cmd, cmdArgs);
      report(o);
      outcomes.push(o);
    }
  }

  const files = findTestFiles(root)
    .filter((f) => filters.length === 0 || filters.some((w) => relative(root, f).includes(w)))
    .filter((f) => !unitOnly || !f.includes(".int.test."))
    // Slow integration files first, so the two job slots stay busy until the end.
    .sort(
      (a, b) =>
        Number(b.includes(".int.")) - Number(a.includes(".int.")) || statSync(b).size - statSync(a).size,
    );
  console.log(color.bold(`\ntests: ${files.length} files, ${jobs} at a time`));
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      const o = await runTestFile(files[i]!, i);
      report(o);
      outcomes.push(o);
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));
  rmSync(runDir, { recursive: true, force: true });

  if (filters.length && files.length === 0) {
    outcomes.push({
      name: "filter",
      passed: 0,
      failed: 1,
      seconds: 0,
      output: "",
      problems: [`no test file matches ${filters.join(", ")}`],
    });
  }
  const passed = outcomes.reduce((n, o) => n + o.passed, 0);
  const failed = outcomes.reduce((n, o) => n + o.failed, 0);
  const failing = outcomes.filter((o) => o.failed).map((o) => o.name);
  if (failing.length) console.log(`\n${color.red("failing:")} ${failing.join(", ")}`);
  console.log(`${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

process.exitCode = await main();
