// Everything the checker's clients and operator did, and every answer they got: what the checks
// hold the system to at the end.
import type { Table } from "../../services/shared/writes.ts";
import type { Answer } from "./client.ts";
import type { Payload } from "./data.ts";

/** One payload under one key (or none), tried until a definite answer: each try is an answer. */
export interface Attempt {
  n: number;
  story: string;
  client: number;
  payload: Payload;
  /** The Idempotency-Key header as sent on the first try (undefined: keyless). */
  keySent?: string;
  /** The operation's id: the key's canonical spelling, or what the answer named. */
  id?: string;
  answers: Answer[];
  /** When the client stopped working on it (undefined: still in flight). */
  doneAt?: number;
  /** A 202's operation as last polled: accepted, committed, rejected, failed, or 404. */
  resolution?: { status: string; body?: unknown; at: number };
}

/** A row change made by hand, as the superuser; uncertain when the client could not tell. */
export type ManualChange =
  | { kind: "rename"; table: "users"; id: string; name: string; certain: boolean; at: number }
  | { kind: "delete"; table: Table; id: string; certain: boolean; at: number };

/** A command published by hand on writes.<table> with the admin user. */
export interface HandCommand {
  table: Table;
  id: string;
  /** Set for valid commands: the row they must leave, unless the email was taken. */
  fp?: string;
  body: string;
  at: number;
  /** Published and acknowledged by JetStream (an unacknowledged one may or may not be stored). */
  stored: boolean | "unknown";
  garbage: boolean;
}

export interface Violation {
  rule: string;
  /** One line: what was promised and what happened. */
  what: string;
  /** The operation: key, table, payloads, every answer, what the database holds. */
  detail?: unknown;
}

export class Ledger {
  readonly attempts: Attempt[] = [];
  readonly manual: ManualChange[] = [];
  readonly hand: HandCommand[] = [];
  readonly violations: Violation[] = [];
  /** Answers to reads, by status. */
  readonly reads = new Map<number, number>();
  /** Ids read through the reader (their entries may be cached). */
  readonly readIds = new Map<string, "users" | "orders">();
  /** Ids a client saw committed (201/200), with when the answer arrived. */
  readonly committed = new Map<string, { table: Table; at: number }>();
  private readonly committedIds: Record<Table, string[]> = { users: [], orders: [] };
  /** Emails of committed users, by id. */
  readonly emails = new Map<string, string>();
  /** Ids the operator changed or deleted: no client touches them again. */
  readonly operatorOwned = new Set<string>();
  /** Ids some client is working on now. */
  private readonly busy = new Map<string, number>();
  private next = 0;

  attempt(a: Omit<Attempt, "n" | "answers">): Attempt {
    const out: Attempt = { ...a, n: ++this.next, answers: [] };
    this.attempts.push(out);
    return out;
  }

  violate(v: Violation): void {
    this.violations.push(v);
  }

  hold(id: string): void {
    this.busy.set(id, (this.busy.get(id) ?? 0) + 1);
  }

  release(id: string): void {
    const n = (this.busy.get(id) ?? 1) - 1;
    if (n <= 0) this.busy.delete(id);
    else this.busy.set(id, n);
  }

  sawCommitted(id: string, table: Table, at: number): void {
    if (this.committed.has(id)) return;
    this.committed.set(id, { table, at });
    this.committedIds[table].push(id);
  }

  /** A committed id of `table` (recent ones more often), or undefined when there is none yet. */
  someCommitted(table: Table, pick: (n: number) => number): string | undefined {
    const ids = this.committedIds[table];
    return ids.length ? ids[pick(ids.length)] : undefined;
  }

  /** A committed id of `table` no client is working on and the operator has not touched. */
  someSettled(table: Table, pick: (n: number) => number): string | undefined {
    for (let i = 0; i < 20; i++) {
      const id = this.someCommitted(table, pick);
      if (id && !this.busy.has(id) && !this.operatorOwned.has(id)) return id;
    }
    return undefined;
  }

  /** Every answer status of writes, for the summary. */
  writeStatuses(): Map<string, number> {
    const m = new Map<string, number>();
    for (const a of this.attempts) {
      for (const ans of a.answers) {
        const k =
          ans.status === 0
            ? "no answer"
            : `${ans.status}${ans.type && ans.status >= 400 ? ` ${ans.type}` : ""}`;
        m.set(k, (m.get(k) ?? 0) + 1);
      }
    }
    return m;
  }

  requests(): number {
    let n = 0;
    for (const a of this.attempts) n += a.answers.length;
    for (const c of this.reads.values()) n += c;
    return n;
  }
}
