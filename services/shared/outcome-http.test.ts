// Every outcome as HTTP: the one mapping, called without a socket.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { operationView, writeResponse } from "./outcome-http.ts";
import type { WriteReply } from "./outcomes.ts";

const id = "0b8e3a52-7f0c-4c5e-9f59-4f5c2a3b1c11";
const user = { id, name: "Ada", email: "ada@example.com", createdAt: "2026-01-01T00:00:00.000000Z" };

async function answer(reply: WriteReply, replayed = false) {
  const res = writeResponse("users", reply, replayed);
  return {
    status: res.status,
    type: res.headers.get("content-type"),
    replayed: res.headers.get("idempotent-replayed"),
    location: res.headers.get("location"),
    body: (await res.json()) as Record<string, unknown>,
  };
}

test("committed is 201 with the row and its Location; duplicate, or a replayed request, 200 marked replayed", async () => {
  const created = await answer({ operationId: id, outcome: "committed", result: user });
  assert.equal(created, {
    status: 201,
    type: "application/json",
    replayed: null,
    location: `/api/users/${id}`,
    body: { operationId: id, user },
  });
  for (const a of [
    await answer({ operationId: id, outcome: "duplicate", result: user }),
    await answer({ operationId: id, outcome: "committed", result: user }, true),
  ]) {
    assert.equal([a.status, a.replayed, a.body], [200, "true", created.body]);
  }
});

test("each decision is its problem: 409 email-taken, 422 key reused or user not found, 500 failed", async () => {
  const cases = [
    ["email-taken", 409, "/problems/email-taken", "Conflict"],
    ["key-reused", 422, "/problems/idempotency-key-reused", "Unprocessable request"],
    ["user-not-found", 422, "/problems/user-not-found", "Unprocessable request"],
    ["failed", 500, "/problems/write-failed", "Write failed"],
  ] as const;
  for (const [outcome, status, type, title] of cases) {
    const a = await answer({ operationId: id, outcome, detail: `why ${outcome}` });
    assert.equal(
      [a.status, a.type, a.body],
      [
        status,
        "application/problem+json",
        { type, title, status, detail: `why ${outcome}`, operationId: id },
      ],
    );
  }
});

test("GET /api/operations/:id shows a row as committed and a record as accepted, rejected or failed", () => {
  const found = { kind: "row", table: "users", result: user, requestHash: "aaaa" } as const;
  assert.equal(operationView(id, found), {
    operationId: id,
    table: "users",
    status: "committed",
    httpStatus: 201,
    result: user,
    updatedAt: user.createdAt,
  });
  const record = (outcome: "accepted" | "user-not-found" | "failed") =>
    operationView(id, {
      kind: "record",
      record: { operationId: id, table: "orders", outcome, detail: "why", updatedAt: "t" },
    });
  assert.equal(record("accepted"), {
    operationId: id,
    table: "orders",
    status: "accepted",
    httpStatus: 202,
    updatedAt: "t",
  });
  assert.equal([record("user-not-found").status, record("user-not-found").httpStatus], ["rejected", 422]);
  assert.equal([record("failed").status, record("failed").error?.type], ["failed", "/problems/write-failed"]);
});

test.run();
