// The checker's rules on small ledgers: each promise, kept and broken.
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { OrderRow, UserRow } from "../../services/shared/rows.ts";
import { canonical } from "../../services/shared/writes.ts";
import { checkFinal, type DeadLetter, snapshotOf } from "./checks.ts";
import type { Answer } from "./client.ts";
import { Ledger } from "./ledger.ts";

const at = 1000;
const answer = (status: number, extra: Partial<Answer> = {}): Answer => ({ at, status, ms: 5, ...extra });
const userData = { name: "Ada", email: "ada@example.test" };
const fp = canonical("users", userData);
const row = (id: string, data = userData): UserRow => ({
  id,
  ...data,
  created_at: "2026-01-01T00:00:00.000000Z",
});

function ledgerWith(id: string, answers: Answer[]): Ledger {
  const ledger = new Ledger();
  const a = ledger.attempt({
    story: "user",
    client: 0,
    payload: { table: "users", body: userData, validity: "valid", data: userData, fp },
    keySent: id,
    id,
  });
  a.answers.push(...answers);
  return ledger;
}

const check = (ledger: Ledger, users: UserRow[], o: { dlq?: DeadLetter[]; orders?: OrderRow[] } = {}) =>
  checkFinal({
    ledger,
    snapshot: snapshotOf(users, o.orders ?? []),
    dlq: o.dlq ?? [],
    tiny: false,
    operations: new Map(),
  }).violations.map((v) => v.rule);

const committed = (id: string) =>
  answer(201, {
    body: { operationId: id, user: { id, ...userData, createdAt: "2026-01-01T00:00:00.000000Z" } },
  });

test("a write answered 503 unavailable whose row exists is a violation: the answer said not applied", () => {
  const id = crypto.randomUUID();
  assert.equal(check(ledgerWith(id, [answer(503, { type: "unavailable" })]), [row(id)]), [
    "refused-not-applied",
  ]);
});

test("a write answered 503 outcome-unknown may have been applied: its row is no violation, and neither is its absence", () => {
  const id = crypto.randomUUID();
  const unknown = [answer(503, { type: "outcome-unknown", operationId: id })];
  assert.equal(check(ledgerWith(id, unknown), [row(id)]), []);
  assert.equal(check(ledgerWith(id, unknown), []), []);
});

test("a confirmed write whose row is missing or differs is a violation", () => {
  const id = crypto.randomUUID();
  assert.equal(check(ledgerWith(id, [committed(id)]), [row(id)]), []);
  assert.equal(check(ledgerWith(id, [committed(id)]), []), ["confirmed-kept"]);
  const other = { name: "Ada", email: "other@example.test" };
  assert.equal(check(ledgerWith(id, [committed(id)]), [row(id, other)]).sort(), [
    "confirmed-kept",
    "row-explained",
  ]);
});

test("a row no request sent under its key is a violation (a lone surrogate stored as U+FFFD)", () => {
  const id = crypto.randomUUID();
  const stored = { name: "Ada \ufffd", email: "ada@example.test" };
  const told = [answer(422, { type: "idempotency-key-reused" })];
  assert.equal(check(ledgerWith(id, told), [row(id, stored)]), ["row-explained"]);
});

test("one key with a row in both tables is a violation", () => {
  const id = crypto.randomUUID();
  const order: OrderRow = {
    id,
    user_id: crypto.randomUUID(),
    items: [{ productId: "p", quantity: 1, price: "1.00" }],
    total: "1.00",
    created_at: "2026-01-01T00:00:00.000000Z",
  };
  assert.ok(
    check(ledgerWith(id, [committed(id)]), [row(id)], { orders: [order] }).includes("one-row-per-key"),
  );
});

test("a 202 must resolve: still accepted at the end is a violation, committed with its row is not", () => {
  const id = crypto.randomUUID();
  const ledger = ledgerWith(id, [answer(202, { operationId: id })]);
  assert.equal(check(ledger, []), ["accepted-resolves"]);
  ledger.attempts[0]!.resolution = { status: "committed", at };
  assert.equal(check(ledger, [row(id)]), []);
});

test("the dead-letter queue holds exactly the garbage: garbage missing, or a valid write in it, is a violation", () => {
  const id = crypto.randomUUID();
  const ledger = ledgerWith(id, [answer(500, { type: "write-failed" })]);
  ledger.hand.push({ table: "users", id: "", body: "not json g1", at, stored: true, garbage: true });
  assert.equal(check(ledger, []).sort(), ["dlq-exact", "failed-dead-lettered"]);
  const dlq: DeadLetter[] = [
    { seq: 1, body: "not json g1" },
    { seq: 2, operationId: id, reason: "out of deliveries", body: "{}" },
  ];
  assert.equal(check(ledger, [], { dlq }), ["valid-applied"]);
});
test.run();
