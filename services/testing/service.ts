// Starts one of our services as a real process, under Node (tsx) or Deno, and waits for its
// "listening" log line. Tests talk to it over HTTP like any client would.
import { join } from "node:path";
import { root } from "../infra/paths.ts";
import { type Runtime, serviceCommand } from "../infra/service-command.ts";
import { ServerProcess, waitReady } from "./process.ts";

export type { Runtime };

export interface RunningService extends AsyncDisposable {
  url: string;
  proc: ServerProcess;
  /** Parsed JSON log lines printed so far. */
  logs(): Record<string, unknown>[];
  stop(): Promise<number | null>;
  kill(): Promise<void>;
}

export async function startService(opts: {
  entry: string;
  name?: string;
  runtime?: Runtime;
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Extra flags for node (e.g. --cpu-prof in benchmarks); ignored under Deno. */
  nodeArgs?: string[];
}): Promise<RunningService> {
  const { cmd, args } = serviceCommand(opts.runtime ?? "node", join(root, opts.entry), opts.nodeArgs);
  const proc = new ServerProcess({
    name: opts.name ?? opts.entry,
    cmd,
    args,
    cwd: root,
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", ...opts.env },
  });
  const logs = () =>
    proc.log.flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  let url = "";
  await waitReady(
    proc,
    opts.name ?? opts.entry,
    async () => {
      const line = logs().find((l) => l.msg === "listening" && typeof l.url === "string");
      url = (line?.url as string) ?? "";
      return url !== "";
    },
    opts.timeoutMs ?? 30_000,
  );
  return {
    url,
    proc,
    logs,
    stop: async () => {
      await proc.stop();
      return proc.exited;
    },
    kill: async () => {
      proc.killNow();
      await proc.exited;
    },
    async [Symbol.asyncDispose]() {
      await proc.stop();
    },
  };
}
