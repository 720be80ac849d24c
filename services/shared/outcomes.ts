// What became of a write command, in the consumer's words: a domain outcome, never an HTTP status.
// The consumer answers it on the command's Reply-To subject, records the ones Postgres cannot show
// (see operations.ts) and logs every decision that is not a commit in WRITES (for replay). How an
// outcome reads over HTTP is outcome-http.ts's business, which the consumer never imports.
import { type } from "arktype";
import { decoded } from "./decoded.ts";
import { Instant } from "./timestamps.ts";
import { Uuid } from "./uuid.ts";
import { Table } from "./writes.ts";

/** Rejections: the command is well-formed and was refused by what is stored. */
export const Rejection = type("'email-taken' | 'key-reused' | 'user-not-found'");
export type Rejection = typeof Rejection.infer;

/** A decision that is not a commit: a rejection, or `failed` (moved to WRITES_DLQ). */
export const Decision = Rejection.or("'failed'");
export type Decision = typeof Decision.infer;

/**
 * committed: this delivery inserted the row. duplicate: the row was there already with the same
 * payload (an earlier delivery or request applied it).
 */
export const Outcome = Decision.or("'committed' | 'duplicate'");
export type Outcome = typeof Outcome.infer;

/**
 * The reply body: `result` (the row) for committed and duplicate, `detail` (a sentence for the
 * client) for every other outcome.
 */
export const WriteReply = decoded.type({
  operationId: Uuid,
  outcome: Outcome,
  "result?": "unknown",
  "detail?": "string",
});
export type WriteReply = typeof WriteReply.infer;

/**
 * A decision logged on `writes.outcomes.<table>` in WRITES before its reply is sent. `commandSeq`
 * is the command's stream sequence: replay (issue #10) answers each command it finds with the
 * decision logged for that sequence, and commits the others. The same decision may be logged twice
 * (a redelivery after a crash, beyond the 2-minute dedup window); readers key by commandSeq.
 * `operationId` and `requestHash` are absent only for a command that did not parse.
 */
export const DecisionEvent = type({
  commandSeq: "number.integer >= 1",
  "operationId?": Uuid,
  table: Table,
  outcome: Decision,
  "detail?": "string",
  "requestHash?": "string",
  at: Instant,
});
export type DecisionEvent = typeof DecisionEvent.infer;

export const keyReusedDetail = (operationId: string) =>
  `Idempotency-Key ${operationId} was already used for a different request; use a new key for a new write`;
