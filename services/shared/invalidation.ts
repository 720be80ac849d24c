// What the reader's invalidation feed (GET /api/events) sends for each change it applied: one type
// for the reader that publishes it and the UI that shows it.
import type { Table } from "./writes.ts";

export interface InvalidationEvent {
  table: Table;
  op: "c" | "u" | "d" | "r" | "t" | "malformed";
  ids: string[];
  /** Scopes whose generation was replaced (`users`, `user:<id>`, `table:orders`, ...). */
  scopes: string[];
  /** Redis keys written (the generation keys). */
  keys: string[];
  /** Commit time from the event's source (ISO), absent for malformed events. */
  commitTs?: string;
  invalidatedAt: string;
  /** Commit → invalidation applied in Redis, from source.ts_us. */
  latencyMs?: number;
}
