// The live feed of cache invalidations the reader applied from CDC events (Server-Sent Events on
// /api/events), each with its commit → invalidation latency.
import { signal } from "@preact/signals";
import type { InvalidationEvent } from "../../../services/shared/invalidation.ts";

/** One applied invalidation, as the reader's /api/events sends it (event name `invalidation`). */
export type Invalidation = InvalidationEvent;

export const feed = signal<(Invalidation & { seq: number })[]>([]);
export const feedState = signal<"connecting" | "live" | "retrying">("connecting");
let seq = 0;

/** Opens the stream; EventSource reconnects by itself. `onChange` lets lists refresh what changed. */
export function connectFeed(onChange: (e: Invalidation) => void): () => void {
  const source = new EventSource("/api/events");
  source.onopen = () => {
    feedState.value = "live";
  };
  source.onerror = () => {
    feedState.value = "retrying";
  };
  source.addEventListener("invalidation", (m) => {
    let event: Invalidation;
    try {
      event = JSON.parse(m.data) as Invalidation;
    } catch {
      return;
    }
    feed.value = [{ ...event, seq: ++seq }, ...feed.value].slice(0, 50);
    onChange(event);
  });
  return () => source.close();
}
