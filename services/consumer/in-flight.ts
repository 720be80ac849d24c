// The messages one writer has taken and not yet settled: what working() keeps alive, what bounds
// pulling (maxInFlight), what shutdown waits for, and which of them are held (a step of their
// outcome cannot be done right now: the dead-letter queue or the outcome store refuses).
import type { JsMsg } from "@nats-io/jetstream";
import type { ConsumerMetrics } from "./metrics.ts";

/** Why a message is held: the step of its outcome that keeps failing. */
export type HoldCause = "dead-letter-queue" | "outcome-record" | "decision-event";

export class InFlight {
  private readonly active = new Set<JsMsg>();
  private readonly held = new Map<JsMsg, { cause: HoldCause; error: string }>();
  private readonly acks: JsMsg[] = [];
  /** Resolves a puller waiting for room below maxInFlight. */
  private roomMade: (() => void) | undefined;

  constructor(
    private readonly table: string,
    private readonly metrics: ConsumerMetrics,
  ) {}

  get size(): number {
    return this.active.size;
  }

  take(m: JsMsg): void {
    this.active.add(m);
    this.metrics.inFlight.set(this.active.size, { table: this.table });
  }

  /** Resets the ack timer of everything taken, so slow batches and held messages stay ours. */
  working(): void {
    for (const m of this.active) m.working();
  }

  /**
   * Acks wait for the end of this event-loop turn and go out together: nats.js writes to its
   * socket once per burst of protocol lines, so a batch's acks cost one write, not one each.
   * Plain ack, not ackAck: a lost ack means a redelivery, which the primary key makes harmless.
   */
  ack(m: JsMsg): void {
    this.acks.push(m);
    if (this.acks.length === 1) setImmediate(this.flushAcks);
  }

  private readonly flushAcks = () => {
    const acks = this.acks.splice(0);
    for (const m of acks) m.ack();
    for (const m of acks) this.release(m);
  };

  /** A nak spends a delivery toward max_deliver: only for what may succeed on another. */
  nak(m: JsMsg, delayMs: number | undefined, reason: string): void {
    m.nak(delayMs);
    this.metrics.retries.inc({ table: this.table, reason });
    this.release(m);
  }

  hold(m: JsMsg, cause: HoldCause, error: string): void {
    this.held.set(m, { cause, error });
    this.updateHeld();
  }

  unhold(m: JsMsg): void {
    if (this.held.delete(m)) this.updateHeld();
  }

  /** "2 held: the dead-letter queue refuses (maximum bytes exceeded)", or "" when none is. */
  heldSummary(): string {
    if (this.held.size === 0) return "";
    const byCause = new Map<HoldCause, string>();
    for (const h of this.held.values()) byCause.set(h.cause, h.error);
    const causes = [...byCause].map(([cause, error]) => `${describeCause[cause]} (${error})`);
    return `${this.held.size} command(s) held: ${causes.join("; ")}`;
  }

  async roomBelow(max: number, stopping: () => boolean): Promise<void> {
    while (this.active.size >= max && !stopping()) {
      await new Promise<void>((resolve) => {
        this.roomMade = resolve;
      });
    }
  }

  /** Wakes a puller waiting for room (at shutdown). */
  wake(): void {
    this.roomMade?.();
    this.roomMade = undefined;
  }

  async drained(): Promise<void> {
    while (this.active.size > 0) await new Promise((r) => setTimeout(r, 20));
  }

  private release(m: JsMsg): void {
    this.active.delete(m);
    this.unhold(m);
    this.metrics.inFlight.set(this.active.size, { table: this.table });
    this.wake();
  }

  private updateHeld(): void {
    const counts: Record<HoldCause, number> = {
      "dead-letter-queue": 0,
      "outcome-record": 0,
      "decision-event": 0,
    };
    for (const h of this.held.values()) counts[h.cause]++;
    for (const [cause, n] of Object.entries(counts)) this.metrics.held.set(n, { table: this.table, cause });
  }
}

const describeCause: Record<HoldCause, string> = {
  "dead-letter-queue": "the dead-letter queue refuses",
  "outcome-record": "the operations bucket (outcome records) fails",
  "decision-event": "WRITES refuses the decision event",
};
