// The outcome of every write, keyed by operationId in the `operations` KV bucket. The consumer
// records committed/duplicate/rejected/failed; the producer records `accepted` when it answers 202;
// the reader serves GET /api/operations/:id from it.
import type { KV } from "@nats-io/kv";
import { type } from "arktype";
import { NotFoundError, ValidationError } from "./errors.ts";
import { json, type RouteHandler } from "./http.ts";

export const operationsBucket = "operations";

export const OperationStatus = type("'accepted' | 'committed' | 'duplicate' | 'rejected' | 'failed'");
export type OperationStatus = typeof OperationStatus.infer;

export const OperationRecord = type({
  operationId: "string.uuid",
  "table?": "'users' | 'orders'",
  status: OperationStatus,
  httpStatus: "number.integer",
  "result?": "unknown",
  /** A problem object (type, title, status, detail) when the write was rejected or failed. */
  "error?": "Record<string, unknown>",
  /**
   * Identity of the payload that produced this outcome (see requestHash in writes.ts): a retry
   * answered from this record must carry the same payload, else it reused the key (422).
   */
  "requestHash?": "string",
  updatedAt: "string",
});
export type OperationRecord = typeof OperationRecord.infer;

export const isUuid = (s: string) =>
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);

export async function getOperation(kv: KV, operationId: string): Promise<OperationRecord | undefined> {
  const entry = await kv.get(operationId);
  if (entry?.operation !== "PUT" || entry.length === 0) return undefined;
  const parsed = OperationRecord(entry.json());
  // A record that does not parse was not written by us (someone used `nats kv put`): treat as unknown.
  return parsed instanceof type.errors ? undefined : parsed;
}

/** Records a final outcome (overwrites `accepted` or an earlier attempt's record). */
export async function putOperation(kv: KV, record: OperationRecord): Promise<void> {
  await kv.put(record.operationId, JSON.stringify(record));
}

/**
 * Records `accepted` only if nothing is recorded yet: a final outcome that raced ahead of the
 * producer's deadline must never be overwritten by "accepted".
 */
export async function recordAccepted(kv: KV, operationId: string, table: "users" | "orders"): Promise<void> {
  const record: OperationRecord = {
    operationId,
    table,
    status: "accepted",
    httpStatus: 202,
    updatedAt: new Date().toISOString(),
  };
  try {
    await kv.create(operationId, JSON.stringify(record));
  } catch (err) {
    // "wrong last sequence": a record exists already, which is exactly what we wanted to respect.
    if (!/wrong last sequence|exists/i.test((err as Error).message)) throw err;
  }
}

/** GET /api/operations/:id */
export function operationRoute(kv: KV): RouteHandler {
  return async (_req, params) => {
    const id = params.id ?? "";
    if (!isUuid(id)) {
      throw new ValidationError(`operation id "${id}" is not a UUID`, [
        { path: "id", message: "must be a UUID" },
      ]);
    }
    const record = await getOperation(kv, id.toLowerCase());
    if (!record)
      throw new NotFoundError(
        `no operation ${id} is known (outcomes are kept for 24 hours)`,
        "operation-not-found",
      );
    return json(record);
  };
}
