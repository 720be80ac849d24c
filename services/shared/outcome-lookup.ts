// Where a reader of outcomes looks, in this order: the row (either table) → committed; else the
// `operations` record → rejected, failed or accepted; else nothing is known. Used by the producer's
// deduplicated retry and by the reader's GET /api/operations/:id, so both tell the same story.
import type { KV } from "@nats-io/kv";
import type { Sql } from "postgres";
import { getOperation, type OperationRecord } from "./operations.ts";
import { keyReusedDetail, type WriteReply } from "./outcomes.ts";
import { type OrderRow, orderResult, rowHash, type UserRow, userResult } from "./rows.ts";
import { isoTimestampFormat } from "./timestamps.ts";
import type { OrderResult, Table, UserResult } from "./writes.ts";

export type Found =
  | { kind: "row"; table: Table; result: UserResult | OrderResult; requestHash: string }
  | { kind: "record"; record: OperationRecord };

type LookupRow = Partial<UserRow & OrderRow> & { table: Table; id: string; created_at: string };

/** The committed row of `operationId`, from whichever table holds it. */
export async function findRow(sql: Sql, operationId: string): Promise<Found | undefined> {
  const [row] = await sql<LookupRow[]>`
    select 'users' as table, u.id, u.name, u.email, null::uuid as user_id, null::jsonb as items,
      null::text as total, to_char(u.created_at at time zone 'UTC', ${isoTimestampFormat}) as created_at
    from users u where u.id = ${operationId}
    union all
    select 'orders', o.id, null, null, o.user_id, o.items, o.total::text,
      to_char(o.created_at at time zone 'UTC', ${isoTimestampFormat})
    from orders o where o.id = ${operationId}
    limit 1`;
  if (!row) return undefined;
  const result = row.table === "users" ? userResult(row as UserRow) : orderResult(row as OrderRow);
  return { kind: "row", table: row.table, result, requestHash: rowHash(row.table, result) };
}

/** The outcome of `operationId` as far as anything durable tells it, or undefined. */
export async function lookupOutcome(sql: Sql, kv: KV, operationId: string): Promise<Found | undefined> {
  const row = await findRow(sql, operationId);
  if (row) return row;
  const record = await getOperation(kv, operationId);
  return record && { kind: "record", record };
}

/**
 * What a retry of (`table`, payload `hash`) under `operationId` is answered, given what was found:
 * the row as a duplicate when it was made by the same payload, key-reused when by another (or in
 * the other table), a recorded decision (its payload's or key-reused); undefined while the write is
 * only accepted or unknown.
 */
export function answerRetry(
  found: Found | undefined,
  operationId: string,
  table: Table,
  hash: string,
): WriteReply | undefined {
  const reused: WriteReply = { operationId, outcome: "key-reused", detail: keyReusedDetail(operationId) };
  if (!found) return undefined;
  if (found.kind === "row") {
    return found.table === table && found.requestHash === hash
      ? { operationId, outcome: "duplicate", result: found.result }
      : reused;
  }
  const r = found.record;
  if (r.outcome === "accepted") return undefined;
  if (r.table !== table || (r.requestHash !== undefined && r.requestHash !== hash)) return reused;
  return { operationId, outcome: r.outcome, ...(r.detail ? { detail: r.detail } : {}) };
}
