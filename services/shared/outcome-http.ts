// The one mapping from a write's domain outcome (outcomes.ts) to HTTP, used by the producer's
// answers and the reader's GET /api/operations/:id. The consumer never imports this file.
import { type AppError, ConflictError, UnprocessableError, WriteFailedError } from "./errors.ts";
import { json, type ProblemBody, problemBody, textResponse } from "./http.ts";
import type { Found } from "./outcome-lookup.ts";
import type { Decision, WriteReply } from "./outcomes.ts";
import { entityPath, resultKey, type Table } from "./writes.ts";

const errorOf: Record<Decision, (detail: string) => AppError> = {
  "email-taken": (d) => new ConflictError(d, "email-taken"),
  "key-reused": (d) => new UnprocessableError(d, "idempotency-key-reused"),
  "user-not-found": (d) => new UnprocessableError(d, "user-not-found"),
  failed: (d) => new WriteFailedError(d),
};

const fallbackDetail: Record<Decision, string> = {
  "email-taken": "the email is already taken",
  "key-reused": "the Idempotency-Key was already used for a different request",
  "user-not-found": "there is no such user",
  failed: "the write could not be applied and was moved to the dead-letter queue",
};

/** The problem body of a decision, with its operationId. */
export function decisionProblem(
  outcome: Decision,
  detail: string | undefined,
  operationId: string,
): ProblemBody {
  return { ...problemBody(errorOf[outcome](detail ?? fallbackDetail[outcome])), operationId };
}

/**
 * The answer to a write: 201 for the first apply; 200 + `Idempotent-Replayed: true` with the same
 * body when it had already been applied (or `replayed`: the request was a deduplicated retry); the
 * problem of a decision (409, 422, 500) otherwise.
 */
export function writeResponse(table: Table, reply: WriteReply, replayed: boolean): Response {
  const id = reply.operationId;
  if (reply.outcome === "committed" || reply.outcome === "duplicate") {
    const again = replayed || reply.outcome === "duplicate";
    return json({ operationId: id, [resultKey[table]]: reply.result }, again ? 200 : 201, {
      location: entityPath(table, id),
      ...(again ? { "idempotent-replayed": "true" } : {}),
    });
  }
  const body = decisionProblem(reply.outcome, reply.detail, id);
  return textResponse(JSON.stringify(body), {
    status: body.status,
    headers: { "content-type": "application/problem+json" },
  });
}

/** GET /api/operations/:id's body. */
export interface OperationView {
  operationId: string;
  table: Table;
  status: "accepted" | "committed" | "rejected" | "failed";
  httpStatus: number;
  result?: unknown;
  error?: ProblemBody;
  updatedAt: string;
}

/** What the operations route shows for what the lookup found. */
export function operationView(operationId: string, found: Found): OperationView {
  if (found.kind === "row") {
    const result = found.result;
    return {
      operationId,
      table: found.table,
      status: "committed",
      httpStatus: 201,
      result,
      updatedAt: result.createdAt,
    };
  }
  const r = found.record;
  if (r.outcome === "accepted") {
    return { operationId, table: r.table, status: "accepted", httpStatus: 202, updatedAt: r.updatedAt };
  }
  const error = decisionProblem(r.outcome, r.detail, operationId);
  return {
    operationId,
    table: r.table,
    status: r.outcome === "failed" ? "failed" : "rejected",
    httpStatus: error.status,
    error,
    updatedAt: r.updatedAt,
  };
}
