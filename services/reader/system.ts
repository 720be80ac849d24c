// GET /api/system: one JSON snapshot for the UI's system panel: every stream and its consumers,
// the dead-letter count, and the readiness of each service (the reader's own checks, the producer's
// and consumer's /readyz, Debezium's health). Every probe is bounded; a dead peer is a field, not a 500.
import type { JetStreamManager } from "@nats-io/jetstream";
import type { ReadinessCheck } from "../shared/health.ts";
import { json, type RouteHandler } from "../shared/http.ts";
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

async function peerReadiness(url: string, ms: number): Promise<Record<string, unknown>> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(ms) });
    const text = await res.text();
    let body: unknown = text.slice(0, 500);
    try {
      body = JSON.parse(text);
    } catch {}
    return { url, ready: res.ok, status: res.status, body };
  } catch (err) {
    return { url, ready: false, error: (err as Error).message };
  }
}

async function streams(jsm: JetStreamManager) {
  const out: Record<string, unknown>[] = [];
  for await (const s of jsm.streams.list()) {
    const consumers: Record<string, unknown>[] = [];
    for await (const c of jsm.consumers.list(s.config.name)) {
      consumers.push({
        name: c.name,
        pending: c.num_pending,
        ackPending: c.num_ack_pending,
        redelivered: c.num_redelivered,
        waiting: c.num_waiting,
        delivered: c.delivered.stream_seq,
        ackFloor: c.ack_floor.stream_seq,
      });
    }
    out.push({
      name: s.config.name,
      subjects: s.config.subjects,
      messages: s.state.messages,
      bytes: s.state.bytes,
      firstSeq: s.state.first_seq,
      lastSeq: s.state.last_seq,
      consumers,
    });
  }
  return out;
}

export function systemRoute(o: SystemOptions): RouteHandler {
  const ms = o.timeoutMs ?? 1500;
  return async () => {
    const [own, peers, js] = await Promise.all([
      Promise.all(
        o.checks.map(async (c) => {
          try {
            await bounded(c.check(), ms, c.name);
            return [c.name, "ok"] as const;
          } catch (err) {
            return [c.name, (err as Error).message] as const;
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
        (err: Error) => ({ streams: [], error: err.message }),
      ),
    ]);
    const dlq = js.streams.find((s) => s.name === dlqStream);
    return json({
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
}
