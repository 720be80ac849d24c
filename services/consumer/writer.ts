// One table's writer: pulls from its durable consumer (users-writer, orders-writer), applies the
// commands to Postgres in batches and hands each one its own outcome (settle.ts).
//
// Batching is group commit: the messages delivered together (one read from NATS) are applied at
// once in one statement when a slot is free (a lone request pays no batching delay); while
// `concurrency` statements are in flight, arrivals queue and go together in the next statement,
// up to `batchSize` rows.
//
// Postgres unreachable pauses pulling (deliveries are not burnt while it is down); other transient
// failures nak with a growing delay; at the last delivery the command goes to WRITES_DLQ.
import { setTimeout as sleep } from "node:timers/promises";
import type { ConsumerMessages, JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { millis, type NatsConnection } from "@nats-io/nats-core";
import type { Sql } from "postgres";
import type { Logger } from "../shared/log.ts";
import { pullTimers } from "../shared/nats.ts";
import { consumerName, type Table, writesStream } from "../shared/writes.ts";
import { InFlight } from "./in-flight.ts";
import type { ConsumerMetrics } from "./metrics.ts";
import { parseMessage } from "./parse.ts";
import { describe, isConnectionError, isForeignKeyViolation, isRowError, type RetryPolicy } from "./retry.ts";
import { Outcomes, type SettleOptions, type Work } from "./settle.ts";
import { type Applied, applyBatch } from "./store.ts";

export interface WriterOptions extends SettleOptions {
  /** Most rows in one INSERT. */
  batchSize: number;
  /** Statements in flight at once for this table. */
  concurrency: number;
  /** Messages taken from JetStream and not yet settled; pulling pauses above it. */
  maxInFlight: number;
  retry: RetryPolicy;
}

export interface WriterDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  kv: KV;
  sql: Sql;
  log: Logger;
  metrics: ConsumerMetrics;
}

export class TableWriter {
  private readonly queue: Work[] = [];
  private readonly inFlight: InFlight;
  private readonly outcomes: Outcomes;
  private batches = 0;
  private stopping = false;
  private dbDown = false;
  private messages: ConsumerMessages | undefined;
  private sweeper: ReturnType<typeof setInterval> | undefined;
  /** Ends back-off sleeps and held steps at shutdown. */
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
    this.inFlight = new InFlight(table, deps.metrics);
    this.outcomes = new Outcomes(
      {
        ...deps,
        log: this.log,
        table,
        inFlight: this.inFlight,
        retry: opts.retry,
        signal: this.stopped.signal,
      },
      opts,
    );
  }

  /** What /readyz says about this writer: "" when it consumes and holds nothing. */
  problem(): string {
    if (!this.attached) return this.lastError || "not consuming";
    return this.inFlight.heldSummary();
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
    this.outcomes.maxDeliver = info.config.max_deliver ?? -1;
    // working() on everything in flight well within the ack wait, so slow batches and held
    // messages are not redelivered.
    const ackWaitMs = millis(info.config.ack_wait ?? 30_000_000_000);
    clearInterval(this.sweeper);
    this.sweeper = setInterval(() => this.inFlight.working(), Math.max(500, ackWaitMs / 3));

    const messages = await consumer.consume({
      max_messages: Math.min(this.opts.maxInFlight, 1000),
      ...pullTimers,
    });
    this.messages = messages;
    this.attached = true;
    this.lastError = "";
    this.log.info("consuming", { consumer: name, maxDeliver: this.outcomes.maxDeliver, ackWaitMs });
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
        } else if (s.type === "heartbeats_missed" && s.count === 2) {
          // Once per stall: with 1 s heartbeats an outage would otherwise log every second.
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
        await this.inFlight.roomBelow(this.opts.maxInFlight, () => this.stopping);
      }
    } finally {
      this.attached = false;
      this.messages = undefined;
    }
    // Ended without a stop or a pause (consumer deleted, connection closed): the caller retries.
    if (!this.stopping && !this.dbDown) throw new Error("the consumer's message stream ended");
  }

  private take(m: JsMsg): void {
    this.inFlight.take(m);
    const parsed = parseMessage(m, this.table);
    if (parsed.refusedReplyTo) {
      this.deps.log.warn("not answering a Reply-To outside the producer's reply prefix", {
        replyTo: parsed.refusedReplyTo.slice(0, 200),
        operationId: parsed.ok ? parsed.command.operationId : parsed.operationId,
        seq: m.seq,
      });
    }
    if (!parsed.ok) {
      void this.outcomes.deadLetter(
        { m, operationId: parsed.operationId, hash: undefined, replyTo: parsed.replyTo },
        parsed.reason,
      );
      return;
    }
    const w: Work = {
      m,
      command: parsed.command,
      operationId: parsed.command.operationId,
      hash: parsed.hash,
      replyTo: parsed.replyTo,
    };
    if (m.info.deliveryCount === 1) this.enqueue(w);
    else void this.redelivered(w);
  }

  /** A redelivery may have been decided already (crash before its ack): that decision stands. */
  private async redelivered(w: Work): Promise<void> {
    if (!(await this.outcomes.decidedBefore(w))) this.enqueue(w);
  }

  private enqueue(w: Work): void {
    this.queue.push(w);
    // The rest of this read's deliveries join it: they reach us one by one through the consumer's
    // iterator, so pumping at once would send the first alone in a statement of its own.
    if (this.queue.length === 1) setImmediate(() => this.pump());
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
      for (const w of batch) void this.outcomes.retryLater(w, "Postgres is unreachable");
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
      void this.outcomes.applied(w, applied[i]!);
    });
  }

  /** The batch's statement failed as a whole. */
  private failed(batch: Work[], err: unknown): void {
    if (isConnectionError(err)) {
      this.pauseForPostgres(err);
      for (const w of batch) void this.outcomes.retryLater(w, `Postgres is unreachable: ${describe(err)}`);
    } else if (isForeignKeyViolation(err)) {
      // The user vanished between the existence check and the insert (deleted by hand).
      for (const w of batch) void this.outcomes.applied(w, { kind: "user-missing" });
    } else if (isRowError(err)) {
      void this.outcomes.deadLetter(batch[0]!, `Postgres refused the row: ${describe(err)}`);
    } else {
      this.log.warn("batch failed; will retry", { err, rows: batch.length });
      for (const w of batch) void this.outcomes.retryLater(w, describe(err));
    }
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

  private sleep(ms: number): Promise<void> {
    return sleep(ms, undefined, { signal: this.stopped.signal }).catch(() => {});
  }

  /** Stops pulling and waits until every message taken is settled (acked, naked or dead-lettered). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.messages?.stop();
    this.stopped.abort();
    this.inFlight.wake();
    await this.inFlight.drained();
    clearInterval(this.sweeper);
  }
}
