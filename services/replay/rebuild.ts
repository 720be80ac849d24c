// Rebuilds rows from history through the consumer's own code: every command is parsed by
// consumer/parse.ts and applied by consumer/store.ts's applyBatch, the statement the writers run.
//
// Faithful to what happened: the two writers run independently, so live an order can be told
// user-not-found because its user's create had not landed yet, even when that create is earlier in
// the stream. Replay does not re-decide: a command with a decision event in WRITES is not applied
// (its replayed outcome is the logged one). Every other command was committed live (or came back
// duplicate), so it must commit or come back duplicate here too; anything else is a fidelity
// failure, named with its sequence and operationId. Users go first, then orders (an order's user
// was committed before the order, live), each table in stream order, one batch after the other
// (two commands of one key must land in their order: the first one's requestedAt is the row's).
//
// An order within the window whose user's create came after the cut (the users' writer's ack floor
// held back by another command while that create committed) pulls the create forward: live it was
// committed before the order, so it is applied here too, and named in the report.
import type { Sql } from "postgres";
import { parseMessage } from "../consumer/parse.ts";
import { describe, isRowError } from "../consumer/retry.ts";
import { type Applied, applyBatch } from "../consumer/store.ts";
import type { Decision } from "../shared/outcomes.ts";
import { type Command, type Table, tables, writeSubject } from "../shared/writes.ts";
import type { History } from "./history.ts";
import type { Spooled } from "./spool.ts";

/** How the commands of one table ended in the rebuild. */
export interface Tally {
  committed: number;
  duplicate: number;
  /** Not applied: decided live, with the decision logged in WRITES. */
  decided: Partial<Record<Decision, number>>;
  failures: number;
}

/** A command without a decision that did not commit in the rebuild. */
export interface Infidelity {
  seq: number;
  table: Table;
  operationId: string | undefined;
  problem: string;
}

export interface RebuildReport {
  tables: Record<Table, Tally>;
  failures: Infidelity[];
  /** Users' creates after the cut applied because an order within the window needed them. */
  pulledForward: { seq: number; operationId: string }[];
  commands: number;
  seconds: number;
}

export interface RebuildProgress {
  table: Table;
  /** Commands handled so far, both tables. */
  done: number;
  total: number;
  /** The last sequence handled. */
  seq: number;
}

interface Item {
  seq: number;
  command: Command;
}

type Result = Applied | { kind: "refused"; detail: string };

export async function rebuild(
  sql: Sql,
  h: History,
  o: { batchSize: number; onProgress?: (p: RebuildProgress) => void },
): Promise<RebuildReport> {
  const started = performance.now();
  const total = h.commands.users.count + h.commands.orders.count;
  const report: RebuildReport = {
    tables: { users: tally(), orders: tally() },
    failures: [],
    pulledForward: [],
    commands: total,
    seconds: 0,
  };
  const fail = (table: Table, seq: number, operationId: string | undefined, problem: string) => {
    report.tables[table].failures++;
    report.failures.push({ seq, table, operationId, problem });
  };
  let done = 0;
  const waitingForUser: Item[] = [];

  for (const table of tables) {
    const t = report.tables[table];
    let inFlight: Promise<void> = Promise.resolve();
    for await (const records of h.commands[table].batches(o.batchSize)) {
      // Parsing the next batch overlaps the statement of the one before; statements stay in order.
      const items = prepare(table, records, h, t, fail);
      await inFlight;
      const last = records[records.length - 1]!.seq;
      inFlight = apply(sql, table, items).then((results) => {
        results.forEach((r, i) => {
          const { seq, command } = items[i]!;
          if (r.kind === "user-missing" && table === "orders") waitingForUser.push(items[i]!);
          else settle(table, seq, command.operationId, r, t, fail);
        });
        done += records.length;
        o.onProgress?.({ table, done, total, seq: last });
      });
      // Awaited with the next batch; a failure in between (Postgres gone) is not unhandled.
      inFlight.catch(() => {});
    }
    await inFlight;
  }

  if (waitingForUser.length > 0) {
    await pullUsersForward(sql, h, waitingForUser, report, fail);
    for (let i = 0; i < waitingForUser.length; i += o.batchSize) {
      const items = waitingForUser.slice(i, i + o.batchSize);
      const results = await apply(sql, "orders", items);
      results.forEach((r, j) => {
        const { seq, command } = items[j]!;
        settle("orders", seq, command.operationId, r, report.tables.orders, fail);
      });
    }
  }
  report.seconds = (performance.now() - started) / 1000;
  return report;
}

const tally = (): Tally => ({ committed: 0, duplicate: 0, decided: {}, failures: 0 });

/** Parses a batch and leaves out the commands decided live (their outcome is the logged one). */
function prepare(
  table: Table,
  records: Spooled[],
  h: History,
  t: Tally,
  fail: (table: Table, seq: number, operationId: string | undefined, problem: string) => void,
): Item[] {
  const items: Item[] = [];
  for (const r of records) {
    const decision = h.decisions.get(r.seq);
    if (decision) {
      t.decided[decision.outcome] = (t.decided[decision.outcome] ?? 0) + 1;
      continue;
    }
    const parsed = parseMessage({ subject: writeSubject(table), data: r.data }, table);
    if (parsed.ok) items.push({ seq: r.seq, command: parsed.command });
    else
      fail(
        table,
        r.seq,
        parsed.operationId,
        `does not parse (${parsed.reason}), yet no decision was logged for it (live it would have been dead-lettered)`,
      );
  }
  return items;
}

function settle(
  table: Table,
  seq: number,
  operationId: string,
  r: Result,
  t: Tally,
  fail: (table: Table, seq: number, operationId: string | undefined, problem: string) => void,
): void {
  if (r.kind === "inserted") t.committed++;
  else if (r.kind === "duplicate") t.duplicate++;
  else if (r.kind === "refused") fail(table, seq, operationId, `Postgres refused the row: ${r.detail}`);
  else
    fail(
      table,
      seq,
      operationId,
      `comes back ${r.kind} in the rebuild, yet no decision was logged for it (live it was committed)`,
    );
}

/** The consumer's statement; a row Postgres refuses is applied alone, as the writer does. */
async function apply(sql: Sql, table: Table, items: Item[]): Promise<Result[]> {
  if (items.length === 0) return [];
  try {
    return await applyBatch(
      sql,
      table,
      items.map((i) => i.command),
    );
  } catch (err) {
    if (!isRowError(err)) throw err;
    if (items.length === 1) return [{ kind: "refused", detail: describe(err) }];
    const out: Result[] = [];
    for (const item of items) out.push(...(await apply(sql, table, [item])));
    return out;
  }
}

/** Applies the first undecided create after the cut of each user the waiting orders name. */
async function pullUsersForward(
  sql: Sql,
  h: History,
  waiting: Item[],
  report: RebuildReport,
  fail: (table: Table, seq: number, operationId: string | undefined, problem: string) => void,
): Promise<void> {
  const wanted = new Set(waiting.map((i) => (i.command as Command<"orders">).data.userId));
  const found: Item[] = [];
  for await (const records of h.tailUsers.batches(1000)) {
    for (const r of records) {
      if (h.decisions.has(r.seq)) continue;
      const parsed = parseMessage({ subject: writeSubject("users"), data: r.data }, "users");
      if (!parsed.ok || !wanted.has(parsed.command.operationId)) continue;
      wanted.delete(parsed.command.operationId);
      found.push({ seq: r.seq, command: parsed.command });
    }
    if (wanted.size === 0) break;
  }
  const results = await apply(sql, "users", found);
  results.forEach((r, i) => {
    const { seq, command } = found[i]!;
    if (r.kind === "inserted" || r.kind === "duplicate") {
      report.pulledForward.push({ seq, operationId: command.operationId });
    } else {
      settle("users", seq, command.operationId, r, report.tables.users, fail);
    }
  });
}
