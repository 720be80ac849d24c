// just verify: the seeded, randomized checker. Starts the system `just up` runs, in a data folder and
// on ports of its own (a person's stack is never touched), drives it with clients, an operator and
// a fault schedule, then checks every answer and the final state. Exit 0: no violation; 1: at
// least one (printed with the seed and the operation); 2: the run could not be made.
//
//   tsx ops/verify/cli.ts [--seed N] [--duration 90s] [--clients 8] [--faults all] [--limits tiny] [--cluster]
//
// --cluster runs the stack as JPW_REPLICAS=3 runs it (three nats-servers, R3 streams, two producers
// and two consumers) and adds the fault `leader`: the WRITES leader's node killed and restarted.
//
// The stack's modules read their ports and data folder from JPW_* variables when they load, so
// this file sets them first and loads the run afterwards.
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseCommandLine } from "../lib/args.ts";
import { lastingStackPorts } from "../lib/stack-ports.ts";
import { optionsConfig, parseOptions, tinyLimits, usage, type VerifyOptions } from "./options.ts";

async function main(): Promise<number> {
  const { values } = parseCommandLine({ options: optionsConfig }, usage);
  let o: VerifyOptions;
  try {
    o = parseOptions(values);
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  const data = mkdtempSync(join(tmpdir(), "jpw-verify-"));
  // Postgres runs as its own user when we are root: it must reach its folder under this one.
  chmodSync(data, 0o755);
  const env: Record<string, string> = {
    JPW_DATA_DIR: data,
    JPW_PROFILE: "local",
    // Below the ephemeral range: a server restarted by a fault must find its port still free.
    // A cluster (--cluster): three nats-servers with their route ports, two producers and consumers.
    ...(await lastingStackPorts({ cluster: o.cluster })),
    ...(o.cluster ? { JPW_REPLICAS: "3" } : {}),
    ...(o.limits === "tiny" ? tinyLimits : {}),
  };
  Object.assign(process.env, env);
  console.log(
    `[verify] seed ${o.seed}${
      o.limits === "tiny"
        ? ` (tiny limits: ${Object.entries(tinyLimits)
            .map(([k, v]) => `${k}=${v}`)
            .join(" ")})`
        : ""
    }`,
  );
  let code = 2;
  try {
    const { verify } = await import("./run.ts");
    code = await verify(o);
  } catch (err) {
    console.error(`[verify] the run could not be made: ${(err as Error).stack ?? err}`);
    code = 2;
  } finally {
    if (code === 0 && !o.keep) rmSync(data, { recursive: true, force: true });
    else console.log(`[verify] kept ${data} (logs/, report.json)`);
  }
  return code;
}

// Exits even when something of the run is still pending (a client's request to a stopped system).
process.exit(await main());
