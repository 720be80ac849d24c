// Debezium change events (JSON, schemas disabled) parsed at the boundary into what the cache needs:
// the table, the ids it touched (before and after), and the commit time. A bad event is data, never
// an exception: it comes back as `malformed`, with the table when the subject names one, because
// invalidating that whole table is the safe answer to a change we cannot read.
//
// Shapes seen from Debezium Server 3.6.1 with pgoutput (cdc-event.test.ts keeps real samples):
//   c: before null, after = new row
//   u: users (REPLICA IDENTITY DEFAULT): before null unless the key changed; orders (FULL): old row
//   d: before = old row (users: id only, other columns blank), after null
//   t: before and after null, one event per truncated table
// A primary-key UPDATE arrives as d (old id) + c (new id).
import { type } from "arktype";
import { cdcHeartbeatPrefix, cdcTablePrefix } from "../shared/cdc.ts";
import { decoded } from "../shared/decoded.ts";
import { Uuid as uuid } from "../shared/uuid.ts";
import { Table } from "../shared/writes.ts";
import type { Invalidation } from "./keys.ts";

const Row = type({ "id?": uuid, "user_id?": uuid, "+": "ignore" }).or("null");

const Source = type({
  "table?": "string",
  "schema?": "string",
  /** Commit time of the transaction (ms); ts_us (3.x) is finer. */
  ts_ms: "number",
  "ts_us?": "number",
  "lsn?": "number | null",
  "txId?": "number | null",
  "+": "ignore",
});

export const ChangeEvent = decoded.type({
  op: "'c' | 'u' | 'd' | 'r' | 't' | 'm'",
  "before?": Row,
  "after?": Row,
  source: Source,
  "+": "ignore",
});
export type ChangeEvent = typeof ChangeEvent.infer;

export type ParsedChange =
  | {
      kind: "change";
      op: "c" | "u" | "d" | "r" | "t";
      invalidation: Invalidation;
      ids: string[];
      /** Commit time in microseconds since the epoch. */
      commitTsUs: number;
      lsn?: number;
    }
  | { kind: "heartbeat" }
  | { kind: "ignored"; reason: string }
  | { kind: "malformed"; table?: Table; reason: string };

function tableOf(subject: string): Table | "other" | undefined {
  if (!subject.startsWith(cdcTablePrefix)) return undefined;
  const t = subject.slice(cdcTablePrefix.length);
  return Table.allows(t) ? t : "other";
}

export function parseChange(subject: string, payload: Uint8Array | string): ParsedChange {
  if (subject.startsWith(cdcHeartbeatPrefix)) return { kind: "heartbeat" };
  const table = tableOf(subject);
  if (table === undefined) return { kind: "ignored", reason: `subject ${subject} is not a table's` };
  if (table === "other")
    return { kind: "ignored", reason: `no cache holds ${subject.slice(cdcTablePrefix.length)}` };
  const malformed = (reason: string): ParsedChange => ({ kind: "malformed", table, reason });

  let raw: unknown;
  try {
    raw = JSON.parse(typeof payload === "string" ? payload : new TextDecoder().decode(payload));
  } catch (err) {
    return malformed(`not JSON: ${(err as Error).message}`);
  }
  const ev = ChangeEvent(raw);
  if (ev instanceof type.errors) return malformed(ev.summary);
  if (ev.op === "m") return { kind: "ignored", reason: "logical decoding message" };
  if (ev.source.table !== undefined && ev.source.table !== table) {
    return malformed(`subject names ${table} but source.table is ${ev.source.table}`);
  }
  const commitTsUs = ev.source.ts_us ?? ev.source.ts_ms * 1000;
  const lsn = typeof ev.source.lsn === "number" ? { lsn: ev.source.lsn } : {};
  if (ev.op === "t") {
    return { kind: "change", op: "t", invalidation: { kind: "table", table }, ids: [], commitTsUs, ...lsn };
  }
  const rows = [ev.before, ev.after].filter((r) => r != null);
  const ids = unique(rows.map((r) => r.id));
  if (ids.length === 0) return malformed(`op ${ev.op} without a row id in before or after`);
  if ((ev.op === "c" || ev.op === "r") && !ev.after) return malformed(`op ${ev.op} without after`);
  if (ev.op === "d" && !ev.before) return malformed("op d without before");
  // An order's list membership hangs on user_id: both the old and the new owner's lists change.
  const userIds = table === "orders" ? unique(rows.map((r) => r.user_id)) : [];
  if (table === "orders" && userIds.length === 0) return malformed(`order change without user_id`);
  return {
    kind: "change",
    op: ev.op,
    invalidation: { kind: "rows", table, ids, userIds },
    ids,
    commitTsUs,
    ...lsn,
  };
}

const unique = (xs: (string | undefined)[]) => [...new Set(xs.filter((x): x is string => !!x))];
