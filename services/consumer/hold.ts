// Holding: a step of a command's outcome that fails (the dead-letter queue refuses, the outcome
// store is down) is retried with backoff while the message is neither acked nor naked. A nak would
// spend a delivery toward max_deliver and, at the end, abandon the command; holding keeps it ours
// (working() stops its redelivery), names the cause in /readyz and the metrics, and completes the
// moment the cause is fixed. Holding is bounded by the writer's max in flight; commits keep flowing.
import { setTimeout as sleep } from "node:timers/promises";
import type { JsMsg } from "@nats-io/jetstream";
import type { Logger } from "../shared/log.ts";
import type { HoldCause, InFlight } from "./in-flight.ts";
import { describe, type RetryPolicy, retryDelay } from "./retry.ts";

export interface HoldContext {
  inFlight: InFlight;
  log: Logger;
  retry: RetryPolicy;
  /** Aborted at shutdown: a held step gives up and its message is naked for another delivery. */
  signal: AbortSignal;
}

/** Thrown out of a held step at shutdown. */
export class Stopped extends Error {
  override name = "Stopped";
}

/** Retries while held: quick at first, then every few seconds, so a fix is picked up soon. */
const holdMaxMs = 5000;

export async function holding<T>(
  ctx: HoldContext,
  m: JsMsg,
  cause: HoldCause,
  fn: () => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      const value = await fn();
      if (attempt > 1) ctx.log.info("held command released", { seq: m.seq, cause, attempts: attempt });
      ctx.inFlight.unhold(m);
      return value;
    } catch (err) {
      if (ctx.signal.aborted) throw new Stopped("shutting down", { cause: err });
      ctx.inFlight.hold(m, cause, describe(err));
      if (attempt === 1 || attempt % 20 === 0) {
        ctx.log.warn(`holding a command: ${cause} fails; retrying`, {
          seq: m.seq,
          attempt,
          err: describe(err),
        });
      }
      const delay = retryDelay(attempt, {
        baseMs: ctx.retry.baseMs,
        maxMs: Math.min(holdMaxMs, ctx.retry.maxMs),
      });
      try {
        await sleep(delay, undefined, { signal: ctx.signal });
      } catch {
        throw new Stopped("shutting down", { cause: err });
      }
    }
  }
}
