// One table's writer: pulls from its durable consumer (users-writer, orders-writer), applies the
// commands to Postgres in batches and settles every message with its own outcome.
//
// Batching is group commit: a message that finds a free slot is applied at once (a lone request
// pays no batching delay); while `concurrency` statements are in flight, arrivals queue and go
// together in the next statement, up to `batchSize` rows.
//
// Per message, effects happen in this order, so a crash anywhere leaves a redelivery that
// converges: commit → reply (core publish to Reply-To) → outcome into the operations KV → ack.
// Postgres unreachable pauses pulling (deliveries are not burnt while it is down); other transient
// failures nak with a growing delay; at the last delivery the command goes to WRITES_DLQ.
import { setTimeout as sleep } from "node:timers/promises";
import type { ConsumerMessages, JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { millis, type NatsConnection, headers as natsHeaders } from "@nats-io/nats-core";
import type { Sql } from "postgres";
import { AppError, ConflictError, UnprocessableError } from "../shared/errors.ts";
import { type ProblemBody, problemBody } from "../shared/http.ts";
import type { Logger } from "../shared/log.ts";
import type { Registry } from "../shared/metrics.ts";
import { getOperation, type OperationRecord, putOperation } from "../shared/operations.ts";
import {
  type Command,
  consumerName,
  dlqHeaders,
  dlqSubject,
  type ReplyStatus,
  type Table,
  type WriteReply,
  writesStream,
} from "../shared/writes.ts";
import { parseMessage } from "./parse.ts";
import {
  describe,
  isConnectionError,
  isForeignKeyViolation,
  isRowError,
  type RetryPolicy,
  retryDelay,
} from "./retry.ts";
import { type Applied, applyBatch } from "./store.ts";

export interface WriterOptions {
  /** Most rows in one INSERT. */
  batchSize: number;
  /** Statements in flight at once for this table. */
  concurrency: number;
  /** Messages taken from JetStream and not yet settled; pulling pauses above it. */
  maxInFlight: number;
  /** Deliveries an order for an unknown user waits (its user may still be in flight) before 422. */
  fkRetries: number;
  fkDelayMs: number;
  retry: RetryPolicy;
}

export interface WriterDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  kv: KV;
  sql: Sql;
  log: Logger;
  metrics: ReturnType<typeof consumerMetrics>;
}

export function consumerMetrics(registry: Registry) {
  return {
    outcomes: registry.counter("jpw_consumer_messages_total", "Messages settled, by table and outcome"),
    retries: registry.counter("jpw_consumer_retries_total", "Messages naked for a later delivery, by reason"),
    deadLetters: registry.counter("jpw_consumer_dead_letters_total", "Messages moved to WRITES_DLQ"),
    batchRows: registry.histogram(
      "jpw_consumer_batch_rows",
      "Commands per INSERT statement",
      [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
    ),
    batchSeconds: registry.histogram("jpw_consumer_batch_seconds", "Time of one batch's statements"),
    inFlight: registry.gauge("jpw_consumer_in_flight", "Messages taken and not yet settled, by table"),
  };
}

interface Work {
  m: JsMsg;
  command: Command;
  hash: string;
  replyTo: string | undefined;
}

/** 500 for a write moved to the dead-letter queue. */
export class WriteFailedError extends AppError {
  override name = "WriteFailedError";
  readonly status = 500;
  readonly type = "write-failed";
  readonly title = "Write failed";
}

const finalStatuses = new Set(["committed", "duplicate", "rejected", "failed"]);

export class TableWriter {
  private readonly queue: Work[] = [];
  /** Every message taken and not yet acked or naked (work, dead letters), for working() and shutdown. */
  private readonly active = new Set<JsMsg>();
  private batches = 0;
  private stopping = false;
  private dbDown = false;
  private messages: ConsumerMessages | undefined;
  private maxDeliver = -1;
  private sweeper: ReturnType<typeof setInterval> | undefined;
  /** Resolves a puller waiting for room below maxInFlight. */
  private roomMade: (() => void) | undefined;
  /** Ends back-off sleeps at shutdown. */
  private readonly stopped = new AbortController();
  private readonly log: Logger;
  /** True once attached to the durable consumer (readiness). */
  attached = false;
  lastError = "";

  constructor(
    readonly table: Table,
    private readonly deps: WriterDeps,
    private readonly opts: WriterOptions,
  ) {
    this.log = deps.log.child({ table });
  }

  /** Pulls until stop(); survives a missing consumer, NATS restarts and Postgres outages. */
  async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      try {
        if (this.dbDown) await this.waitForPostgres();
        if (this.stopping) break;
        await this.consume();
        failures = 0;
      } catch (err) {
        this.attached = false;
        this.lastError = (err as Error).message;
        const wait = Math.min(5000, 250 * 2 ** Math.min(failures++, 5));
        this.log.warn(`cannot consume ${writesStream}/${consumerName(this.table)}; retrying`, {
          err,
          retryInMs: wait,
        });
        await this.sleep(wait);
      }
    }
  }

  private async consume(): Promise<void> {
    const name = consumerName(this.table);
    const consumer = await this.deps.js.consumers.get(writesStream, name).catch((err) => {
      throw /not found/i.test((err as Error).message)
        ? new Error(`consumer ${writesStream}/${name} not found: run just streams apply`, { cause: err })
        : err;
    });
    const info = await consumer.info(true);
    this.maxDeliver = info.config.max_deliver ?? -1;
    // working() on everything in flight well within the ack wait, so slow batches are not redelivered.
    const ackWaitMs = millis(info.config.ack_wait ?? 30_000_000_000);
    clearInterval(this.sweeper);
    this.sweeper = setInterval(
      () => {
        for (const m of this.active) m.working();
      },
      Math.max(500, ackWaitMs / 3),
    );

    const messages = await consumer.consume({ max_messages: Math.min(this.opts.maxInFlight, 1000) });
    this.messages = messages;
    this.attached = true;
    this.lastError = "";
    this.log.info("consuming", { consumer: name, maxDeliver: this.maxDeliver, ackWaitMs });
    void (async () => {
      for await (const s of messages.status()) {
        if (
          s.type === "consumer_deleted" ||
          s.type === "consumer_not_found" ||
          s.type === "stream_not_found"
        ) {
          // Start over: look the consumer up again (with back-off) rather than pull from a ghost.
          this.log.warn(`${s.type.replaceAll("_", " ")}: attaching again`, { consumer: name });
          messages.stop();
        } else if (s.type === "heartbeats_missed") {
          this.log.warn("heartbeats missed; the client pulls again", { consumer: name, count: s.count });
        }
      }
    })().catch(() => {});
    try {
      for await (const m of messages) {
        if (this.stopping || this.dbDown) {
          // Not started: let the next delivery (another instance, or us after the pause) have it.
          m.nak(this.stopping ? undefined : 1000);
          continue;
        }
        this.take(m);
        while (this.active.size >= this.opts.maxInFlight && !this.stopping) {
          await new Promise<void>((resolve) => {
            this.roomMade = resolve;
          });
        }
      }
    } finally {
      this.attached = false;
      this.messages = undefined;
    }
    // Ended without a stop or a pause (consumer deleted, connection closed): the caller retries.
    if (!this.stopping && !this.dbDown) throw new Error("the consumer's message stream ended");
  }

  private take(m: JsMsg): void {
    this.track(m);
    const parsed = parseMessage(m, this.table);
    if (parsed.refusedReplyTo) {
      this.deps.log.warn("not answering a Reply-To outside the producer's reply prefix", {
        replyTo: parsed.refusedReplyTo.slice(0, 200),
        operationId: parsed.ok ? parsed.command.operationId : parsed.operationId,
        seq: m.seq,
      });
    }
    if (!parsed.ok) {
      void this.deadLetter(m, parsed.reason, parsed.operationId, parsed.replyTo, undefined);
      return;
    }
    this.queue.push({ m, command: parsed.command, hash: parsed.hash, replyTo: parsed.replyTo });
    this.pump();
  }

  private pump(): void {
    while (this.batches < this.opts.concurrency && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.opts.batchSize);
      this.batches++;
      this.runBatch(batch)
        .catch((err) => this.log.error("batch failed unexpectedly", { err }))
        .finally(() => {
          this.batches--;
          this.pump();
        });
    }
  }

  private async runBatch(batch: Work[]): Promise<void> {
    if (this.dbDown) {
      for (const w of batch) this.retryLater(w, "Postgres is unreachable");
      return;
    }
    const started = performance.now();
    let applied: Applied[];
    try {
      applied = await applyBatch(
        this.deps.sql,
        this.table,
        batch.map((w) => w.command),
      );
    } catch (err) {
      if (isRowError(err) && batch.length > 1) {
        // One row spoils the statement: apply them one by one so each gets its own outcome.
        this.log.warn("batch refused by Postgres; applying its commands one by one", {
          err,
          rows: batch.length,
        });
        for (const w of batch) await this.runBatch([w]);
        return;
      }
      this.failed(batch, err);
      return;
    }
    this.deps.metrics.batchRows.observe(batch.length, { table: this.table });
    this.deps.metrics.batchSeconds.observe((performance.now() - started) / 1000, { table: this.table });
    batch.forEach((w, i) => {
      void this.settle(w, applied[i]!);
    });
  }

  /** The batch's statement failed as a whole. */
  private failed(batch: Work[], err: unknown): void {
    if (isConnectionError(err)) {
      this.pauseForPostgres(err);
      for (const w of batch) this.retryLater(w, `Postgres is unreachable: ${describe(err)}`);
    } else if (isForeignKeyViolation(err)) {
      // The user vanished between the existence check and the insert (deleted by hand).
      for (const w of batch) void this.settle(w, { kind: "user-missing" });
    } else if (isRowError(err)) {
      const w = batch[0]!;
      void this.deadLetter(
        w.m,
        `Postgres refused the row: ${describe(err)}`,
        w.command.operationId,
        w.replyTo,
        w.hash,
      );
    } else {
      this.log.warn("batch failed; will retry", { err, rows: batch.length });
      for (const w of batch) this.retryLater(w, describe(err));
    }
  }

  private async settle(w: Work, a: Applied): Promise<void> {
    const { operationId } = w.command;
    switch (a.kind) {
      case "inserted":
        return this.finish(w, { status: "committed", httpStatus: 201, result: a.result }, "put");
      case "duplicate":
        // Already applied by an earlier delivery (or an earlier request after the dedup window).
        return this.finish(w, { status: "duplicate", httpStatus: 200, result: a.result }, "first");
      case "key-reused":
        // The operation's record is the original write's outcome: only this request hears about it.
        return this.finish(
          w,
          rejected(
            new UnprocessableError(
              `Idempotency-Key ${operationId} was already used for a different request; use a new key for a new write`,
              "idempotency-key-reused",
            ),
          ),
          "none",
        );
      case "email-taken":
        return this.finish(
          w,
          rejected(
            new ConflictError(
              `the email ${(w.command as Command<"users">).data.email} is already taken (emails are compared ignoring case)`,
              "email-taken",
            ),
          ),
          "put",
        );
      case "user-missing": {
        const n = w.m.info.deliveryCount;
        if (n < this.opts.fkRetries) {
          // Its user's create may still be on its way through the other consumer.
          this.nak(w.m, this.opts.fkDelayMs * n, "user-not-found-yet");
          return;
        }
        const userId = (w.command as Command<"orders">).data.userId;
        return this.finish(
          w,
          rejected(new UnprocessableError(`there is no user ${userId}`, "user-not-found")),
          "put",
        );
      }
      case "unexplained":
        this.retryLater(
          w,
          "the row was skipped by a conflict that is gone (a concurrent insert rolled back)",
        );
        return;
    }
  }

  /**
   * Reply, record, ack. `record`: "put" the outcome, "first" only if nothing final is recorded yet
   * (a redelivery after a crash records the commit it finds), or "none".
   */
  private async finish(
    w: Work,
    outcome: { status: ReplyStatus; httpStatus: number; result?: unknown; error?: ProblemBody },
    record: "put" | "first" | "none",
  ): Promise<void> {
    const { operationId, table } = w.command;
    this.reply(w.replyTo, { operationId, ...outcome });
    try {
      if (record !== "none") {
        // A duplicate found on redelivery is recorded as the commit it is.
        const status = outcome.status === "duplicate" ? "committed" : outcome.status;
        const rec: OperationRecord = {
          operationId,
          table,
          status,
          httpStatus: status === "committed" ? 201 : outcome.httpStatus,
          ...(outcome.result !== undefined ? { result: outcome.result } : {}),
          ...(outcome.error ? { error: outcome.error } : {}),
          requestHash: w.hash,
          updatedAt: new Date().toISOString(),
        };
        if (record === "put") await putOperation(this.deps.kv, rec);
        else await this.recordIfNotFinal(rec);
      }
    } catch (err) {
      // Without its record the operation would read "accepted" forever: let a redelivery record it.
      this.log.warn("could not record the outcome; will redeliver", { operationId, err });
      this.nak(w.m, retryDelay(w.m.info.deliveryCount, this.opts.retry), "record-failed");
      return;
    }
    this.deps.metrics.outcomes.inc({ table, outcome: outcome.status });
    const fields = { operationId, status: outcome.status, httpStatus: outcome.httpStatus };
    if (outcome.status === "committed") {
      if (this.log.enabled("debug")) this.log.debug("committed", fields);
    } else this.log.info(`write ${outcome.status}`, { ...fields, type: outcome.error?.type });
    this.ack(w.m);
  }

  private async recordIfNotFinal(rec: OperationRecord): Promise<void> {
    const current = await getOperation(this.deps.kv, rec.operationId);
    if (current && finalStatuses.has(current.status)) return;
    await putOperation(this.deps.kv, rec);
  }

  private reply(subject: string | undefined, reply: WriteReply): void {
    if (!subject) return;
    try {
      this.deps.nc.publish(subject, JSON.stringify(reply));
    } catch (err) {
      // The caller then answers 202 and finds the outcome in the KV bucket.
      this.log.warn("could not send the reply", { operationId: reply.operationId, err });
    }
  }

  /** A transient failure: nak with a growing delay, or dead-letter at the last delivery but one. */
  private retryLater(w: Work, reason: string): void {
    const n = w.m.info.deliveryCount;
    if (this.maxDeliver > 0 && n >= Math.max(1, this.maxDeliver - 1)) {
      void this.deadLetter(
        w.m,
        `gave up after ${n} deliveries: ${reason}`,
        w.command.operationId,
        w.replyTo,
        w.hash,
      );
      return;
    }
    const delay = retryDelay(n, this.opts.retry);
    if (n === 1 || n % 5 === 0) {
      this.log.warn("write failed; will retry", {
        operationId: w.command.operationId,
        delivery: n,
        delay,
        reason,
      });
    }
    this.nak(w.m, delay, "transient");
  }

  /**
   * To WRITES_DLQ with the reason in headers, then the `failed` outcome, then ack. The DLQ PubAck is
   * awaited first: if the dead letter is not stored, the original stays (nak) and nothing is lost.
   * The last delivery is kept in reserve for exactly that case.
   */
  private async deadLetter(
    m: JsMsg,
    reason: string,
    operationId: string | undefined,
    replyTo: string | undefined,
    hash: string | undefined,
  ): Promise<void> {
    const h = natsHeaders();
    for (const [k, v] of [...(m.headers ?? [])] as [string, string[]][]) {
      if (k.toLowerCase() !== "nats-msg-id") for (const value of v) h.append(k, value);
    }
    h.set(dlqHeaders.reason, reason.slice(0, 1000).replace(/[\r\n]+/g, " "));
    h.set(dlqHeaders.subject, m.subject);
    h.set(dlqHeaders.sequence, String(m.seq));
    h.set(dlqHeaders.deliveries, String(m.info.deliveryCount));
    if (operationId) h.set(dlqHeaders.operationId, operationId);
    try {
      // The original's stream sequence dedups a dead letter published twice (crash before the ack).
      await this.deps.js.publish(dlqSubject(this.table), m.data, {
        msgID: `${writesStream}:${m.seq}`,
        headers: h,
      });
    } catch (err) {
      this.log.error("could not dead-letter a message; it stays in WRITES", { seq: m.seq, reason, err });
      this.nak(m, retryDelay(m.info.deliveryCount, this.opts.retry), "dlq-failed");
      return;
    }
    this.deps.metrics.deadLetters.inc({ table: this.table });
    this.log.warn("moved to the dead-letter queue", { operationId, seq: m.seq, reason });
    if (operationId) {
      const error = problemBody(
        new WriteFailedError(
          `the write could not be applied and was moved to the dead-letter queue: ${reason}`,
        ),
      );
      this.reply(replyTo, { operationId, status: "failed", httpStatus: 500, error });
      try {
        await this.recordIfNotFinal({
          operationId,
          table: this.table,
          status: "failed",
          httpStatus: 500,
          error,
          ...(hash ? { requestHash: hash } : {}),
          updatedAt: new Date().toISOString(),
        });
      } catch (err) {
        this.log.warn("could not record the failed outcome", { operationId, err });
      }
    }
    this.deps.metrics.outcomes.inc({ table: this.table, outcome: "failed" });
    this.ack(m);
  }

  private pauseForPostgres(err: unknown): void {
    if (this.dbDown) return;
    this.dbDown = true;
    this.lastError = `paused: Postgres is unreachable (${describe(err)})`;
    this.log.warn("Postgres is unreachable; pausing until it answers", { err: describe(err) });
    this.messages?.stop();
  }

  private async waitForPostgres(): Promise<void> {
    for (let i = 0; !this.stopping; i++) {
      try {
        await this.deps.sql`select 1`;
        this.dbDown = false;
        this.log.info("Postgres answers again; resuming");
        return;
      } catch {
        await this.sleep(Math.min(2000, 200 * 2 ** Math.min(i, 4)));
      }
    }
  }

  private track(m: JsMsg): void {
    this.active.add(m);
    this.deps.metrics.inFlight.set(this.active.size, { table: this.table });
  }

  private untrack(m: JsMsg): void {
    this.active.delete(m);
    this.deps.metrics.inFlight.set(this.active.size, { table: this.table });
    this.roomMade?.();
    this.roomMade = undefined;
  }

  private ack(m: JsMsg): void {
    // Acks wait for the end of this event-loop turn and go out together: the KV PubAcks of a batch
    // resolve one by one, and nats.js writes to its socket once per burst of protocol lines, so
    // this makes one write per batch instead of one per message.
    this.acks.push(m);
    if (this.acks.length === 1) setImmediate(this.flushAcks);
  }

  private readonly acks: JsMsg[] = [];
  private readonly flushAcks = () => {
    const acks = this.acks.splice(0);
    // Plain ack, not ackAck: a lost ack means a redelivery, which the primary key makes harmless.
    for (const m of acks) m.ack();
    for (const m of acks) this.untrack(m);
  };

  private nak(m: JsMsg, delayMs: number | undefined, reason: string): void {
    m.nak(delayMs);
    this.deps.metrics.retries.inc({ table: this.table, reason });
    this.untrack(m);
  }

  private sleep(ms: number): Promise<void> {
    return sleep(ms, undefined, { signal: this.stopped.signal }).catch(() => {});
  }

  /** Stops pulling and waits until every message taken is settled (acked, naked or dead-lettered). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.messages?.stop();
    this.stopped.abort();
    this.roomMade?.();
    while (this.active.size > 0) await new Promise((r) => setTimeout(r, 20));
    clearInterval(this.sweeper);
  }
}

function rejected(err: AppError): { status: "rejected"; httpStatus: number; error: ProblemBody } {
  return { status: "rejected", httpStatus: err.status, error: problemBody(err) };
}
