// The whole system as `just up` runs it (the edge, Debezium, the reader invalidating), writes
// through the edge, against a direct insert behind the same edge configuration, in one run with
// interleaved rounds. See system-run.ts for what is measured and how.
//
//   tsx ops/bench/system.ts [--duration 10] [--connections 64] [--rounds 3] [--warmup 10]
//                           [--single 1000] [--keep] [--profile]
//
// JPW_RUNTIME=deno runs the services under Deno, as it does for `just up`. --keep leaves the stack's
// data folder (artifacts/bench/system-stack) for a look afterwards; --profile runs the Node services
// under --cpu-prof and summarises where their time went (figures measured with it are slower).
//
// This file only chooses the stack's data folder and ports: the stack's own configuration
// (ops/lib/stack-config.ts, services/infra/paths.ts) reads them from the environment, some of it
// when first imported, so they are set before the benchmark's modules load (nothing imported here
// reads them).
import { mkdirSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseCommandLine } from "../lib/args.ts";
import { lastingStackPorts } from "../lib/stack-ports.ts";

const usage =
  "usage: tsx ops/bench/system.ts [--duration 10] [--connections 64] [--rounds 3] [--warmup 10] [--single 1000] [--keep] [--profile]";
const { values } = parseCommandLine(
  {
    options: {
      duration: { type: "string" },
      connections: { type: "string" },
      rounds: { type: "string" },
      warmup: { type: "string" },
      single: { type: "string" },
      keep: { type: "boolean" },
      profile: { type: "boolean" },
    },
  },
  usage,
);
const count = (name: keyof typeof values, fallback: number, min = 1): number => {
  const raw = values[name];
  const n = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name} ${raw} is not a whole number of at least ${min}\n\n${usage}`);
    process.exit(1);
  }
  return n;
};

const options = {
  durationS: count("duration", 10),
  connections: count("connections", 64),
  rounds: count("rounds", 3),
  warmupS: count("warmup", 10, 0),
  single: count("single", 1000),
  keep: values.keep === true,
  profile: values.profile === true,
  dataDir: fileURLToPath(new URL("../../artifacts/bench/system-stack", import.meta.url)),
};

// A fresh stack every run, on the same disk as a person's .data/ (a tmpfs would hide the fsyncs).
rmSync(options.dataDir, { recursive: true, force: true });
mkdirSync(options.dataDir, { recursive: true, mode: 0o755 });
process.env.JPW_DATA_DIR = options.dataDir;
process.env.JPW_NATIVE = "1";
delete process.env.JPW_PROFILE;
Object.assign(process.env, await lastingStackPorts());

const { runSystemBench } = await import("./system-run.ts");
await runSystemBench(options);
