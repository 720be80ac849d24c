// GET /api/events: every applied invalidation pushed to browsers as Server-Sent Events. A plain
// web ReadableStream, so Node's adapter (chunk by chunk, cancelled on disconnect) and Deno.serve
// stream it alike. Bounded: at most `maxClients` streams at once (503 + Retry-After beyond), a
// client that goes away is released (its stream is cancelled), and a client that stops reading is
// dropped rather than buffered without bound.
import { UnavailableError } from "../shared/errors.ts";
import type { InvalidationEvent } from "../shared/invalidation.ts";

const encoder = new TextEncoder();
/** Chunks a client may have unread before it is dropped. */
const maxBacklog = 1000;

export interface FeedOptions {
  /**
   * A comment line to every client this often (default 5 s): proxies close idle streams, and behind
   * a proxy (the edge) a client that went away is noticed only when writes to it fail, so this also
   * bounds how long a departed client holds its place (about three intervals).
   */
  keepAliveMs?: number;
  /** Streams open at once; one more is refused with 503 + Retry-After (default 100). */
  maxClients?: number;
}

export class InvalidationFeed {
  private clients = new Set<ReadableStreamDefaultController<Uint8Array>>();
  private keepAlive: ReturnType<typeof setInterval> | undefined;
  readonly maxClients: number;

  constructor(opts: FeedOptions = {}) {
    const keepAliveMs = opts.keepAliveMs ?? 5000;
    this.maxClients = opts.maxClients ?? 100;
    this.keepAlive = setInterval(() => this.send(": keep-alive\n\n"), keepAliveMs);
    (this.keepAlive as { unref?: () => void }).unref?.();
  }

  get size(): number {
    return this.clients.size;
  }

  private listeners = new Set<(e: InvalidationEvent) => void>();

  /** In-process subscribers (tests, benchmarks); returns the unsubscribe function. */
  listen(fn: (e: InvalidationEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Changes applied together go to each client in one chunk (one write, not one per change). */
  publish(...events: InvalidationEvent[]): void {
    for (const event of events) for (const fn of this.listeners) fn(event);
    if (this.clients.size) {
      this.send(events.map((e) => `event: invalidation\ndata: ${JSON.stringify(e)}\n\n`).join(""));
    }
  }

  private send(text: string): void {
    const chunk = encoder.encode(text);
    for (const c of this.clients) {
      if ((c.desiredSize ?? 0) < -maxBacklog) {
        this.drop(c);
        continue;
      }
      try {
        c.enqueue(chunk);
      } catch {
        this.clients.delete(c);
      }
    }
  }

  private drop(c: ReadableStreamDefaultController<Uint8Array>): void {
    this.clients.delete(c);
    try {
      c.close();
    } catch {}
  }

  /** The event stream for one client; throws a 503 when `maxClients` streams are open. */
  response(req?: Request): Response {
    const headers = {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
      // The connection is not reused after the stream: when close() ends the stream at shutdown,
      // the server must not be left waiting on an idle keep-alive socket.
      connection: "close",
    };
    // HEAD: the headers a GET would get, and no stream to hold open.
    if (req?.method === "HEAD") return new Response(null, { headers });
    if (this.clients.size >= this.maxClients) {
      throw new UnavailableError(
        `the event stream already has ${this.clients.size} clients, its limit: try again shortly`,
        5,
      );
    }
    let me: ReadableStreamDefaultController<Uint8Array> | undefined;
    const body = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          me = controller;
          this.clients.add(controller);
          controller.enqueue(encoder.encode("retry: 2000\n: connected\n\n"));
        },
        cancel: () => {
          if (me) this.clients.delete(me);
        },
      },
      { highWaterMark: 1 },
    );
    return new Response(body, { headers });
  }

  /** Ends every stream (shutdown: open streams would otherwise hold the HTTP server open). */
  close(): void {
    clearInterval(this.keepAlive);
    for (const c of this.clients) this.drop(c);
  }
}
