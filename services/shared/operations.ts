// The `operations` KV bucket: operationId → the outcome of a write that Postgres cannot show. A
// committed write is never recorded here (its row is its record), so no limit of this bucket can
// make a commit fail. What is recorded:
//   accepted                      by the producer when it answers 202 (only if nothing is recorded)
//   email-taken, user-not-found   by the consumer before it replies (a key-reused answer is not
//                                 recorded: the key belongs to the original write)
//   failed                        by the consumer once the command is in WRITES_DLQ
// Records live 24 hours; the bucket discards its oldest records when full rather than refusing.
import type { KV } from "@nats-io/kv";
import { type } from "arktype";
import { Uuid } from "./uuid.ts";
import { Table } from "./writes.ts";

export const operationsBucket = "operations";

export const RecordedOutcome = type("'accepted' | 'email-taken' | 'user-not-found' | 'failed'");
export type RecordedOutcome = typeof RecordedOutcome.infer;

export const OperationRecord = type({
  operationId: Uuid,
  table: Table,
  outcome: RecordedOutcome,
  /** The sentence the client was told (rejected, failed). */
  "detail?": "string",
  /**
   * Identity of the payload that was decided (see requestHash in writes.ts): a retry answered
   * from this record must carry the same payload, else it reused the key (422).
   */
  "requestHash?": "string",
  /** The command's sequence in WRITES: a redelivery of exactly that command repeats this answer. */
  "commandSeq?": "number.integer >= 1",
  updatedAt: "string",
});
export type OperationRecord = typeof OperationRecord.infer;

/** Records written before issue #9 (`{status, httpStatus, error?}`), readable for their 24 hours. */
const LegacyRecord = type({
  operationId: Uuid,
  table: Table,
  status: "string",
  "error?": { "type?": "string", "detail?": "string" },
  "requestHash?": "string",
  updatedAt: "string",
});

function fromLegacy(value: unknown): OperationRecord | undefined {
  const r = LegacyRecord(value);
  if (r instanceof type.errors) return undefined;
  const problem = r.error?.type?.replace("/problems/", "");
  const outcome =
    r.status === "accepted" || r.status === "failed"
      ? r.status
      : r.status === "rejected" && (problem === "email-taken" || problem === "user-not-found")
        ? problem
        : undefined;
  // A committed record says nothing the row does not.
  if (!outcome) return undefined;
  return {
    operationId: r.operationId,
    table: r.table,
    outcome,
    ...(r.error?.detail ? { detail: r.error.detail } : {}),
    ...(r.requestHash ? { requestHash: r.requestHash } : {}),
    updatedAt: r.updatedAt,
  };
}

export function parseRecord(value: unknown): OperationRecord | undefined {
  const r = OperationRecord(value);
  return r instanceof type.errors ? fromLegacy(value) : r;
}

export async function getOperation(kv: KV, operationId: string): Promise<OperationRecord | undefined> {
  const entry = await kv.get(operationId);
  if (entry?.operation !== "PUT" || entry.length === 0) return undefined;
  let value: unknown;
  try {
    value = entry.json();
  } catch {
    return undefined;
  }
  // A record that does not parse was not written by us (someone used `nats kv put`): unknown.
  return parseRecord(value);
}

export async function putOperation(kv: KV, record: OperationRecord): Promise<void> {
  await kv.put(record.operationId, JSON.stringify(record));
}

/** Records `record` unless a decision (anything but `accepted`) is recorded already. */
export async function recordIfUndecided(kv: KV, record: OperationRecord): Promise<void> {
  const entry = await kv.get(record.operationId);
  if (entry?.operation === "PUT" && entry.length > 0) {
    let current: OperationRecord | undefined;
    try {
      current = parseRecord(entry.json());
    } catch {}
    if (current && current.outcome !== "accepted") return;
    await kv.update(record.operationId, JSON.stringify(record), entry.revision);
  } else {
    await kv.create(record.operationId, JSON.stringify(record));
  }
}

/**
 * Records `accepted` only if nothing is recorded yet: a decision that raced ahead of the
 * producer's deadline must never be overwritten by "accepted".
 */
export async function recordAccepted(kv: KV, operationId: string, table: Table): Promise<void> {
  const record: OperationRecord = {
    operationId,
    table,
    outcome: "accepted",
    updatedAt: new Date().toISOString(),
  };
  try {
    await kv.create(operationId, JSON.stringify(record));
  } catch (err) {
    // "wrong last sequence": a record exists already, which is exactly what we wanted to respect.
    if (!/wrong last sequence|exists/i.test((err as Error).message)) throw err;
  }
}
