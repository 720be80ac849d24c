import { type } from "arktype";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fieldErrors } from "./http.ts";
import { OrderInput, requestHash, UserInput, WriteCommand } from "./writes.ts";

const problems = (out: unknown) =>
  out instanceof type.errors
    ? fieldErrors(out)
        .map((e) => `${e.path}: ${e.message}`)
        .sort()
    : [];

const userId = "0b8e3a52-7f0c-4c5e-9f59-4f5c2a3b1c11";

test("a user is trimmed, and its email must be an address", () => {
  assert.equal(UserInput({ name: "  Ada  ", email: " ada@example.com " }), {
    name: "Ada",
    email: "ada@example.com",
  });
  assert.equal(problems(UserInput({ name: " ", email: "ada" })), [
    'email: must be an email address (was "ada")',
    "name: must be non-empty",
  ]);
});

test("unknown keys in a user or an order are not allowed", () => {
  assert.equal(problems(UserInput({ name: "Ada", email: "ada@example.com", admin: true })), [
    "admin: is not allowed",
  ]);
  assert.equal(
    problems(
      OrderInput({
        userId,
        items: [{ productId: "p", quantity: 1, price: "1.00", discount: 1 }],
        total: "1.00",
      }),
    ),
    ["items.0.discount: is not allowed"],
  );
});

test("an order's amounts leave as two-decimal strings, whether sent as strings or numbers", () => {
  const out = OrderInput({
    userId: userId.toUpperCase(),
    items: [
      { productId: "book", quantity: 2, price: 19.99 },
      { productId: "pen", quantity: 3, price: "0.1" },
    ],
    total: "40.28",
  });
  assert.equal(out, {
    userId,
    items: [
      { productId: "book", quantity: 2, price: "19.99" },
      { productId: "pen", quantity: 3, price: "0.10" },
    ],
    total: "40.28",
  });
});

test("a total that is not the exact sum of quantity × price is refused, naming the sum", () => {
  // 3 × 0.1 is 0.30000000000000004 in floating point; in cents it is 30.
  assert.ok(
    !(
      OrderInput({ userId, items: [{ productId: "p", quantity: 3, price: 0.1 }], total: 0.3 }) instanceof
      type.errors
    ),
  );
  assert.equal(
    problems(
      OrderInput({ userId, items: [{ productId: "p", quantity: 2, price: "19.99" }], total: "39.99" }),
    ),
    ["total: must be the sum of quantity × price over the items (39.98) (was 39.99)"],
  );
});

test("an order needs a user id, at least one item, whole positive quantities and valid prices", () => {
  assert.equal(problems(OrderInput({ userId: "nope", items: [], total: "0" })), [
    "items: must be non-empty",
    'userId: must be a UUID (was "nope")',
  ]);
  assert.equal(
    problems(OrderInput({ userId, items: [{ productId: "p", quantity: 1.5, price: "1.999" }], total: "1" })),
    [
      'items.0.price: must be an amount with at most 2 decimal places (was "1.999")',
      "items.0.quantity: must be an integer (was 1.5)",
    ],
  );
});

test("a total beyond numeric(12,2) is refused", () => {
  assert.equal(
    problems(
      OrderInput({
        userId,
        items: [{ productId: "p", quantity: 2, price: "9999999999.99" }],
        total: "19999999999.98",
      }),
    ),
    ['total: must be an amount of at most 9999999999.99 (was "19999999999.98")'],
  );
  assert.equal(
    problems(
      OrderInput({ userId, items: [{ productId: "p", quantity: 2, price: "9999999999.99" }], total: "1" }),
    ),
    ["total: must be at most 9999999999.99 (the items add up to 19999999999.98) (was 1.00)"],
  );
});

test('the request hash identifies the canonical payload: the same for 19.9 and "19.90", different across tables', () => {
  const a = OrderInput({ userId, items: [{ productId: "p", quantity: 1, price: 19.9 }], total: "19.90" });
  const b = OrderInput({ userId, items: [{ productId: "p", quantity: 1, price: "19.90" }], total: 19.9 });
  if (a instanceof type.errors || b instanceof type.errors) throw new Error("valid orders");
  assert.is(requestHash("orders", a), requestHash("orders", b));
  const ada = { name: "Ada", email: "ada@example.com" };
  assert.is.not(requestHash("users", ada), requestHash("users", { ...ada, name: "Ada L" }));
  assert.match(requestHash("users", ada), /^[0-9a-f]{16}$/);
});

test("a command envelope lower-cases its operationId and ignores keys it does not know", () => {
  const out = WriteCommand({
    operationId: userId.toUpperCase(),
    table: "users",
    op: "create",
    data: {},
    requestedAt: "2026-01-01T00:00:00.000Z",
    newerField: 1,
  });
  assert.not.ok(out instanceof type.errors);
  assert.is((out as { operationId: string }).operationId, userId);
  assert.ok(
    WriteCommand({ operationId: userId, table: "carts", op: "create", data: {}, requestedAt: "" }) instanceof
      type.errors,
  );
});

test("text Postgres cannot store exactly is refused with a field error: NUL and lone surrogates", () => {
  const refused = (out: unknown) => problems(out).map((p) => p.replace(/ \(was .*$/, ""));
  assert.equal(refused(UserInput({ name: "Ada\u0000", email: "ada@example.com" })), [
    "name: must be text without NUL characters (\\u0000)",
  ]);
  assert.equal(refused(UserInput({ name: "Ada \ud800", email: "ada\udc00@example.com" })), [
    "email: must be valid Unicode text (it holds a lone surrogate)",
    "name: must be valid Unicode text (it holds a lone surrogate)",
  ]);
  assert.equal(
    refused(OrderInput({ userId, items: [{ productId: "p\u0000", quantity: 1, price: "1" }], total: "1" })),
    ["items.0.productId: must be text without NUL characters (\\u0000)"],
  );
  // A pair of surrogates is one character outside the BMP, and welcome.
  assert.equal(UserInput({ name: "Ada 🚀", email: "ada@example.com" }), {
    name: "Ada 🚀",
    email: "ada@example.com",
  });
});

test("requestedAt must be a UTC instant on the calendar (it becomes created_at)", () => {
  const envelope = (requestedAt: string) =>
    WriteCommand({ operationId: userId, table: "users", op: "create", data: {}, requestedAt });
  assert.not.ok(envelope("2026-01-01T12:00:00.000Z") instanceof type.errors);
  assert.not.ok(envelope("2026-01-01T12:00:00.123456Z") instanceof type.errors);
  for (const bad of [
    "",
    "yesterday",
    "2026-02-30T00:00:00.000Z",
    "2026-01-01T24:00:00Z",
    "2026-01-01 12:00:00Z",
    "2026-01-01T12:00:00+02:00",
  ]) {
    assert.ok(envelope(bad) instanceof type.errors, bad);
  }
});

test.run();
