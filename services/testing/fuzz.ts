// The property-based fuzz of the HTTP API against its published contract. Schemathesis (pinned, in
// the tools folder's Python venv) loads the OpenAPI document from the system's edge, generates
// valid and invalid requests from it, mixes in hostile input (fuzz_hooks.py), and checks that no
// answer is a 5xx and every answer conforms to the document. The seed reproduces the requests
// generated, not the server's state (emails already taken, rows other requests made).
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { tools } from "../infra/tools.ts";
import { makeTempDir, removeTempDir } from "./process.ts";
import { type System, startSystem } from "./system.ts";

/**
 * What every answer is held to. Left out: positive_data_acceptance (a schema-valid request may
 * rightly be refused: a cursor we never issued, a total that is not the items' sum, a taken email),
 * and, until the edge answers for both services, unsupported_method and allow_header_conformance
 * (the edge sends an undocumented method to the producer, which knows no read route: 404 where
 * 405 is due; OPTIONS goes to the reader, whose Allow lacks POST). `--checks all` runs every check.
 */
export const fuzzChecks = [
  "not_a_server_error",
  "status_code_conformance",
  "content_type_conformance",
  "response_headers_conformance",
  "response_schema_conformance",
  "negative_data_rejection",
  "missing_required_header",
  "use_after_free",
  "ensure_resource_availability",
  // fuzz_hooks.py's own
  "key_reuse_needs_a_key",
];

export interface FuzzOptions {
  seed: number;
  /** Time budget of the API run; the services' ops routes take a few seconds more. */
  seconds: number;
  checks?: string[];
  /** Each line schemathesis prints (default: stdout). */
  onLine?: (line: string) => void;
}

export interface FuzzRun {
  target: string;
  passed: boolean;
  /** Schemathesis's closing line, e.g. "2 failures, 1 warning in 60.05s". */
  summary: string;
}

export interface FuzzResult {
  passed: boolean;
  runs: FuzzRun[];
  /** How to run the same requests again. */
  rerun: string;
}

/** JPW_FUZZ_SEED, or a fresh seed (printed by every run, so a failure can be replayed). */
export function fuzzSeed(): number {
  const given = Number(process.env.JPW_FUZZ_SEED);
  return Number.isSafeInteger(given) && given > 0 ? given : 1 + Math.floor(Math.random() * 2 ** 31);
}

const hooksDir = dirname(fileURLToPath(import.meta.url));

/** The whole system behind its edge (with a placeholder UI), as `startSystem` runs it. */
export async function startFuzzSystem(): Promise<System> {
  const web = makeTempDir("fuzz-web");
  writeFileSync(join(web, "index.html"), "<!doctype html><title>jetstream-pg-writer</title>");
  try {
    const system = await startSystem({ webRoot: web });
    return {
      ...system,
      [Symbol.asyncDispose]: async () => {
        await system[Symbol.asyncDispose]();
        removeTempDir(web);
      },
    };
  } catch (err) {
    removeTempDir(web);
    throw err;
  }
}

export async function fuzz(system: System, o: FuzzOptions): Promise<FuzzResult> {
  if (!system.edge) throw new Error("the fuzz needs the system's edge: start it with a webRoot");
  const edge = system.edge.url;
  const checks = (o.checks ?? fuzzChecks).join(",");
  const onLine = o.onLine ?? ((line: string) => console.log(line));
  const runs: FuzzRun[] = [];
  // The API as clients reach it, the document served by the edge itself. The event stream never
  // ends, so it is left out.
  runs.push(
    await schemathesis(`${edge}/api/openapi.json`, onLine, [
      ...["--url", edge, "--seed", String(o.seed), "--max-time", String(o.seconds), "--checks", checks],
      ...["--include-path-regex", "^/(api/|healthz$)", "--exclude-path", "/api/events"],
    ]),
  );
  // Each service's own health, readiness and metrics, which the edge does not route.
  for (const [name, svc] of [
    ["producer", system.producer],
    ["consumer", system.consumer],
    ["reader", system.reader],
  ] as const) {
    runs.push(
      await schemathesis(`${edge}/api/openapi.json`, onLine, [
        ...["--url", svc.url, "--seed", String(o.seed), "--max-examples", "3", "--checks", checks],
        // No links among these: nothing to chain.
        ...["--phases", "examples,coverage,fuzzing"],
        ...["--include-path-regex", "^/(healthz|readyz|metrics)$"],
      ]).then((r) => ({ ...r, target: `${name} ${r.target}` })),
    );
  }
  return {
    passed: runs.every((r) => r.passed),
    runs,
    rerun: `just fuzz --seed ${o.seed} --duration ${o.seconds}s${o.checks ? ` --checks ${checks}` : ""}`,
  };
}

async function schemathesis(
  location: string,
  onLine: (line: string) => void,
  args: string[],
): Promise<FuzzRun> {
  // Its own folder: schemathesis and hypothesis may write caches where they run.
  const cwd = makeTempDir("fuzz");
  try {
    const child = spawn(
      tools.schemathesis(),
      [
        "run",
        location,
        ...args,
        ...["--workers", "1", "--request-timeout", "20", "--generation-database", "none"],
        // Keep Idempotency-Key and friends in the report: a finding must be replayable as printed.
        ...["--output-sanitize", "false", "--no-color"],
      ],
      {
        cwd,
        env: {
          ...process.env,
          PYTHONPATH: hooksDir,
          PYTHONDONTWRITEBYTECODE: "1",
          SCHEMATHESIS_HOOKS: "fuzz_hooks",
          NO_COLOR: "1",
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let summary = "";
    const line = (l: string) => {
      if (/^=+ .* =+$/.test(l)) summary = l.replace(/^=+ | =+$/g, "");
      onLine(l);
    };
    createInterface({ input: child.stdout }).on("line", line);
    createInterface({ input: child.stderr }).on("line", line);
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    const target = args[args.indexOf("--url") + 1] ?? location;
    return { target, passed: code === 0, summary: summary || `schemathesis exited with ${code}` };
  } finally {
    removeTempDir(cwd);
  }
}
