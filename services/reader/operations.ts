// GET /api/operations/:id: what became of a write. The row answers a committed write (it is the
// record); the `operations` bucket answers one that was accepted, rejected or failed; otherwise
// the operation is unknown (404). The same lookup answers the producer's deduplicated retries.
import type { KV } from "@nats-io/kv";
import type { Sql } from "postgres";
import { NotFoundError, UnavailableError, ValidationError } from "../shared/errors.ts";
import { json, type RouteHandler } from "../shared/http.ts";
import { operationView } from "../shared/outcome-http.ts";
import { lookupOutcome } from "../shared/outcome-lookup.ts";
import { isUuid } from "../shared/uuid.ts";

export function operationRoute(sql: Sql, kv: () => Promise<KV>): RouteHandler {
  return async (_req, params) => {
    const id = params.id ?? "";
    if (!isUuid(id)) {
      throw new ValidationError(`operation id "${id.slice(0, 80)}" is not a UUID`, [
        { path: "id", message: "must be a UUID" },
      ]);
    }
    const operationId = id.toLowerCase();
    let found: Awaited<ReturnType<typeof lookupOutcome>>;
    try {
      found = await lookupOutcome(sql, await kv(), operationId);
    } catch (err) {
      throw new UnavailableError(`cannot look the operation up right now: ${(err as Error).message}`, 1, {
        cause: err,
      });
    }
    if (!found) {
      throw new NotFoundError(
        `no operation ${operationId} is known (committed writes are read from their row; other outcomes are kept for 24 hours)`,
        "operation-not-found",
      );
    }
    return json(operationView(operationId, found));
  };
}
