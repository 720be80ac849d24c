import { test } from "uvu";
import * as assert from "uvu/assert";
import { KeySpace, pageVariant, planInvalidation } from "./keys.ts";

const keys = new KeySpace("jpw");
const u = "4896366d-9ac6-4a09-a944-5f0ee95ecae4";
const v = "fca7f16b-c6c8-4dc3-8fc2-2ebb7b417f8e";
const o = "6a75169f-a334-4b3e-8faa-c26d71c9adda";

test("a user's data key embeds the users table epoch and the user's own generation", () => {
  assert.equal(keys.genKeys({ kind: "user", id: u }), ["jpw:gen:table:users", `jpw:gen:user:${u}`]);
  assert.is(keys.dataKey({ kind: "user", id: u }, ["a1", "b2"], ""), `jpw:data:user:${u}:a1.b2:-`);
});

test("a user's orders depend on both tables, so truncating either one drops them", () => {
  assert.equal(keys.genKeys({ kind: "user-orders", userId: u }), [
    "jpw:gen:table:users",
    "jpw:gen:table:orders",
    `jpw:gen:user-orders:${u}`,
  ]);
});

test("the parts the Lua scripts join give exactly the data key", () => {
  const scope = { kind: "orders" } as const;
  const variant = pageVariant(20, "abc");
  const { head, tail } = keys.dataKeyParts(scope, variant);
  assert.is(`${head}x.y${tail}`, keys.dataKey(scope, ["x", "y"], variant));
  assert.is(keys.dataKey(scope, ["x", "y"], variant), "jpw:data:orders:x.y:l=20&c=abc");
});

test("list pages differ by limit and cursor; the first page has an empty cursor", () => {
  assert.is(pageVariant(20, undefined), "l=20&c=");
  assert.is.not(pageVariant(20, undefined), pageVariant(21, undefined));
});

test("a user change replaces the user's, its orders list's and the users list's generations", () => {
  const plan = planInvalidation(keys, { kind: "rows", table: "users", ids: [u], userIds: [] });
  assert.equal(plan.scopes, ["users", `user:${u}`, `user-orders:${u}`]);
  assert.equal(plan.genKeys, ["jpw:gen:users", `jpw:gen:user:${u}`, `jpw:gen:user-orders:${u}`]);
});

test("an order moved between users invalidates the order, the orders list and both users' lists", () => {
  const plan = planInvalidation(keys, { kind: "rows", table: "orders", ids: [o], userIds: [u, v] });
  assert.equal(plan.scopes, ["orders", `order:${o}`, `user-orders:${u}`, `user-orders:${v}`]);
});

test("a truncate replaces only the table's epoch, which every scope of that table embeds", () => {
  const plan = planInvalidation(keys, { kind: "table", table: "orders" });
  assert.equal(plan.genKeys, ["jpw:gen:table:orders"]);
  assert.equal(plan.scopes, ["table:orders"]);
});

test("a prefix keeps two deployments' keys apart", () => {
  assert.is(new KeySpace("blue").scopeGenKey({ kind: "users" }), "blue:gen:users");
});

test.run();
