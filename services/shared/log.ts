// JSON-lines logging: one object per line with time, level, service and message, plus fields such
// as operationId. Cheap enough to leave at info in production; debug is for the hot path.
import { redactSecrets } from "./redact.ts";

export type Level = "debug" | "info" | "warn" | "error";
const rank: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  enabled(level: Level): boolean;
  child(fields: Record<string, unknown>): Logger;
}

export function createLogger(
  service: string,
  level: Level = "info",
  write: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
  base: Record<string, unknown> = {},
): Logger {
  const min = rank[level];
  const emit = (lvl: Level, msg: string, fields?: Record<string, unknown>) => {
    if (rank[lvl] < min) return;
    write(
      JSON.stringify(
        { time: new Date().toISOString(), level: lvl, service, msg, ...base, ...fields },
        errorsAsText,
      ),
    );
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    enabled: (lvl) => rank[lvl] >= min,
    child: (fields) => createLogger(service, level, write, { ...base, ...fields }),
  };
}

function errorsAsText(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const cause = value.cause instanceof Error ? `; cause: ${value.cause.message}` : "";
    // A driver's message may quote the URL it was given, password included.
    return redactSecrets(`${value.name}: ${value.message}${cause}`);
  }
  if (typeof value === "bigint") return value.toString();
  return value;
}
