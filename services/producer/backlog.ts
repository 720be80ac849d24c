// Backpressure on the backlog, never on history: each writer consumer declares a bound on its
// unapplied commands (metadata jpw.backlog.max_msgs in streams.yaml); at or above it a write is
// refused with 503 backlog-full before it is published.
//
// The producer reads both writers' consumer info at most every `refreshMs` (num_pending +
// num_ack_pending; the request that finds the reading too old waits for the new one, about one
// round trip) and adds what it started publishing since. Between reads it cannot see other
// producers' publishes: with N replicas the bound is overshot by at most what the other replicas
// publish within one refresh interval (docs/durability.md). Its own count errs high (a publish in
// flight during the read may count twice), so one producer alone never passes the bound.
import type { JetStreamManager } from "@nats-io/jetstream";
import { BacklogFullError, UnavailableError } from "../shared/errors.ts";
import type { Logger } from "../shared/log.ts";
import {
  backlogDefault,
  backlogMetadata,
  consumerName,
  type Table,
  tables,
  writesStream,
} from "../shared/writes.ts";

interface Reading {
  /** Unapplied commands the consumer reported. */
  backlog: number;
  bound: number;
  /** `completed` when the read was sent: everything started after it is not in `backlog`. */
  completedAtRead: number;
  /** When it was read (performance.now()). */
  at: number;
}

export interface BacklogOptions {
  refreshMs: number;
  /**
   * How long the last reading stands in when a read fails without saying the consumer is gone (a
   * timeout): in a cluster a consumer's info goes unanswered while its new leader is elected
   * (seconds after a node dies), and refusing every write meanwhile would add an outage to a
   * failover. What this producer starts meanwhile is still counted on top. Default 10 s.
   */
  staleMs?: number;
  /** Seconds a refused client is told to wait. */
  retryAfterSeconds?: number;
}

export class Backlog {
  private readonly started: Record<Table, number> = { users: 0, orders: 0 };
  private readonly completed: Record<Table, number> = { users: 0, orders: 0 };
  private readings: Record<Table, Reading | Error> | undefined;
  private readAt = 0;
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly jsm: () => Promise<JetStreamManager>,
    private readonly log: Logger,
    private readonly opts: BacklogOptions,
  ) {}

  /** Resolves when `table` may take one more command; throws a 503 error otherwise. */
  async admit(table: Table): Promise<void> {
    if (!this.readings || performance.now() - this.readAt > this.opts.refreshMs) await this.refresh();
    const r = this.readings?.[table];
    if (!r) throw new UnavailableError(`the backlog of ${consumerName(table)} is not known yet`, 1);
    if (r instanceof Error)
      throw new UnavailableError(`the write was not accepted: ${r.message}`, 1, { cause: r });
    const backlog = r.backlog + (this.started[table] - r.completedAtRead);
    if (backlog >= r.bound) {
      throw new BacklogFullError(
        `the ${table} writer has ${backlog} commands waiting to be applied, its declared bound (${backlogMetadata} = ${r.bound}); the write was not accepted. Retry later with the same Idempotency-Key.`,
        this.opts.retryAfterSeconds ?? 5,
      );
    }
  }

  /** Counts a publish from its start to its end (stored or not). */
  async counting<T>(table: Table, publish: () => Promise<T>): Promise<T> {
    this.started[table]++;
    try {
      return await publish();
    } finally {
      this.completed[table]++;
    }
  }

  private refresh(): Promise<void> {
    this.refreshing ??= this.read().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async read(): Promise<void> {
    const next = {} as Record<Table, Reading | Error>;
    let jsm: JetStreamManager;
    try {
      jsm = await this.jsm();
    } catch (err) {
      for (const t of tables) next[t] = err as Error;
      this.readings = next;
      this.readAt = performance.now();
      return;
    }
    await Promise.all(
      tables.map(async (table) => {
        const completedAtRead = this.completed[table];
        try {
          const c = await jsm.consumers.info(writesStream, consumerName(table));
          next[table] = {
            backlog: c.num_pending + c.num_ack_pending,
            bound: bound(c.config.metadata?.[backlogMetadata], this.log),
            completedAtRead,
            at: performance.now(),
          };
        } catch (err) {
          const last = this.readings?.[table];
          const reason = missing(err, table);
          const recent =
            last && !(last instanceof Error) && performance.now() - last.at < (this.opts.staleMs ?? 10_000);
          next[table] = recent && !gone(reason) ? last : new Error(reason, { cause: err });
        }
      }),
    );
    this.readings = next;
    this.readAt = performance.now();
  }
}

function bound(value: string | undefined, log: Logger): number {
  if (value === undefined) return backlogDefault;
  const n = Number(value);
  if (Number.isInteger(n) && n > 0) return n;
  log.warn(`consumer metadata ${backlogMetadata} is not a positive integer; using ${backlogDefault}`, {
    value,
  });
  return backlogDefault;
}

const gone = (reason: string) => reason.endsWith("not found: run just streams apply");

function missing(err: unknown, table: Table): string {
  const code = (err as { code?: number }).code;
  const message = (err as Error).message ?? String(err);
  if (code === 10059 || /stream not found/i.test(message)) {
    return `stream ${writesStream} not found: run just streams apply`;
  }
  if (code === 10014 || /consumer not found/i.test(message)) {
    return `consumer ${writesStream}/${consumerName(table)} not found: run just streams apply`;
  }
  return `cannot read the backlog of ${consumerName(table)} (${message})`;
}
