// The system panel: JetStream streams and consumers, the DLQ count and each service's readiness,
// from the reader's GET /api/system, refreshed every two seconds.
import { signal } from "@preact/signals";
import { getJson } from "../api.ts";

export interface ConsumerStats {
  name: string;
  pending: number;
  ackPending: number;
  redelivered: number;
  waiting: number;
}

export interface StreamStats {
  name: string;
  messages: number;
  bytes: number;
  /** Durable consumers. */
  consumers: ConsumerStats[];
  /** Ephemeral consumers (watches, CLI sessions), counted rather than listed. */
  ephemeral?: { count: number; pending: number; ackPending: number };
}

export interface ServiceState {
  /** Absent for a peer the reader was not told about (`configured: false`). */
  ready?: boolean;
  configured?: boolean;
  /** Why a peer could not be asked ("unreachable (ECONNREFUSED)", "no answer within 1500 ms"). */
  error?: string;
  checks?: Record<string, string>;
}

/** The reader's GET /api/system. */
export interface SystemSnapshot {
  at: string;
  jetstream: { streams: StreamStats[] } | { error: string };
  writesDlqMessages: number | null;
  services: Record<string, ServiceState>;
}

export const system = signal<SystemSnapshot | null>(null);
export const systemError = signal<string | null>(null);

export function pollSystem(intervalMs = 2000): () => void {
  let stopped = false;
  const tick = async () => {
    try {
      system.value = (await getJson<SystemSnapshot>("/api/system")).data;
      systemError.value = null;
    } catch (err) {
      systemError.value = (err as Error).message;
    }
    if (!stopped) setTimeout(tick, intervalMs);
  };
  void tick();
  return () => {
    stopped = true;
  };
}
