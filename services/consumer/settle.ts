// How each command taken ends: committed, rejected, or dead-lettered as `failed`, in an order that
// makes any crash converge on redelivery.
//   committed, duplicate → reply (the row) → ack. The row is the record: nothing else is written.
//   a decision           → record in `operations` (not key-reused) → decision event in WRITES →
//                          reply → ack. Both writes happen before the client is told, so what it
//                          was told can always be read back and replayed.
//   dead-lettered        → WRITES_DLQ → the `failed` decision as above.
// A redelivered command that was decided before is answered the same way again, never re-decided
// (an order told user-not-found must not commit because its user appeared in the meantime).
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { getOperation, putOperation, recordIfUndecided } from "../shared/operations.ts";
import { type Decision, type DecisionEvent, keyReusedDetail, type WriteReply } from "../shared/outcomes.ts";
import {
  type Command,
  decisionSubject,
  type OrderResult,
  type Table,
  type UserResult,
  writesStream,
} from "../shared/writes.ts";
import { publishDeadLetter } from "./dead-letters.ts";
import { type HoldContext, holding, Stopped } from "./hold.ts";
import type { InFlight } from "./in-flight.ts";
import type { ConsumerMetrics } from "./metrics.ts";
import { retryDelay } from "./retry.ts";
import type { Applied } from "./store.ts";

/** A message taken, with what could be read from it (nothing, for garbage). */
export interface Taken {
  m: JsMsg;
  operationId: string | undefined;
  hash: string | undefined;
  replyTo: string | undefined;
}

/** A command that parsed. */
export interface Work extends Taken {
  command: Command;
  operationId: string;
  hash: string;
}

export interface SettleOptions {
  /** Deliveries an order for an unknown user waits (its user may still be in flight) before 422. */
  fkRetries: number;
  fkDelayMs: number;
}

export interface SettleDeps extends HoldContext {
  nc: NatsConnection;
  js: JetStreamClient;
  kv: KV;
  metrics: ConsumerMetrics;
  inFlight: InFlight;
  table: Table;
}

export class Outcomes {
  /** The consumer's max_deliver, once attached (-1: unlimited). */
  maxDeliver = -1;

  constructor(
    private readonly d: SettleDeps,
    private readonly opts: SettleOptions,
  ) {}

  /** What Postgres said about a command, turned into its outcome. */
  async applied(w: Work, a: Applied): Promise<void> {
    switch (a.kind) {
      case "inserted":
        return this.committed(w, "committed", a.result);
      case "duplicate":
        // Already applied by an earlier delivery (or an earlier request after the dedup window).
        return this.committed(w, "duplicate", a.result);
      case "key-reused":
        // The key belongs to the original write: only this request hears about it (not recorded).
        return this.decide(w, "key-reused", keyReusedDetail(w.operationId), "none");
      case "email-taken":
        return this.decide(
          w,
          "email-taken",
          `the email ${(w.command as Command<"users">).data.email} is already taken (emails are compared ignoring case)`,
          "put",
        );
      case "user-missing": {
        const n = w.m.info.deliveryCount;
        if (n < this.opts.fkRetries) {
          // Its user's create may still be on its way through the other consumer.
          this.d.inFlight.nak(w.m, this.opts.fkDelayMs * n, "user-not-found-yet");
          return;
        }
        const userId = (w.command as Command<"orders">).data.userId;
        return this.decide(w, "user-not-found", `there is no user ${userId}`, "put");
      }
      case "unexplained":
        return this.retryLater(
          w,
          "the row was skipped by a conflict that is gone (a concurrent insert rolled back)",
        );
    }
  }

  committed(w: Work, outcome: "committed" | "duplicate", result: UserResult | OrderResult): void {
    this.reply(w, { operationId: w.operationId, outcome, result });
    this.d.inFlight.ack(w.m);
    this.d.metrics.outcomes.inc({ table: this.d.table, outcome });
    if (this.d.log.enabled("debug")) this.d.log.debug(outcome, { operationId: w.operationId, seq: w.m.seq });
  }

  /**
   * A decision: recorded (`put`, or `if-undecided` to keep an earlier decision of the same key),
   * logged in WRITES, answered, acked. Each write is held until it succeeds.
   */
  async decide(
    t: Taken,
    outcome: Decision,
    detail: string,
    record: "put" | "if-undecided" | "none",
  ): Promise<void> {
    const { operationId, hash, m } = t;
    const at = new Date().toISOString();
    try {
      // key-reused is never recorded: the key's record belongs to the original write.
      if (record !== "none" && operationId && outcome !== "key-reused") {
        const rec = {
          operationId,
          table: this.d.table,
          outcome,
          detail,
          ...(hash ? { requestHash: hash } : {}),
          commandSeq: m.seq,
          updatedAt: at,
        } as const;
        await holding(this.d, m, "outcome-record", () =>
          record === "put" ? putOperation(this.d.kv, rec) : recordIfUndecided(this.d.kv, rec),
        );
      }
      const event: DecisionEvent = {
        commandSeq: m.seq,
        ...(operationId ? { operationId } : {}),
        table: this.d.table,
        outcome,
        detail,
        ...(hash ? { requestHash: hash } : {}),
        at,
      };
      // The command's sequence dedups an event logged twice (a redelivery after a crash).
      await holding(this.d, m, "decision-event", () =>
        this.d.js.publish(decisionSubject(this.d.table), JSON.stringify(event), {
          msgID: `${writesStream}:${m.seq}:decision`,
        }),
      );
    } catch (err) {
      return this.stopped(m, err);
    }
    if (operationId) this.reply(t, { operationId, outcome, detail });
    this.d.metrics.outcomes.inc({ table: this.d.table, outcome });
    this.d.log.info(`write ${outcome}`, { operationId, seq: m.seq, delivery: m.info.deliveryCount });
    this.d.inFlight.ack(m);
  }

  /** To WRITES_DLQ (held while it refuses), then the `failed` decision. */
  async deadLetter(t: Taken, reason: string): Promise<void> {
    try {
      await publishDeadLetter(this.d, t.m, reason, t.operationId);
    } catch (err) {
      return this.stopped(t.m, err);
    }
    this.d.metrics.deadLetters.inc({ table: this.d.table });
    this.d.log.warn("moved to the dead-letter queue", { operationId: t.operationId, seq: t.m.seq, reason });
    await this.decide(
      t,
      "failed",
      `the write could not be applied and was moved to the dead-letter queue: ${reason}`,
      // A poison command reusing a decided key must not overwrite what its client was told.
      "if-undecided",
    );
  }

  /**
   * For a redelivery: when exactly this command (same sequence, same payload) was decided before,
   * answers that decision again and returns true. The outcome store is held for while it fails.
   */
  async decidedBefore(w: Work): Promise<boolean> {
    let rec: Awaited<ReturnType<typeof getOperation>>;
    try {
      rec = await holding(this.d, w.m, "outcome-record", () => getOperation(this.d.kv, w.operationId));
    } catch (err) {
      this.stopped(w.m, err);
      return true;
    }
    if (!rec || rec.outcome === "accepted" || rec.commandSeq !== w.m.seq || rec.requestHash !== w.hash) {
      return false;
    }
    await this.decide(w, rec.outcome, rec.detail ?? "", "none");
    return true;
  }

  /** A transient failure: nak with a growing delay, or dead-letter at the last delivery but one. */
  retryLater(w: Work, reason: string): Promise<void> | undefined {
    const n = w.m.info.deliveryCount;
    // The last delivery stays in reserve: a process that dies while dead-lettering gets one more.
    if (this.maxDeliver > 0 && n >= Math.max(1, this.maxDeliver - 1)) {
      return this.deadLetter(w, `gave up after ${n} deliveries: ${reason}`);
    }
    const delay = retryDelay(n, this.d.retry);
    if (n === 1 || n % 5 === 0) {
      this.d.log.warn("write failed; will retry", { operationId: w.operationId, delivery: n, delay, reason });
    }
    this.d.inFlight.nak(w.m, delay, "transient");
    return undefined;
  }

  private reply(t: Taken, reply: WriteReply): void {
    if (!t.replyTo) return;
    try {
      this.d.nc.publish(t.replyTo, JSON.stringify(reply));
    } catch (err) {
      // The caller answers 202; its client finds the outcome through GET /api/operations/:id.
      this.d.log.warn("could not send the reply", { operationId: reply.operationId, err });
    }
  }

  /** Shutdown interrupted a held step: the next delivery (here or elsewhere) finishes it. */
  private stopped(m: JsMsg, err: unknown): void {
    if (!(err instanceof Stopped)) throw err;
    this.d.inFlight.nak(m, undefined, "shutdown");
  }
}
