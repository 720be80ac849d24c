// Change events as Debezium Server 3.6.1 (pgoutput, schemas disabled) published them in this
// project's tests, trimmed to the fields that matter.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseChange } from "./cdc-event.ts";

const u1 = "4896366d-9ac6-4a09-a944-5f0ee95ecae4";
const u2 = "fca7f16b-c6c8-4dc3-8fc2-2ebb7b417f8e";
const o1 = "6a75169f-a334-4b3e-8faa-c26d71c9adda";
const source = (table: string) => ({
  version: "3.6.1.Final",
  connector: "postgresql",
  name: "cdc",
  ts_ms: 1795469252039,
  snapshot: "false",
  db: "jpw",
  sequence: '[null,"30809296"]',
  ts_us: 1795469252039578,
  ts_ns: 1795469252039578000,
  schema: "public",
  table,
  txId: 729,
  lsn: 30809296,
  xmin: null,
});
const order = (userId: string) => ({
  id: o1,
  user_id: userId,
  items: '[{"price": "12.30", "quantity": 1, "productId": "p"}]',
  total: "12.30",
  created_at: "2026-11-23T21:27:32.041429Z",
});
const ev = (table: string, op: string, before: unknown, after: unknown) =>
  JSON.stringify({ before, after, source: source(table), transaction: null, op, ts_ms: 1795469252070 });

test("an insert names the new row and carries the commit time in microseconds", () => {
  const p = parseChange(
    "cdc.public.users",
    ev("users", "c", null, {
      id: u1,
      name: "Ada",
      email: "a@x.io",
      created_at: "2026-11-23T21:27:32.038221Z",
    }),
  );
  assert.equal(p, {
    kind: "change",
    op: "c",
    invalidation: { kind: "rows", table: "users", ids: [u1], userIds: [] },
    ids: [u1],
    commitTsUs: 1795469252039578,
    lsn: 30809296,
  });
});

test("a user update with the default replica identity has no before and is read from after", () => {
  const p = parseChange(
    "cdc.public.users",
    ev("users", "u", null, { id: u1, name: "Ada L", email: "a@x.io" }),
  );
  assert.is(p.kind === "change" && p.invalidation.kind === "rows" && p.invalidation.ids[0], u1);
});

test("a user delete carries only the key in before (other columns blank) and still names the row", () => {
  const p = parseChange(
    "cdc.public.users",
    ev("users", "d", { id: u1, name: "", email: "", created_at: "1970-01-01T00:00:00.000000Z" }, null),
  );
  assert.is(p.kind, "change");
  assert.equal(p.kind === "change" && p.ids, [u1]);
});

test("an order moved to another user names both users", () => {
  const p = parseChange("cdc.public.orders", ev("orders", "u", order(u1), order(u2)));
  assert.equal(p.kind === "change" && p.invalidation, {
    kind: "rows",
    table: "orders",
    ids: [o1],
    userIds: [u1, u2],
  });
});

test("a truncate invalidates the whole table", () => {
  const p = parseChange("cdc.public.orders", ev("orders", "t", null, null));
  assert.equal(p.kind === "change" && p.invalidation, { kind: "table", table: "orders" });
});

test("heartbeats and other subjects are ignored, not errors", () => {
  assert.equal(parseChange("cdc.heartbeat.cdc", '{"ts_ms":1795469251983}'), { kind: "heartbeat" });
  assert.is(parseChange("cdc.public.products", ev("products", "c", null, { id: u1 })).kind, "ignored");
  assert.is(parseChange("cdc.public.users", ev("users", "m", null, null)).kind, "ignored");
});

test("an unreadable event on a table's subject is malformed and names that table", () => {
  const cases: [subject: string, payload: string][] = [
    ["cdc.public.users", "garbage {"],
    ["cdc.public.users", "null"],
    ["cdc.public.users", JSON.stringify({ schema: {}, payload: { op: "u" } })],
    ["cdc.public.users", ev("users", "u", null, { name: "no id" })],
    ["cdc.public.users", ev("users", "x", null, { id: u1 })],
    ["cdc.public.orders", ev("orders", "c", null, { id: o1 })],
    ["cdc.public.orders", ev("orders", "c", null, { id: o1, user_id: "not-a-uuid" })],
    ["cdc.public.orders", ev("users", "c", null, { id: u1 })],
  ];
  for (const [subject, payload] of cases) {
    const p = parseChange(subject, payload);
    assert.is(p.kind, "malformed", payload);
    assert.is(p.kind === "malformed" && p.table, subject.slice("cdc.public.".length), payload);
  }
  const p = parseChange("cdc.public.orders", new TextEncoder().encode("{"));
  assert.equal(p.kind === "malformed" && p.table, "orders");
});

test.run();
