// The cache-invalidator: the durable consumer of the CDC stream that Debezium feeds. Each change
// replaces the generations of every scope it touches; the message is acked only after Redis applied
// that, and nak'ed with a delay while Redis is down, so no invalidation is ever lost (max_deliver -1).
// A malformed event never stops the loop: it is logged, and when its subject names a table, that
// whole table is invalidated (the one answer that is always safe).
//
// Lost events. CDC is persisted asynchronously (derived data): an OS crash may lose its last
// events, and nats-server 2.14 then reuses their sequences for new events, moving its durable
// consumers back to the stream's new last sequence (consumer.go reconcileStateWithStream). Events
// can also be removed by the stream's limits before they are read, or the stream replaced. So the
// reader keeps, in Redis next to the cache, the highest sequence it applied (with its time) and
// the stream's creation time and server (cache.ts CdcPosition), and flushes the whole cache (every
// table's generation: O(1)) when
//   - a change arrives at or below that sequence but later than it (the stream went back);
//   - the stream's last sequence is below it (the stream lost its tail);
//   - the stream's first sequence is past it + 1 (events went before they were applied);
//   - the stream's creation time differs (it was replaced);
//   - the consumer acked past it, or Redis holds none while it acked some (Redis lost its tail);
//   - the stream is async and its nats-server restarted: events the reader had not read yet may
//     be gone without a trace (their sequences reused), and a clean restart looks the same.
// All but the first are checked when the invalidator attaches, every `auditMs`, and before the
// first change after the connection moved to another server process.
import type {
  Consumer,
  ConsumerMessages,
  JetStreamClient,
  JetStreamManager,
  JsMsg,
} from "@nats-io/jetstream";
import { cdcConsumer, cdcStream } from "../shared/cdc.ts";
import type { InvalidationEvent } from "../shared/invalidation.ts";
import type { Logger } from "../shared/log.ts";
import type { Registry } from "../shared/metrics.ts";
import { pullTimers } from "../shared/nats.ts";
import { type Table, tables } from "../shared/writes.ts";
import type { Cache, CdcPosition } from "./cache.ts";
import { parseChange } from "./cdc-event.ts";
import type { InvalidationFeed } from "./feed.ts";
import { type Invalidation, type InvalidationPlan, planInvalidation } from "./keys.ts";

export interface InvalidatorOptions {
  js: JetStreamClient;
  jsm: () => Promise<JetStreamManager>;
  cache: Cache;
  log: Logger;
  metrics: Registry;
  feed?: InvalidationFeed;
  stream?: string;
  consumer?: string;
  /** Redelivery delay of a change Redis could not apply. */
  nakDelayMs?: number;
  /** Wait before re-binding to the consumer after it went away (deleted, NATS down). */
  retryMs?: number;
  /** How often the stream is checked for lost events (see above). */
  auditMs?: number;
  /** The id of the nats-server the connection is on (it changes when the server restarts). */
  serverId?: () => string | undefined;
}

export interface InvalidatorStatus {
  running: boolean;
  applied: number;
  failed: number;
  malformed: number;
  /** Whole-cache flushes for lost events. */
  flushes?: number;
  lastAppliedAt?: string;
  lastError?: string;
  lastFlush?: { at: string; reason: string };
}

export interface Invalidator {
  status(): InvalidatorStatus;
  /** Checks the stream for lost events now (also runs on its own every auditMs). */
  audit(): Promise<void>;
  /** Stops pulling and waits for the message in hand to finish. */
  stop(): Promise<void>;
}

/** Stream times are ms here; a change must be this much later than the position to count as new. */
const clockSlackMs = 1;
/** Changes pulled at once, and the most handled with one Redis script. */
const maxBatch = 256;

export function startInvalidator(o: InvalidatorOptions): Invalidator {
  const stream = o.stream ?? cdcStream;
  const durable = o.consumer ?? cdcConsumer;
  const nakDelayMs = o.nakDelayMs ?? 1000;
  const retryMs = o.retryMs ?? 1000;
  const auditMs = o.auditMs ?? 5000;
  const log = o.log.child({ component: cdcConsumer });
  const applied = o.metrics.counter(
    "jpw_reader_invalidations_total",
    "Change events applied to the cache, by table and op",
  );
  const failures = o.metrics.counter(
    "jpw_reader_invalidation_failures_total",
    "Change events Redis could not apply (nak'ed for redelivery)",
  );
  const malformed = o.metrics.counter(
    "jpw_reader_cdc_malformed_total",
    "Change events that did not parse (their table was invalidated whole)",
  );
  const flushes = o.metrics.counter(
    "jpw_reader_cdc_gap_flushes_total",
    "Whole-cache flushes because change events were lost, by reason",
  );
  const latency = o.metrics.histogram(
    "jpw_reader_invalidation_latency_seconds",
    "Commit in Postgres to invalidation applied in Redis",
  );
  const status: InvalidatorStatus = { running: false, applied: 0, failed: 0, malformed: 0, flushes: 0 };
  let stopped = false;
  let messages: ConsumerMessages | undefined;
  let lastFailureLog = 0;
  /** The highest position this process applied or read from Redis (Redis holds the truth). */
  let known: { seq: number; tsMs: number } | undefined;
  /** The server the last audit ran against. */
  let auditedOn: string | undefined;
  const serverId = () => o.serverId?.() ?? "";
  /** Messages and audits take turns: a flush never interleaves with an invalidation. */
  let turn: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = turn.then(fn, fn);
    turn = run.catch(() => {});
    return run;
  };

  const remember = (seq: number, tsMs: number) => {
    if (!known || seq > known.seq) known = { seq, tsMs };
  };

  /** Every table's generation replaced; the position starts over at the stream's end. */
  async function flush(reason: string, to: CdcPosition): Promise<void> {
    const genKeys = tables.map((t) => o.cache.keys.tableGenKey(t));
    await o.cache.flush(genKeys, to);
    known = { seq: to.seq, tsMs: to.tsMs };
    status.flushes = (status.flushes ?? 0) + 1;
    status.lastFlush = { at: new Date().toISOString(), reason };
    flushes.inc({ reason: reason.split(":")[0]! });
    log.warn("change events were lost: flushed the whole cache", { reason, position: to });
  }

  /** The checks that need the stream's and the consumer's state (see the top of this file). */
  async function audit(): Promise<void> {
    const jsm = await o.jsm();
    // Read the position before the stream (it only holds sequences the stream had) and again
    // after the consumer (every ack is preceded by its position), so another reader replica
    // applying changes meanwhile never looks like a loss.
    const before = await o.cache.cdcPosition();
    const info = await jsm.streams.info(stream);
    const c = await jsm.consumers.info(stream, durable);
    const after = await o.cache.cdcPosition();
    const s = info.state;
    const server = serverId();
    auditedOn = server;
    const now: CdcPosition = {
      seq: s.last_seq,
      tsMs: Date.parse(s.last_ts) || 0,
      created: info.created,
      server,
    };
    let reason: string | undefined;
    if (!before || !after) {
      if (c.ack_floor.stream_seq === 0) {
        // A first start: nothing was ever applied, so nothing cached can be stale.
        await o.cache.flush([], { seq: 0, tsMs: 0, created: info.created, server });
        known = { seq: 0, tsMs: 0 };
        return;
      }
      reason = `no position: Redis holds none, yet the consumer acked up to ${c.ack_floor.stream_seq}`;
    } else if (before.created && before.created !== info.created)
      reason = `replaced: stream ${stream} was created again (${before.created} → ${info.created})`;
    else if (s.last_seq < before.seq)
      reason = `lost tail: stream ${stream} ends at ${s.last_seq}, below the ${before.seq} applied`;
    else if (s.messages > 0 && s.first_seq > after.seq + 1)
      reason = `removed: stream ${stream} starts at ${s.first_seq}, past the ${after.seq} applied`;
    else if (c.ack_floor.stream_seq > after.seq)
      reason = `redis lost its tail: acked up to ${c.ack_floor.stream_seq}, Redis holds ${after.seq}`;
    else if (info.config.persist_mode === "async" && before.server && server && before.server !== server)
      reason = `restarted: the nats-server holding ${stream} (persisted asynchronously) restarted`;
    if (reason) await flush(reason, now);
    else if (after) {
      remember(after.seq, after.tsMs);
      // Keep the stream and server this position belongs to.
      if (after.created !== info.created || after.server !== server) {
        await o.cache.flush([], { ...after, created: info.created, server });
      }
    }
  }

  /** A message read and planned, waiting for its batch to be applied. */
  interface Planned {
    m: JsMsg;
    at: { seq: number; tsMs: number };
    /** Absent for heartbeats, ignored subjects and garbage naming no table: only the position moves. */
    change?: {
      table: Table;
      op: InvalidationEvent["op"];
      ids: string[];
      commitTsUs?: number;
      plan: InvalidationPlan;
    };
  }

  /**
   * Handles the messages that arrived together, in order, with one Redis script for all of them
   * (every generation key they touch replaced once, the position moved to the highest), then acks
   * them together: one round trip to Redis and one write to NATS per batch, not per change. What
   * must be checked against the stream first (another server, a change older than the position)
   * applies what was gathered before it and is handled as its own step, as before.
   */
  async function handleBatch(batch: JsMsg[]): Promise<void> {
    let gathered: Planned[] = [];
    /** The highest sequence gathered so far. */
    let gatheredTop: { seq: number; tsMs: number } | undefined;
    const applyGathered = async () => {
      const done = gathered;
      gathered = [];
      gatheredTop = undefined;
      if (done.length > 0) await apply(done);
    };
    for (const m of batch) {
      const at = { seq: m.seq, tsMs: Math.floor(Number(m.info.timestampNanos) / 1e6) };
      // The position once what is gathered is applied.
      const last = gatheredTop && (!known || gatheredTop.seq > known.seq) ? gatheredTop : known;
      const moved = auditedOn !== undefined && auditedOn !== serverId();
      const wentBack = last !== undefined && at.seq <= last.seq && at.tsMs > last.tsMs + clockSlackMs;
      if (moved || wentBack) {
        await applyGathered();
        try {
          await checkAgainstStream(at);
        } catch (err) {
          // Redis failed the flush: this one is redelivered, like any change Redis could not apply.
          retryLater(m, err);
          continue;
        }
      }
      gathered.push(plan(m, at));
      if (!gatheredTop || at.seq > gatheredTop.seq) gatheredTop = at;
    }
    await applyGathered();
  }

  /** The first change since the connection moved to another server, or one that looks older than the position. */
  async function checkAgainstStream(at: { seq: number; tsMs: number }): Promise<void> {
    // The first change since the connection moved to another server process: audit first.
    if (auditedOn !== undefined && auditedOn !== serverId()) await audit().catch(() => {});
    if (known && at.seq <= known.seq && at.tsMs > known.tsMs + clockSlackMs) {
      // A change newer than the position at or below its sequence: the stream went back.
      await audit().catch(() => {});
      if (known && at.seq <= known.seq && at.tsMs > known.tsMs + clockSlackMs) {
        await flush(`went back: change ${at.seq} is newer than the position ${known.seq}`, {
          seq: at.seq - 1,
          tsMs: at.tsMs - 1,
          created: (await o.cache.cdcPosition())?.created ?? "",
          server: serverId(),
        });
      }
    }
  }

  /** What one message asks of the cache (nothing yet applied). */
  function plan(m: JsMsg, at: { seq: number; tsMs: number }): Planned {
    const parsed = parseChange(m.subject, m.data);
    switch (parsed.kind) {
      case "heartbeat":
      case "ignored":
        return { m, at };
      case "malformed": {
        status.malformed++;
        malformed.inc({ table: parsed.table ?? "unknown" });
        log.warn("malformed change event", {
          subject: m.subject,
          seq: m.seq,
          reason: parsed.reason,
          action: parsed.table ? `invalidate table ${parsed.table}` : "ignore",
        });
        if (!parsed.table) return { m, at };
        const inv: Invalidation = { kind: "table", table: parsed.table };
        const p = planInvalidation(o.cache.keys, inv);
        return { m, at, change: { table: parsed.table, op: "malformed", ids: [], plan: p } };
      }
      case "change":
        return {
          m,
          at,
          change: {
            table: parsed.invalidation.table,
            op: parsed.op,
            ids: parsed.ids,
            commitTsUs: parsed.commitTsUs,
            plan: planInvalidation(o.cache.keys, parsed.invalidation),
          },
        };
    }
  }

  /** One script for the batch; acks, metrics and the feed once Redis applied it. */
  async function apply(batch: Planned[]): Promise<void> {
    const genKeys = [...new Set(batch.flatMap((p) => p.change?.plan.genKeys ?? []))];
    // Redeliveries can arrive after later changes: the position is the highest sequence.
    const top = batch.reduce((hi, p) => (p.at.seq > hi.seq ? p.at : hi), batch[0]!.at);
    try {
      await o.cache.invalidate(genKeys, top);
    } catch (err) {
      // Redis failed: nak them all with a delay, never lose one.
      for (const p of batch) retryLater(p.m, err);
      return;
    }
    remember(top.seq, top.tsMs);
    const now = Date.now();
    const appliedAt = new Date(now).toISOString();
    const events: InvalidationEvent[] = [];
    for (const p of batch) {
      p.m.ack();
      const c = p.change;
      if (!c) continue;
      status.applied++;
      status.lastAppliedAt = appliedAt;
      applied.inc({ table: c.table, op: c.op });
      const latencyMs = c.commitTsUs === undefined ? undefined : now - c.commitTsUs / 1000;
      if (latencyMs !== undefined) latency.observe(Math.max(0, latencyMs) / 1000);
      const event: InvalidationEvent = {
        table: c.table,
        op: c.op,
        ids: c.ids,
        scopes: c.plan.scopes,
        keys: c.plan.genKeys,
        ...(c.commitTsUs !== undefined ? { commitTs: new Date(c.commitTsUs / 1000).toISOString() } : {}),
        invalidatedAt: appliedAt,
        ...(latencyMs !== undefined ? { latencyMs: Math.round(latencyMs * 1000) / 1000 } : {}),
      };
      if (log.enabled("debug")) log.debug("invalidated", { ...event, seq: p.m.seq });
      events.push(event);
    }
    if (events.length > 0) o.feed?.publish(...events);
  }

  /** Redis could not apply it: redeliver later, nothing is lost. */
  function retryLater(m: JsMsg, err: unknown): void {
    status.failed++;
    status.lastError = (err as Error).message;
    failures.inc();
    m.nak(nakDelayMs);
    // Every buffered event fails the same way while Redis is down: one line a second is enough.
    if (Date.now() - lastFailureLog > 1000) {
      lastFailureLog = Date.now();
      log.warn("could not apply an invalidation (Redis down?); redelivering", {
        error: err,
        subject: m.subject,
        delayMs: nakDelayMs,
      });
    }
  }

  const audits = setInterval(() => {
    if (status.running) void serial(audit).catch((err) => log.warn("CDC audit failed", { err }));
  }, auditMs);

  const loop = (async () => {
    while (!stopped) {
      try {
        const consumer: Consumer = await o.js.consumers.get(stream, durable);
        await serial(audit).catch((err) => log.warn("CDC audit failed", { err }));
        // Messages are taken as they arrive and handled in batches: those that came in while a
        // batch was being applied go together in the next one (at most one pull's worth).
        const queue: JsMsg[] = [];
        let draining = false;
        const drain = async () => {
          while (queue.length > 0 && !stopped) {
            const batch = queue.splice(0, maxBatch);
            await serial(() => handleBatch(batch)).catch((err) =>
              log.error("could not handle change events", { err }),
            );
          }
          draining = false;
        };
        messages = await consumer.consume({
          max_messages: maxBatch,
          // A pull lost with the CDC consumer's leader (a cluster's node killed) is noticed in ~2 s.
          ...pullTimers,
          callback: (m) => {
            queue.push(m);
            if (draining) return;
            draining = true;
            // After the rest of this read's messages were delivered: they join the batch.
            queueMicrotask(() => void drain());
          },
        });
        status.running = true;
        if (stopped) {
          messages.stop();
          break;
        }
        log.info("consuming", { stream, consumer: durable });
        const ended = await messages.closed();
        // The batch in hand finishes (acked or nak'ed); what is still queued is redelivered.
        await turn;
        if (ended instanceof Error) throw ended;
      } catch (err) {
        status.lastError = (err as Error).message;
        if (!stopped) log.warn("cannot consume the CDC stream; retrying", { err, stream, consumer: durable });
      } finally {
        status.running = false;
      }
      if (!stopped) await new Promise((r) => setTimeout(r, retryMs));
    }
  })();

  return {
    status: () => ({ ...status }),
    audit: () => serial(audit),
    async stop() {
      stopped = true;
      clearInterval(audits);
      // stop(), not close(): close() waits for the open pull request to expire (seconds). Messages
      // delivered but not yet handled are simply redelivered after ack_wait.
      messages?.stop();
      await loop;
    },
  };
}
