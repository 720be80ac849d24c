// applyBatch against a real Postgres, as jpw_writer: one statement per batch, and every command in
// it told exactly what happened, including neighbours that collide inside the same batch.
import postgres from "postgres";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Command } from "../shared/writes.ts";
import { startPostgres } from "../testing/postgres.ts";
import { applyBatch } from "./store.ts";

const pg = await startPostgres();
const db = await pg.createDatabase("store");
const sql = postgres(db.urlAs("jpw_writer"), { max: 2, onnotice: () => {} });

const user = (name: string, email: string, operationId: string = crypto.randomUUID()): Command<"users"> => ({
  operationId,
  table: "users",
  op: "create",
  data: { name, email },
  requestedAt: new Date().toISOString(),
});
const order = (
  userId: string,
  total = "2.00",
  operationId: string = crypto.randomUUID(),
): Command<"orders"> => ({
  operationId,
  table: "orders",
  op: "create",
  data: { userId, items: [{ productId: "p", quantity: 1, price: total }], total },
  requestedAt: new Date().toISOString(),
});
const kinds = (xs: { kind: string }[]) => xs.map((x) => x.kind);

const users = suite("users batches");

users("new users are inserted in one statement and come back with their stored rows", async () => {
  const a = user("Ann", "ann@example.com");
  const b = user("Bob", "bob@example.com");
  const out = await applyBatch(sql, "users", [a, b]);
  assert.equal(kinds(out), ["inserted", "inserted"]);
  const first = out[0] as { result: { id: string; email: string; createdAt: string } };
  assert.is(first.result.id, a.operationId);
  assert.is(first.result.email, "ann@example.com");
  assert.match(first.result.createdAt, /^\d{4}-\d\d-\d\dT/);
});

users(
  "inside one batch: a redelivery is a duplicate, another payload under the key is reused, a second taker of an email gets email-taken",
  async () => {
    // A batch inserts in id order: the first taker of the email must have the smaller id.
    const [first, second] = [crypto.randomUUID(), crypto.randomUUID()].sort();
    const a = user("Cat", "cat@example.com", first);
    const again = { ...a };
    const reused = user("Cat 2", "cat2@example.com", a.operationId);
    const sameEmail = user("Other Cat", "CAT@example.com", second);
    const out = await applyBatch(sql, "users", [a, again, reused, sameEmail]);
    assert.equal(kinds(out), ["inserted", "duplicate", "key-reused", "email-taken"]);
    assert.equal((out[1] as { result: unknown }).result, (out[0] as { result: unknown }).result);
    const rows = await sql`select id from users where lower(email) like 'cat%'`;
    assert.is(rows.length, 1);
  },
);

users("a later batch finds what earlier ones stored", async () => {
  const a = user("Dan", "dan@example.com");
  await applyBatch(sql, "users", [a]);
  const out = await applyBatch(sql, "users", [
    a,
    user("Dan", "dan.other@example.com", a.operationId),
    user("Dan", "DAN@example.com"),
  ]);
  assert.equal(kinds(out), ["duplicate", "key-reused", "email-taken"]);
});

users.run();

const orders = suite("orders batches");

orders(
  "orders of known users are inserted; an unknown user's order is user-missing; a user's id is not an order's",
  async () => {
    const owner = user("Eve", "eve@example.com");
    await applyBatch(sql, "users", [owner]);
    const ok = order(owner.operationId, "2.50");
    const orphan = order(crypto.randomUUID());
    const crossTable = order(owner.operationId, "1.00", owner.operationId);
    const out = await applyBatch(sql, "orders", [ok, orphan, crossTable]);
    assert.equal(kinds(out), ["inserted", "user-missing", "key-reused"]);
    const stored = (out[0] as { result: { total: string; items: unknown } }).result;
    assert.is(stored.total, "2.50");
    assert.equal(stored.items, [{ productId: "p", quantity: 1, price: "2.50" }]);
    // The same order again is a duplicate with the stored row; another total under its key is reused.
    const again = await applyBatch(sql, "orders", [ok, order(owner.operationId, "9.99", ok.operationId)]);
    assert.equal(kinds(again), ["duplicate", "key-reused"]);
  },
);

orders("one key sent to both tables at the same moment makes one row; the other is key-reused", async () => {
  const owner = user("Keyholder", `keyholder.${process.pid}@example.com`);
  await applyBatch(sql, "users", [owner]);
  // Two connections, so the two writers' statements really run at once, as the consumer's do.
  const other = postgres(db.urlAs("jpw_writer"), { max: 2, onnotice: () => {} });
  try {
    for (let i = 0; i < 40; i++) {
      const key = crypto.randomUUID();
      const [asUser, asOrder] = await Promise.all([
        applyBatch(sql, "users", [user(`Both ${i}`, `both${i}.${process.pid}@example.com`, key)]),
        applyBatch(other, "orders", [order(owner.operationId, "3.00", key)]),
      ]);
      const [{ n }] = (await sql`
        select (select count(*) from users where id = ${key}) + (select count(*) from orders where id = ${key}) as n`) as [
        { n: string },
      ];
      assert.is(Number(n), 1, `key ${key} holds one row`);
      assert.equal(
        [...kinds(asUser), ...kinds(asOrder)].sort(),
        ["inserted", "key-reused"],
        "one was inserted, the other told its key is taken",
      );
    }
  } finally {
    await other.end();
  }
});

orders.after(async () => {
  await sql.end();
  await db.drop();
  await pg[Symbol.asyncDispose]();
});

orders.run();
