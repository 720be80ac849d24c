// GET /api/system: one JSON snapshot for the UI's system panel: every stream and its consumers,
// the dead-letter count, and the readiness of each service (the reader's own checks, the producer's
// and consumer's /readyz, Debezium's health). Every probe is bounded; a dead peer is a field, not a 500.
//
// It is public (through the edge), so it is cheap under load and shows nothing secret:
//   - one snapshot is computed at most every `cacheMs` (1 s), shared by every request meanwhile;
//   - peers are named, never addressed (no internal URLs), and what they say is reduced to ready or
//     not and their checks' messages with any URL credentials removed; a peer that does not answer
//     is "unreachable", never the raw error text of the fetch;
//   - ephemeral consumers (ordered consumers, `nats` CLI sessions, any client's watch) are counted per
//     stream, not listed one by one: a retry storm must not grow the panel (issue #13).
import type { ConsumerInfo, JetStreamManager } from "@nats-io/jetstream";
import type { ReadinessCheck } from "../shared/health.ts";
import { type RouteHandler, textResponse } from "../shared/http.ts";
import { redactSecrets } from "../shared/redact.ts";
import { dlqStream } from "../shared/writes.ts";
import type { InvalidatorStatus } from "./invalidator.ts";

export interface SystemOptions {
  jsm: () => Promise<JetStreamManager>;
  checks: ReadinessCheck[];
  peers: { name: string; url: string | undefined }[];
  invalidator: () => InvalidatorStatus;
  redisStatus: () => string;
  sseClients: () => number;
  timeoutMs?: number;
  /** How long one snapshot answers every request (default 1000 ms). */
  cacheMs?: number;
}

async function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A check's message as shown: credentials removed, one short line. */
const shown = (message: string) => redactSecrets(message).slice(0, 300);

export interface PeerState {
  ready: boolean;
  status?: number;
  checks?: Record<string, string>;
  error?: string;
}

async function peerReadiness(url: string, ms: number): Promise<PeerState> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(ms) });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    return {
      ready: false,
      error:
        e.name === "TimeoutError"
          ? `no answer within ${ms} ms`
          : `unreachable (${e.cause?.code ?? "no connection"})`,
    };
  }
  const body = (await res.json().catch(() => undefined)) as { checks?: unknown } | undefined;
  // Our services' /readyz carries named checks; anything else (Debezium's health) only its status.
  const checks =
    body?.checks && typeof body.checks === "object" && !Array.isArray(body.checks)
      ? Object.fromEntries(
          Object.entries(body.checks as Record<string, unknown>)
            .filter(([, v]) => typeof v === "string")
            .map(([k, v]) => [k, shown(v as string)]),
        )
      : undefined;
  return { ready: res.ok, status: res.status, ...(checks ? { checks } : {}) };
}

interface ConsumerRow {
  name: string;
  pending: number;
  ackPending: number;
  redelivered: number;
  waiting: number;
  delivered: number;
  ackFloor: number;
}

/** Durable consumers one by one; ephemeral ones as a count and their sums. */
export function groupConsumers(consumers: ConsumerInfo[]): {
  consumers: ConsumerRow[];
  ephemeral: { count: number; pending: number; ackPending: number };
} {
  const durable: ConsumerRow[] = [];
  const ephemeral = { count: 0, pending: 0, ackPending: 0 };
  for (const c of consumers) {
    if (!c.config.durable_name) {
      ephemeral.count++;
      ephemeral.pending += c.num_pending;
      ephemeral.ackPending += c.num_ack_pending;
      continue;
    }
    durable.push({
      name: c.name,
      pending: c.num_pending,
      ackPending: c.num_ack_pending,
      redelivered: c.num_redelivered,
      waiting: c.num_waiting,
      delivered: c.delivered.stream_seq,
      ackFloor: c.ack_floor.stream_seq,
    });
  }
  return { consumers: durable, ephemeral };
}

async function streams(jsm: JetStreamManager) {
  const out: Record<string, unknown>[] = [];
  for await (const s of jsm.streams.list()) {
    const consumers: ConsumerInfo[] = [];
    for await (const c of jsm.consumers.list(s.config.name)) consumers.push(c);
    out.push({
      name: s.config.name,
      subjects: s.config.subjects,
      messages: s.state.messages,
      bytes: s.state.bytes,
      firstSeq: s.state.first_seq,
      lastSeq: s.state.last_seq,
      ...groupConsumers(consumers),
    });
  }
  return out;
}

export function systemRoute(o: SystemOptions): RouteHandler {
  const ms = o.timeoutMs ?? 1500;
  const cacheMs = o.cacheMs ?? 1000;
  const snapshot = async () => {
    const [own, peers, js] = await Promise.all([
      Promise.all(
        o.checks.map(async (c) => {
          try {
            await bounded(c.check(), ms, c.name);
            return [c.name, "ok"] as const;
          } catch (err) {
            return [c.name, shown((err as Error).message)] as const;
          }
        }),
      ),
      Promise.all(
        o.peers.map(
          async (p) => [p.name, p.url ? await peerReadiness(p.url, ms) : { configured: false }] as const,
        ),
      ),
      bounded(
        o.jsm().then((jsm) => streams(jsm)),
        ms,
        "jetstream",
      ).then(
        (s) => ({ streams: s }),
        (err: Error) => ({ streams: [], error: shown(err.message) }),
      ),
    ]);
    const dlq = js.streams.find((s) => s.name === dlqStream);
    return JSON.stringify({
      at: new Date().toISOString(),
      jetstream: js,
      writesDlqMessages: dlq ? dlq.messages : null,
      services: {
        reader: {
          ready: own.every(([, r]) => r === "ok"),
          checks: Object.fromEntries(own),
          redis: o.redisStatus(),
          invalidator: o.invalidator(),
          sseClients: o.sseClients(),
        },
        ...Object.fromEntries(peers),
      },
    });
  };
  // One computation at a time, its result kept for cacheMs: a burst of requests costs one snapshot.
  let current: { at: number; body: Promise<string> } | undefined;
  return async () => {
    const now = performance.now();
    if (!current || now - current.at > cacheMs) {
      const body = snapshot();
      current = { at: now, body };
      // The next request after a failure computes again rather than serving the failure.
      body.catch(() => {
        if (current?.body === body) current = undefined;
      });
    }
    return textResponse(await current.body, { headers: { "content-type": "application/json" } });
  };
}
