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
import { lastingFreePort } from "../../services/testing/ports.ts";
import { parseCommandLine } from "../lib/args.ts";
import { optionsConfig, parseOptions, tinyLimits, usage, type VerifyOptions } from "./options.ts";

const portVariables = [
  "JPW_NATS_PORT",
  "JPW_NATS_MONITOR_PORT",
  "JPW_PG_PORT",
  "JPW_REDIS_PORT",
  "JPW_HTTP_PORT",
  "JPW_PRODUCER_PORT",
  "JPW_READER_PORT",
  "JPW_CONSUMER_PORT",
  "JPW_DEBEZIUM_PORT",
];

/** The stack's JPW_<NAME>_PORT_<n> (ops/lib/stack-config.ts: stackReplicaPorts) of a cluster. */
const clusterPortVariables = [
  "JPW_NATS_PORT_2",
  "JPW_NATS_PORT_3",
  "JPW_NATS_MONITOR_PORT_2",
  "JPW_NATS_MONITOR_PORT_3",
  "JPW_NATS_CLUSTER_PORT",
  "JPW_NATS_CLUSTER_PORT_2",
  "JPW_NATS_CLUSTER_PORT_3",
  "JPW_PRODUCER_PORT_2",
  "JPW_CONSUMER_PORT_2",
];

async function main(): Promise<number> {
  const { values } = parseCommandLine({ options: optionsConfig }, usage);
  let o: VerifyOptions;
  try {
    o = parseOptions(values);
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  // A cluster (--cluster): three nats-servers with their route ports, two producers and consumers.
  const variables = o.cluster ? [...portVariables, ...clusterPortVariables] : portVariables;
  // Ports below the ephemeral range: a server restarted by a fault must find its port still free.
  const ports = new Set<number>();
  while (ports.size < variables.length) ports.add(await lastingFreePort());
  const data = mkdtempSync(join(tmpdir(), "jpw-verify-"));
  // Postgres runs as its own user when we are root: it must reach its folder under this one.
  chmodSync(data, 0o755);
  const env: Record<string, string> = {
    JPW_DATA_DIR: data,
    JPW_PROFILE: "local",
    ...Object.fromEntries(variables.map((v, i) => [v, String([...ports][i])])),
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

process.exitCode = await main();
