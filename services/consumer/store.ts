// Applies a batch of create commands with one statement and tells each command what happened to it.
// The primary key is the operationId, so a redelivered or retried command can never insert twice;
// `ON CONFLICT DO NOTHING` (no target: the email index too) skips instead of failing the batch, and
// the rows skipped are then explained one by one by reading what is stored:
//   same id, same payload        → duplicate (replay the stored row)
//   same id, another payload     → key reused (422), also when the id belongs to the other table
//   no such id, email taken      → 409 (users)
//   no such id, no such user     → user missing (orders; the consumer retries briefly, then 422)
// created_at is the command's requestedAt, not now(): a row is reproducible from its command.
// Rows go in id order: each takes its key's lock (migration 0004), and two batches then never wait
// on each other in opposite orders.
import type { Sql } from "postgres";
import { type OrderRow, orderResult, sameData, type UserRow, userResult } from "../shared/rows.ts";
import { isoTimestampFormat } from "../shared/timestamps.ts";
import type { Command, OrderResult, Table, UserResult } from "../shared/writes.ts";

export type Applied =
  | { kind: "inserted"; result: UserResult | OrderResult }
  | { kind: "duplicate"; result: UserResult | OrderResult }
  | { kind: "key-reused" }
  | { kind: "email-taken" }
  | { kind: "user-missing" }
  /** Skipped by a conflict that is no longer there (a concurrent insert rolled back): try again. */
  | { kind: "unexplained" };

export async function applyBatch(sql: Sql, table: Table, commands: Command[]): Promise<Applied[]> {
  return table === "users"
    ? applyUsers(sql, commands as Command<"users">[])
    : applyOrders(sql, commands as Command<"orders">[]);
}

async function applyUsers(sql: Sql, commands: Command<"users">[]): Promise<Applied[]> {
  const ids = commands.map((c) => c.operationId);
  const emails = commands.map((c) => c.data.email);
  const inserted = await sql<UserRow[]>`
    insert into users (id, name, email, created_at)
    select t.id, t.name, t.email, t.created_at
    from unnest(
      ${ids}::uuid[], ${commands.map((c) => c.data.name)}::text[], ${emails}::text[],
      ${commands.map((c) => c.requestedAt)}::timestamptz[]
    ) as t(id, name, email, created_at)
    where not exists (select 1 from orders o where o.id = t.id)
    order by t.id
    on conflict do nothing
    returning id, name, email, to_char(created_at at time zone 'UTC', ${isoTimestampFormat}) as created_at`;
  return explain(commands, inserted, userResult, async (pending) => {
    const unresolved = pending as Command<"users">[];
    const rows = await sql<(Partial<UserRow> & { ord: number; in_other: boolean; email_taken: boolean })[]>`
      select t.ord::int as ord, u.id, u.name, u.email,
        to_char(u.created_at at time zone 'UTC', ${isoTimestampFormat}) as created_at,
        exists (select 1 from orders o where o.id = t.id) as in_other,
        exists (select 1 from users e where lower(e.email) = lower(t.email)) as email_taken
      from unnest(${unresolved.map((c) => c.operationId)}::uuid[], ${unresolved.map((c) => c.data.email)}::text[])
        with ordinality as t(id, email, ord)
      left join users u on u.id = t.id`;
    return rows.map((r) => ({
      ord: r.ord,
      row: r.id ? (r as UserRow) : undefined,
      inOther: r.in_other,
      missing: r.email_taken ? "email-taken" : "unexplained",
    }));
  });
}

async function applyOrders(sql: Sql, commands: Command<"orders">[]): Promise<Applied[]> {
  const ids = commands.map((c) => c.operationId);
  const userIds = commands.map((c) => c.data.userId);
  // Orders of unknown users are simply not inserted (no foreign-key error to abort the batch).
  const inserted = await sql<OrderRow[]>`
    insert into orders (id, user_id, items, total, created_at)
    select t.id, t.user_id, t.items::jsonb, t.total, t.created_at
    from unnest(
      ${ids}::uuid[], ${userIds}::uuid[],
      ${commands.map((c) => JSON.stringify(c.data.items))}::text[], ${commands.map((c) => c.data.total)}::numeric[],
      ${commands.map((c) => c.requestedAt)}::timestamptz[]
    ) as t(id, user_id, items, total, created_at)
    where exists (select 1 from users u where u.id = t.user_id)
      and not exists (select 1 from users x where x.id = t.id)
    order by t.id
    on conflict do nothing
    returning id, user_id, items, total, to_char(created_at at time zone 'UTC', ${isoTimestampFormat}) as created_at`;
  return explain(commands, inserted, orderResult, async (pending) => {
    const unresolved = pending as Command<"orders">[];
    const rows = await sql<(Partial<OrderRow> & { ord: number; in_other: boolean; user_exists: boolean })[]>`
      select t.ord::int as ord, o.id, o.user_id, o.items, o.total,
        to_char(o.created_at at time zone 'UTC', ${isoTimestampFormat}) as created_at,
        exists (select 1 from users x where x.id = t.id) as in_other,
        exists (select 1 from users u where u.id = t.user_id) as user_exists
      from unnest(${unresolved.map((c) => c.operationId)}::uuid[], ${unresolved.map((c) => c.data.userId)}::uuid[])
        with ordinality as t(id, user_id, ord)
      left join orders o on o.id = t.id`;
    return rows.map((r) => ({
      ord: r.ord,
      row: r.id ? (r as OrderRow) : undefined,
      inOther: r.in_other,
      missing: r.user_exists ? "unexplained" : "user-missing",
    }));
  });
}

interface Stored<R> {
  /** 1-based position in the list of unresolved commands. */
  ord: number;
  row: R | undefined;
  inOther: boolean;
  missing: "email-taken" | "user-missing" | "unexplained";
}

async function explain<R extends { id: string }>(
  commands: Command[],
  inserted: R[],
  toResult: (row: R) => UserResult | OrderResult,
  lookup: (unresolved: Command[]) => Promise<Stored<R>[]>,
): Promise<Applied[]> {
  const fresh = new Map(inserted.map((r) => [r.id, r]));
  const out: Applied[] = new Array(commands.length);
  const unresolved: number[] = [];
  commands.forEach((c, i) => {
    const row = fresh.get(c.operationId);
    const result = row && toResult(row);
    // The first command whose payload is the inserted row's made it; a redelivery of the same
    // command in the same batch is a duplicate, found below like any other.
    if (result && sameData(c.table, c.data, result)) {
      out[i] = { kind: "inserted", result };
      fresh.delete(c.operationId);
    } else unresolved.push(i);
  });
  if (unresolved.length === 0) return out;

  const stored = await lookup(unresolved.map((i) => commands[i]!));
  for (const s of stored) {
    const i = unresolved[s.ord - 1]!;
    const c = commands[i]!;
    if (s.row) {
      const result = toResult(s.row);
      out[i] = sameData(c.table, c.data, result) ? { kind: "duplicate", result } : { kind: "key-reused" };
    } else if (s.inOther) {
      out[i] = { kind: "key-reused" };
    } else {
      out[i] = { kind: s.missing };
    }
  }
  return out;
}
