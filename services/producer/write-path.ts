// POST /api/users and /api/orders: publish the command with its Reply-To subject and answer with
// the committed outcome. The producer never claims more than it knows:
//   - no PubAck (NATS down, stream missing or full)  → 503 + Retry-After; nothing may have been stored
//   - PubAck, no outcome before the deadline          → 202 + Location of the operation; it will land
//   - PubAck marked duplicate (an identical retry)    → the outcome the original recorded, as a replay
//   - the consumer's reply                            → 201, 200 replay, 409, 422 as it says
import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { errors, headers as natsHeaders } from "@nats-io/nats-core";
import { AppError, UnavailableError } from "../shared/errors.ts";
import { json, type RouteHandler } from "../shared/http.ts";
import type { Logger } from "../shared/log.ts";
import type { Registry } from "../shared/metrics.ts";
import { recordAccepted } from "../shared/operations.ts";
import { operationPath, replyToHeader, type Table, writeSubject, writesStream } from "../shared/writes.ts";
import { awaitRecordedOutcome, type Outcome, respond } from "./outcome.ts";
import type { ReplyInbox } from "./replies.ts";
import { parseWriteRequest, type WriteRequest } from "./request.ts";

export interface WritePathDeps {
  js: JetStreamClient;
  kv: KV;
  inbox: ReplyInbox;
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
  const pending = deps.inbox.expect();
  const h = natsHeaders();
  h.set(replyToHeader, pending.subject);
  if (w.traceparent) h.set("traceparent", w.traceparent);
  let duplicate: boolean;
  try {
    const ack = await deps.js.publish(writeSubject(w.table), w.body, {
      msgID: w.msgId,
      headers: h,
      // The deadline bounds the wait for the commit; the PubAck gets at least a second (so a short
      // WRITE_TIMEOUT_MS, or 0 for "always 202", does not turn a slow ack into a 503).
      timeout: Math.max(1000, deadline - performance.now()),
    });
    duplicate = ack.duplicate;
  } catch (err) {
    pending.cancel();
    const reason = publishFailure(err, w.table);
    log.warn("write refused: not acknowledged by JetStream", { operationId: id, table: w.table, reason });
    throw unavailable(id, `the write was not accepted: ${reason}`, err);
  }

  let outcome: Outcome | undefined;
  if (duplicate) {
    // The same payload under the same key is already in the stream and will not be delivered
    // again: its outcome is (or will be) the one the original recorded.
    pending.cancel();
    log.info("identical retry deduplicated by JetStream; answering the original outcome", {
      operationId: id,
      table: w.table,
    });
    outcome = await awaitRecordedOutcome(deps.kv, id, w.hash, deadline).catch((err) => {
      log.warn("could not read the recorded outcome", { operationId: id, err });
      return undefined;
    });
  } else {
    outcome = await pending.until(deadline);
  }
  if (outcome) {
    if (log.enabled("debug")) log.debug("write answered", { operationId: id, status: outcome.status });
    return respond(w.table, outcome, duplicate);
  }

  // Durably in JetStream, not yet applied (consumer slow, stopped, or Postgres down).
  log.info("write accepted, outcome not known within the deadline", { operationId: id, table: w.table });
  await recordAccepted(deps.kv, id, w.table).catch((err) => {
    log.warn("could not record the accepted operation", { operationId: id, err });
  });
  return json({ operationId: id, status: "accepted" }, 202, { location: operationPath(id) });
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

function publishFailure(err: unknown, table: Table): string {
  const name = (err as Error).name;
  if (name === "JetStreamNotEnabled" || (err instanceof errors.RequestError && err.isNoResponders())) {
    return `no stream captures ${writeSubject(table)} (stream ${writesStream} not found: run just streams apply)`;
  }
  if (err instanceof errors.TimeoutError) return "JetStream did not acknowledge it in time";
  if (name === "JetStreamApiError") return `JetStream refused it (${(err as Error).message})`;
  return (err as Error).message || String(err);
}
