// The cache-invalidator: the durable consumer of the CDC stream that Debezium feeds. Each change
// replaces the generations of every scope it touches; the message is acked only after Redis applied
// that, and nak'ed with a delay while Redis is down, so no invalidation is ever lost (max_deliver -1).
// A malformed event never stops the loop: it is logged, and when its subject names a table, that
// whole table is invalidated (the one answer that is always safe).
import type { Consumer, ConsumerMessages, JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { InvalidationEvent } from "../shared/invalidation.ts";
import type { Logger } from "../shared/log.ts";
import type { Registry } from "../shared/metrics.ts";
import type { Cache } from "./cache.ts";
import { parseChange } from "./cdc-event.ts";
import type { InvalidationFeed } from "./feed.ts";
import { type Invalidation, planInvalidation } from "./keys.ts";

export interface InvalidatorOptions {
  js: JetStreamClient;
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
}

export interface InvalidatorStatus {
  running: boolean;
  applied: number;
  failed: number;
  malformed: number;
  lastAppliedAt?: string;
  lastError?: string;
}

export interface Invalidator {
  status(): InvalidatorStatus;
  /** Stops pulling and waits for the message in hand to finish. */
  stop(): Promise<void>;
}

export function startInvalidator(o: InvalidatorOptions): Invalidator {
  const stream = o.stream ?? "CDC";
  const durable = o.consumer ?? "cache-invalidator";
  const nakDelayMs = o.nakDelayMs ?? 1000;
  const retryMs = o.retryMs ?? 1000;
  const log = o.log.child({ component: "cache-invalidator" });
  const applied = o.metrics.counter(
    "reader_invalidations_total",
    "Change events applied to the cache, by table and op",
  );
  const failures = o.metrics.counter(
    "reader_invalidation_failures_total",
    "Change events Redis could not apply (nak'ed for redelivery)",
  );
  const malformed = o.metrics.counter(
    "reader_cdc_malformed_total",
    "Change events that did not parse (their table was invalidated whole)",
  );
  const latency = o.metrics.histogram(
    "reader_invalidation_latency_seconds",
    "Commit in Postgres to invalidation applied in Redis",
  );
  const status: InvalidatorStatus = { running: false, applied: 0, failed: 0, malformed: 0 };
  let stopped = false;
  let messages: ConsumerMessages | undefined;
  let lastFailureLog = 0;

  async function handle(m: JsMsg): Promise<void> {
    const parsed = parseChange(m.subject, m.data);
    let inv: Invalidation;
    let op: InvalidationEvent["op"];
    let ids: string[] = [];
    let commitTsUs: number | undefined;
    switch (parsed.kind) {
      case "heartbeat":
      case "ignored":
        m.ack();
        return;
      case "malformed":
        status.malformed++;
        malformed.inc({ table: parsed.table ?? "unknown" });
        log.warn("malformed change event", {
          subject: m.subject,
          seq: m.seq,
          reason: parsed.reason,
          action: parsed.table ? `invalidate table ${parsed.table}` : "ignore",
        });
        if (!parsed.table) {
          m.ack();
          return;
        }
        inv = { kind: "table", table: parsed.table };
        op = "malformed";
        break;
      case "change":
        inv = parsed.invalidation;
        op = parsed.op;
        ids = parsed.ids;
        commitTsUs = parsed.commitTsUs;
        break;
    }
    const plan = planInvalidation(o.cache.keys, inv);
    try {
      await o.cache.invalidate(plan.genKeys);
    } catch (err) {
      status.failed++;
      status.lastError = (err as Error).message;
      failures.inc();
      m.nak(nakDelayMs);
      // Every buffered event fails the same way while Redis is down: one line a second is enough.
      if (Date.now() - lastFailureLog > 1000) {
        lastFailureLog = Date.now();
        log.warn("redis could not apply an invalidation; redelivering", {
          error: err,
          subject: m.subject,
          delayMs: nakDelayMs,
        });
      }
      return;
    }
    m.ack();
    const now = Date.now();
    status.applied++;
    status.lastAppliedAt = new Date(now).toISOString();
    applied.inc({ table: inv.table, op });
    const latencyMs = commitTsUs === undefined ? undefined : now - commitTsUs / 1000;
    if (latencyMs !== undefined) latency.observe(Math.max(0, latencyMs) / 1000);
    const event: InvalidationEvent = {
      table: inv.table,
      op,
      ids,
      scopes: plan.scopes,
      keys: plan.genKeys,
      ...(commitTsUs !== undefined ? { commitTs: new Date(commitTsUs / 1000).toISOString() } : {}),
      invalidatedAt: status.lastAppliedAt,
      ...(latencyMs !== undefined ? { latencyMs: Math.round(latencyMs * 1000) / 1000 } : {}),
    };
    if (log.enabled("debug")) log.debug("invalidated", { ...event, seq: m.seq });
    o.feed?.publish(event);
  }

  const loop = (async () => {
    while (!stopped) {
      try {
        const consumer: Consumer = await o.js.consumers.get(stream, durable);
        messages = await consumer.consume({ max_messages: 256, expires: 10_000 });
        status.running = true;
        if (stopped) {
          messages.stop();
          break;
        }
        log.info("consuming", { stream, consumer: durable });
        for await (const m of messages) {
          try {
            await handle(m);
          } catch (err) {
            // handle() catches Redis errors itself; this is a bug, but it must not stop invalidation.
            log.error("invalidation failed", { error: err, subject: m.subject, seq: m.seq });
            m.nak(nakDelayMs);
          }
        }
      } catch (err) {
        status.lastError = (err as Error).message;
        if (!stopped)
          log.warn("cannot consume the CDC stream; retrying", { error: err, stream, consumer: durable });
      } finally {
        status.running = false;
      }
      if (!stopped) await new Promise((r) => setTimeout(r, retryMs));
    }
  })();

  return {
    status: () => ({ ...status }),
    async stop() {
      stopped = true;
      // stop(), not close(): close() waits for the open pull request to expire (seconds). Messages
      // delivered but not yet handled are simply redelivered after ack_wait.
      messages?.stop();
      await loop;
    },
  };
}
