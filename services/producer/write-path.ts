// POST /api/users and /api/orders: publish the command with its Reply-To subject and answer with
// the committed outcome. The producer never claims more than it knows:
//   - the writer's backlog at its bound                → 503 backlog-full + Retry-After; not published
//   - not sent, or refused (NATS down, stream missing or full) → 503 unavailable; nothing was stored
//   - sent, no PubAck (timeout, connection lost)       → 503 outcome-unknown: it may have been stored
//                                                        and applied; retry with the same key
//   - PubAck, no outcome before the deadline            → 202 + Location of the operation; it will land
//   - PubAck marked duplicate (an identical retry)      → the original's outcome, as a replay
//   - the consumer's reply                              → 201, 200 replay, 409, 422, 500 as it says
import { JetStreamApiError, type JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { errors, headers as natsHeaders } from "@nats-io/nats-core";
import type { Sql } from "postgres";
import { AppError, OutcomeUnknownError, UnavailableError } from "../shared/errors.ts";
import { json, type RouteHandler } from "../shared/http.ts";
import type { Logger } from "../shared/log.ts";
import type { Registry } from "../shared/metrics.ts";
import { recordAccepted } from "../shared/operations.ts";
import { writeResponse } from "../shared/outcome-http.ts";
import type { WriteReply } from "../shared/outcomes.ts";
import { operationPath, replyToHeader, type Table, writeSubject, writesStream } from "../shared/writes.ts";
import type { Backlog } from "./backlog.ts";
import { lookUpUntil, type Originals } from "./outcome.ts";
import type { ReplyInbox } from "./replies.ts";
import { parseWriteRequest, type WriteRequest } from "./request.ts";
import { together } from "./together.ts";

export interface WritePathDeps {
  js: JetStreamClient;
  kv: KV;
  /** Read-only (jpw_producer): a deduplicated retry is answered from the row. */
  sql: Sql;
  inbox: ReplyInbox;
  backlog: Backlog;
  originals: Originals;
  /** False while the NATS connection is down: answer 503 at once instead of queueing the publish. */
  connected: () => boolean;
  log: Logger;
  metrics: ReturnType<typeof writeMetrics>;
  /** How long a request waits for the committed outcome before answering 202. */
  timeoutMs: number;
}

export function writeMetrics(registry: Registry) {
  return {
    requests: registry.counter("jpw_producer_writes_total", "Write requests by table and HTTP status"),
    seconds: registry.histogram("jpw_producer_write_seconds", "Time from request to answer, by table"),
    inFlight: registry.gauge("jpw_producer_writes_in_flight", "Write requests waiting for their outcome"),
  };
}

export function writeRoute(deps: WritePathDeps, table: Table): RouteHandler {
  let inFlight = 0;
  return async (req) => {
    const started = performance.now();
    deps.metrics.inFlight.set(++inFlight, { table });
    let status = 500;
    try {
      const w = await parseWriteRequest(req, table);
      const res = await submit(deps, w, started + deps.timeoutMs);
      status = res.status;
      return res;
    } catch (err) {
      if (err instanceof AppError) status = err.status;
      throw err;
    } finally {
      deps.metrics.inFlight.set(--inFlight, { table });
      deps.metrics.requests.inc({ table, status });
      deps.metrics.seconds.observe((performance.now() - started) / 1000, { table });
    }
  };
}

async function submit(deps: WritePathDeps, w: WriteRequest, deadline: number): Promise<Response> {
  const { log } = deps;
  const id = w.operationId;
  if (!deps.connected()) {
    log.warn("write refused: NATS is not connected", { operationId: id, table: w.table });
    throw unavailable(id, "NATS is not connected, so the write was not accepted");
  }
  try {
    await deps.backlog.admit(w.table);
  } catch (err) {
    if (err instanceof AppError) err.extra.operationId = id;
    log.warn("write refused before publishing", {
      operationId: id,
      table: w.table,
      reason: (err as Error).message,
    });
    throw err;
  }
  const pending = deps.inbox.expect();
  const h = natsHeaders();
  h.set(replyToHeader, pending.subject);
  if (w.traceparent) h.set("traceparent", w.traceparent);
  let duplicate: boolean;
  try {
    const ack = await deps.backlog.counting(w.table, () =>
      together(() =>
        deps.js.publish(writeSubject(w.table), w.body, {
          msgID: w.msgId,
          headers: h,
          // The deadline bounds the wait for the commit; the PubAck gets at least a second (so a short
          // WRITE_TIMEOUT_MS, or 0 for "always 202", does not turn a slow ack into a 503).
          timeout: Math.max(1000, deadline - performance.now()),
        }),
      ),
    );
    duplicate = ack.duplicate;
  } catch (err) {
    pending.cancel();
    const reason = publishFailure(err, w.table);
    if (refused(err)) {
      log.warn("write refused: not accepted by JetStream", { operationId: id, table: w.table, reason });
      throw unavailable(id, `the write was not accepted: ${reason}`, err);
    }
    // The command was sent and may be stored (and applied) although its PubAck never came: saying
    // "not accepted" would make a client without the key write it twice.
    log.warn("write outcome unknown: no acknowledgement from JetStream", {
      operationId: id,
      table: w.table,
      reason,
    });
    throw outcomeUnknown(id, reason, err);
  }

  let reply: WriteReply | undefined;
  if (duplicate) {
    // The same payload under the same key is already in the stream and will not be delivered
    // again: answer the original's outcome, from its request if this process has it in flight.
    pending.cancel();
    log.info("identical retry deduplicated by JetStream; answering the original outcome", {
      operationId: id,
      table: w.table,
    });
    const original = deps.originals.get(w.msgId);
    if (original) reply = await untilDeadline(original, deadline);
    reply ??= await lookUpUntil(deps, id, w.table, w.hash, deadline);
  } else {
    const answer = pending.until(deadline);
    deps.originals.track(w.msgId, answer);
    reply = await answer;
  }
  if (reply) {
    if (log.enabled("debug")) log.debug("write answered", { operationId: id, outcome: reply.outcome });
    return writeResponse(w.table, reply, duplicate);
  }

  // Durably in JetStream, not yet applied (consumer slow, stopped, or Postgres down).
  log.info("write accepted, outcome not known within the deadline", { operationId: id, table: w.table });
  await recordAccepted(deps.kv, id, w.table).catch((err) => {
    log.warn("could not record the accepted operation", { operationId: id, err });
  });
  return json({ operationId: id, status: "accepted" }, 202, { location: operationPath(id) });
}

/** `answer`, or undefined once `deadline` (performance.now() ms) has passed. */
async function untilDeadline<T>(answer: Promise<T>, deadline: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), Math.max(0, deadline - performance.now()));
  });
  try {
    return await Promise.race([answer, late]);
  } finally {
    clearTimeout(timer);
  }
}

function unavailable(operationId: string, message: string, cause?: unknown): UnavailableError {
  const err = new UnavailableError(
    `${message}. Retry with the header Idempotency-Key: ${operationId}, so that a write that did get through is not made twice.`,
    1,
    { cause },
  );
  err.extra.operationId = operationId;
  return err;
}

/** The client must retry with this id, or it cannot tell whether the write was applied. */
function outcomeUnknown(operationId: string, reason: string, cause: unknown): OutcomeUnknownError {
  const err = new OutcomeUnknownError(
    `the write may or may not have been accepted (${reason}). Retry with the header Idempotency-Key: ${operationId} and the same body: if the first one got through, the retry answers its outcome; if not, it is applied once.`,
    1,
    { cause },
  );
  err.extra.operationId = operationId;
  return err;
}

/**
 * Whether JetStream certainly did not store the command: it answered with an error (stream full,
 * refused), or nothing listens on the subject (no stream). A timeout or a lost connection leaves
 * the outcome unknown: the publish may have reached the server.
 */
function refused(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError ||
    (err as Error).name === "JetStreamNotEnabled" ||
    (err instanceof errors.RequestError && err.isNoResponders())
  );
}

function publishFailure(err: unknown, table: Table): string {
  const name = (err as Error).name;
  if (name === "JetStreamNotEnabled" || (err instanceof errors.RequestError && err.isNoResponders())) {
    return `no stream captures ${writeSubject(table)} (stream ${writesStream} not found: run just streams apply)`;
  }
  if (err instanceof errors.TimeoutError) return "JetStream did not acknowledge it in time";
  if (err instanceof JetStreamApiError) return `JetStream refused it (${(err as Error).message})`;
  return (err as Error).message || String(err);
}
