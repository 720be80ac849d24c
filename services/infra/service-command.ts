// How one of our TypeScript services is started as a process: the same source under Node (tsx) or
// Deno. The local stack and the test harness both start services this way.
import { join } from "node:path";
import { root } from "./paths.ts";

export type Runtime = "node" | "deno";

/** `nodeArgs` are flags for node itself (e.g. --cpu-prof in benchmarks); Deno gets none. */
export function serviceCommand(
  runtime: Runtime,
  entry: string,
  nodeArgs: string[] = [],
): { cmd: string; args: string[] } {
  return runtime === "deno"
    ? { cmd: join(root, "node_modules", ".bin", "deno"), args: ["run", "-A", "--quiet", entry] }
    : { cmd: process.execPath, args: [...nodeArgs, "--import", "tsx", entry] };
}
