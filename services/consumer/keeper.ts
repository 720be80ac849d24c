// The history keeper: WRITES keeps no max_age (age must never drop an unapplied command) and its
// max_bytes is only a hard cap; this trims history by the limits declared in the stream's metadata
// (jpw.history.max_age, jpw.history.max_bytes), and only ever below what both writers applied:
//
//   applied = min over the writers of their ack floor (or, for a writer with nothing pending or
//             unacked, the stream's last sequence read before its consumer info)
//   cut     = min(applied + 1, max(first sequence younger than max_age, enough to fit max_bytes))
//   purge everything below `cut` (JetStream's purge-by-sequence keeps `cut` and above)
//
// So age and size only remove commands both writers acked (applied or dead-lettered), and the
// decision events between them. A missing writer consumer means no trim. Every consumer replica
// runs one: purges are idempotent and each cut is safe on its own.
import type { JetStreamManager, MsgRequest } from "@nats-io/jetstream";
import { parseDuration, parseSize } from "../infra/reconcile/units.ts";
import type { Logger } from "../shared/log.ts";
import { historyDefaults, historyMetadata } from "../shared/writes.ts";
import type { ConsumerMetrics } from "./metrics.ts";

export interface KeeperOptions {
  stream: string;
  /** The writer consumers whose acks bound what may go. */
  consumers: string[];
  intervalMs: number;
}

export interface Trim {
  purged: number;
  /** The first sequence kept. */
  cut: number;
  by: "age" | "size";
}

export class HistoryKeeper {
  /** Why the last round could not run, for readiness and logs ("" when it ran). */
  lastError = "";
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;
  private warnedAt = 0;

  constructor(
    private readonly jsm: () => Promise<JetStreamManager>,
    private readonly log: Logger,
    private readonly metrics: ConsumerMetrics["history"],
    private readonly opts: KeeperOptions,
  ) {}

  start(): void {
    const tick = () => {
      if (this.stopped) return;
      this.running = this.round()
        .then(() => {
          this.lastError = "";
        })
        .catch((err) => {
          this.lastError = (err as Error).message;
          if (Date.now() - this.warnedAt > 60_000) {
            this.warnedAt = Date.now();
            this.log.warn("history keeper round failed; retrying", { err });
          }
        })
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.opts.intervalMs);
        });
    };
    this.timer = setTimeout(tick, this.opts.intervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running?.catch(() => {});
  }

  /** One round: measure, find the cut, purge below it. Undefined when nothing went. */
  async round(now = Date.now()): Promise<Trim | undefined> {
    const jsm = await this.jsm();
    const { stream } = this.opts;
    const info = await jsm.streams.info(stream);
    const { first_seq: first, last_seq: last, messages, bytes } = info.state;
    this.metrics.messages.set(messages);
    this.metrics.bytes.set(bytes);
    this.metrics.oldestAge.set(messages > 0 ? Math.max(0, now - Date.parse(info.state.first_ts)) / 1000 : 0);
    if (messages === 0) return undefined;

    let applied = last;
    for (const name of this.opts.consumers) {
      // A missing consumer rejects here: without its ack floor nothing may go.
      const c = await jsm.consumers.info(stream, name);
      const floor = c.num_pending === 0 && c.num_ack_pending === 0 ? last : c.ack_floor.stream_seq;
      applied = Math.min(applied, floor);
    }

    const { maxAgeMs, maxBytes } = this.limits(info.config.metadata);
    const ageCut = maxAgeMs > 0 ? await this.firstSince(jsm, now - maxAgeMs, last) : first;
    const sizeCut =
      maxBytes >= 0 && bytes > maxBytes ? first + Math.ceil((bytes - maxBytes) / (bytes / messages)) : first;
    const cut = Math.min(applied + 1, Math.max(ageCut, sizeCut));
    if (cut <= first) return undefined;

    const { purged } = await jsm.streams.purge(stream, { seq: cut });
    const by = ageCut >= sizeCut ? "age" : "size";
    this.metrics.trimmed.inc({ by }, purged);
    this.metrics.lastTrim.set(now / 1000);
    this.log.info("history trimmed", { stream, purged, by, firstKept: cut, applied, maxAgeMs, maxBytes });
    return { purged, cut, by };
  }

  /** The first sequence stored at or after `time`, or last + 1 when every message is older. */
  private async firstSince(jsm: JetStreamManager, time: number, last: number): Promise<number> {
    // STREAM.MSG.GET with start_time finds the first message at or after it (nats-server
    // GetSeqFromTime); next_by_subj skips interior deletes. nats.js types only seq and subject gets.
    const query = { start_time: new Date(time).toISOString(), next_by_subj: ">", no_hdr: true };
    const m = await jsm.streams.getMessage(this.opts.stream, query as unknown as MsgRequest);
    return m ? m.seq : last + 1;
  }

  private limits(metadata: Record<string, string> | undefined): { maxAgeMs: number; maxBytes: number } {
    const read = <T>(key: string, fallback: string, parse: (v: string) => T): T => {
      const value = metadata?.[key];
      try {
        return parse(value ?? fallback);
      } catch (err) {
        this.log.warn(`stream metadata ${key} is invalid; using ${fallback}`, { value, err });
        return parse(fallback);
      }
    };
    return {
      maxAgeMs: read(historyMetadata.maxAge, historyDefaults.maxAge, parseDuration) / 1e6,
      maxBytes: read(historyMetadata.maxBytes, historyDefaults.maxBytes, parseSize),
    };
  }
}
