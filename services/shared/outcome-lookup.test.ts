import { test } from "uvu";
import * as assert from "uvu/assert";
import { answerRetry, type Found } from "./outcome-lookup.ts";

const id = "0b8e3a52-7f0c-4c5e-9f59-4f5c2a3b1c11";
const user = { id, name: "Ada", email: "ada@example.com", createdAt: "2026-01-01T00:00:00.000000Z" };
const row: Found = { kind: "row", table: "users", result: user, requestHash: "aaaa" };
const record = (
  outcome: "accepted" | "email-taken" | "user-not-found" | "failed",
  requestHash = "aaaa",
): Found => ({
  kind: "record",
  record: {
    operationId: id,
    table: "users",
    outcome,
    detail: `it was ${outcome}`,
    requestHash,
    updatedAt: "x",
  },
});

test("a retry whose row was made by the same payload is a duplicate with the row", () => {
  assert.equal(answerRetry(row, id, "users", "aaaa"), {
    operationId: id,
    outcome: "duplicate",
    result: user,
  });
});

test("a row made by another payload, or in the other table, means the key was reused", () => {
  assert.equal(answerRetry(row, id, "users", "bbbb"), {
    operationId: id,
    outcome: "key-reused",
    detail: `Idempotency-Key ${id} was already used for a different request; use a new key for a new write`,
  });
  assert.is(answerRetry(row, id, "orders", "aaaa")?.outcome, "key-reused");
});

test("a recorded decision of the same payload is answered again; of another payload it is key-reused", () => {
  assert.equal(answerRetry(record("email-taken"), id, "users", "aaaa"), {
    operationId: id,
    outcome: "email-taken",
    detail: "it was email-taken",
  });
  assert.is(answerRetry(record("failed"), id, "users", "aaaa")?.outcome, "failed");
  assert.is(answerRetry(record("user-not-found", "cccc"), id, "users", "aaaa")?.outcome, "key-reused");
});

test("accepted or nothing known is no answer yet (the caller keeps looking until its deadline)", () => {
  assert.is(answerRetry(record("accepted"), id, "users", "aaaa"), undefined);
  assert.is(answerRetry(undefined, id, "users", "aaaa"), undefined);
});

test.run();
