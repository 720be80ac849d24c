// The checker's command line, and the environment each option means for the stack it starts.
import { parseDuration } from "../../services/infra/reconcile/units.ts";
import { freshSeed } from "./rng.ts";

export interface VerifyOptions {
  seed: number;
  durationMs: number;
  clients: number;
  /** all, none, or a comma list of kinds and kind:target pairs (faults.ts). */
  faults: string;
  limits: "default" | "tiny";
  /** Keep the data folder (logs, report.json) even when the run passes. */
  keep: boolean;
  cluster: boolean;
}

export const usage = `usage: just verify [--seed N] [--duration 90s|10m|2h] [--clients N]
                   [--faults all|none|kill,pause,restart,down,slow,cut,reset|kind:target,...]
                   [--limits default|tiny] [--keep] [--cluster]`;

export const optionsConfig = {
  seed: { type: "string" },
  duration: { type: "string" },
  clients: { type: "string" },
  faults: { type: "string" },
  limits: { type: "string" },
  keep: { type: "boolean" },
  cluster: { type: "boolean" },
} as const;

export function parseOptions(values: Record<string, string | boolean | undefined>): VerifyOptions {
  const seed = values.seed === undefined ? freshSeed() : Number(values.seed);
  if (!Number.isSafeInteger(seed) || seed <= 0)
    throw new Error(`--seed must be a positive integer (got ${values.seed})`);
  const durationMs = Math.round(parseDuration(String(values.duration ?? "90s")) / 1e6);
  if (durationMs < 20_000) throw new Error("--duration must be at least 20s");
  const clients = Number(values.clients ?? 8);
  if (!Number.isInteger(clients) || clients < 1 || clients > 256) throw new Error("--clients must be 1-256");
  const limits = String(values.limits ?? "default");
  if (limits !== "default" && limits !== "tiny") throw new Error("--limits must be default or tiny");
  return {
    seed,
    durationMs,
    clients,
    faults: String(values.faults ?? "all"),
    limits,
    keep: values.keep === true,
    cluster: values.cluster === true,
  };
}

/**
 * Stream and bucket limits small enough that days of retention pass in minutes at the checker's
 * rate (tens of writes a second): history trimmed within a minute, change events dropped before
 * a paused reader reads them, rejected writes' records evicted, and the backlog bound reached
 * while a writer is down. The dead-letter queue keeps its size: it must hold all the garbage.
 */
export const tinyLimits: Record<string, string> = {
  JPW_HISTORY_MAX_AGE: "1m",
  JPW_HISTORY_MAX_BYTES: "256KiB",
  JPW_WRITES_MAX_BYTES: "16MiB",
  JPW_BACKLOG_MAX_MSGS: "300",
  JPW_CDC_MAX_BYTES: "1MiB",
  JPW_OPERATIONS_MAX_BYTES: "1MiB",
};
