// Helpers shared by the reader's test files: HTTP reads with their X-Cache outcome, rows inserted
// the way the consumer writes them, and change events published as Debezium does.
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Sql } from "postgres";
import { until } from "../infra/until.ts";
import { cdcSubject } from "../shared/cdc.ts";
import type { Table } from "../shared/writes.ts";

export interface Read {
  status: number;
  cache: string | null;
  body: Record<string, unknown> & { items?: Record<string, unknown>[]; nextCursor?: string | null };
  text: string;
}

export async function read(base: string, path: string): Promise<Read> {
  const res = await fetch(`${base}${path}`);
  const text = await res.text();
  let body: Read["body"] = {};
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: res.status, cache: res.headers.get("x-cache"), body, text };
}

/** Reads `path` until it is answered through Redis again (not a bypass), after Redis restarted. */
export const readOnceRedisIsBack = (base: string, path: string) =>
  until(
    async () => {
      const r = await read(base, path);
      return r.cache === "bypass" ? undefined : r;
    },
    30_000,
    "Redis back on the read path",
  );

export async function insertUser(sql: Sql, name: string, createdAt?: string): Promise<string> {
  const id = crypto.randomUUID();
  const email = `${name.toLowerCase().replace(/\W/g, "")}.${id.slice(0, 8)}@example.com`;
  if (createdAt)
    await sql`insert into users (id, name, email, created_at) values (${id}, ${name}, ${email}, ${createdAt})`;
  else await sql`insert into users (id, name, email) values (${id}, ${name}, ${email})`;
  return id;
}

export async function insertOrder(
  sql: Sql,
  userId: string,
  total = "12.30",
  items?: unknown,
): Promise<string> {
  const id = crypto.randomUUID();
  const it = items ?? [{ productId: "p-1", quantity: 1, price: total }];
  await sql`insert into orders (id, user_id, items, total) values (${id}, ${userId}, ${sql.json(it as never)}, ${total})`;
  return id;
}

/** Publishes a change event on cdc.public.<table>, shaped like Debezium's; resolves with its sequence. */
export async function publishChangeEvent(
  js: JetStreamClient,
  table: Table,
  op: string,
  before: unknown,
  after: unknown,
): Promise<number> {
  const now = Date.now();
  const event = {
    before,
    after,
    source: { connector: "postgresql", ts_ms: now, ts_us: now * 1000, schema: "public", table, lsn: 1 },
    op,
    ts_ms: now,
  };
  return (await js.publish(cdcSubject(table), JSON.stringify(event))).seq;
}
