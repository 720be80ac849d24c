// How an outcome becomes an HTTP answer, and where the outcome comes from when the consumer will
// not answer this request itself: a publish that JetStream deduplicated never reaches the consumer,
// so the producer reads the outcome the original write recorded in the `operations` bucket.
import type { KV } from "@nats-io/kv";
import { type } from "arktype";
import { UnprocessableError } from "../shared/errors.ts";
import { json, problemBody, textResponse } from "../shared/http.ts";
import { OperationRecord } from "../shared/operations.ts";
import { entityPath, resultKey, type Table, type WriteReply } from "../shared/writes.ts";

export type Outcome = Pick<WriteReply, "operationId" | "status" | "httpStatus" | "result" | "error">;

/**
 * 201 for the first apply; 200 + `Idempotent-Replayed: true` with the same body when the write had
 * already been applied; the recorded problem (409, 422, 500) otherwise.
 */
export function respond(table: Table, outcome: Outcome, replayed: boolean): Response {
  const id = outcome.operationId;
  if (outcome.status === "committed" || outcome.status === "duplicate") {
    const again = replayed || outcome.status === "duplicate";
    return json({ operationId: id, [resultKey[table]]: outcome.result }, again ? 200 : 201, {
      location: entityPath(table, id),
      ...(again ? { "idempotent-replayed": "true" } : {}),
    });
  }
  const body = { ...(outcome.error ?? problemBody(undefined)), operationId: id };
  return textResponse(JSON.stringify(body), {
    status: outcome.httpStatus,
    headers: { "content-type": "application/problem+json" },
  });
}

export function keyReused(operationId: string): Outcome {
  const err = new UnprocessableError(
    `Idempotency-Key ${operationId} was already used for a different request; use a new key for a new write`,
    "idempotency-key-reused",
  );
  return { operationId, status: "rejected", httpStatus: 422, error: problemBody(err) };
}

const finalStatuses = new Set(["committed", "duplicate", "rejected", "failed"]);

/**
 * The recorded outcome of `operationId` once it is final (not `accepted`), or undefined at the
 * deadline. A final record made by another payload means the key was reused: 422.
 */
export async function awaitRecordedOutcome(
  kv: KV,
  operationId: string,
  hash: string,
  deadline: number,
): Promise<Outcome | undefined> {
  const asOutcome = (value: unknown): Outcome | undefined => {
    const r = OperationRecord(value);
    if (r instanceof type.errors || !finalStatuses.has(r.status)) return undefined;
    if (r.requestHash !== undefined && r.requestHash !== hash) return keyReused(operationId);
    return {
      operationId,
      status: r.status as Outcome["status"],
      httpStatus: r.httpStatus,
      result: r.result,
      error: r.error,
    };
  };
  if (deadline <= performance.now()) return undefined;
  // The watch delivers the current value first, then every change, so nothing slips between a get
  // and the start of the watch.
  const watch = await kv.watch({ key: operationId });
  const timer = setTimeout(() => watch.stop(), Math.max(0, deadline - performance.now()));
  try {
    for await (const e of watch) {
      if (e.operation !== "PUT" || e.length === 0) continue;
      let value: unknown;
      try {
        value = e.json();
      } catch {
        continue;
      }
      const outcome = asOutcome(value);
      if (outcome) return outcome;
    }
    return undefined;
  } finally {
    clearTimeout(timer);
    watch.stop();
  }
}
