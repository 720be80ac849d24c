import { test } from "uvu";
import * as assert from "uvu/assert";
import { ValidationError } from "../shared/errors.ts";
import { decodeCursor, encodeCursor, pageParams } from "./cursor.ts";

const position = { createdAt: "2026-11-23T21:27:32.038221Z", id: "4896366d-9ac6-4a09-a944-5f0ee95ecae4" };

test("a cursor round-trips its position to the microsecond", () => {
  const c = encodeCursor(position);
  assert.match(c, /^[A-Za-z0-9_-]+$/);
  assert.equal(decodeCursor(c), position);
});

const throwsValidation = (fn: () => unknown, param: string) => {
  try {
    fn();
    assert.unreachable("should have thrown");
  } catch (err) {
    assert.instance(err, ValidationError);
    assert.is((err as ValidationError).errors[0]?.path, param);
  }
};

test("a cursor we did not issue is a validation error on `cursor`", () => {
  for (const bad of [
    "not base64!",
    Buffer.from("{}").toString("base64url"),
    Buffer.from('["2026-11-23T21:27:32Z","x"]').toString("base64url"),
    Buffer.from(`["2026-13-45T99:99:99.000000Z","${position.id}"]`).toString("base64url"),
    "x".repeat(500),
  ]) {
    throwsValidation(() => decodeCursor(bad), "cursor");
  }
});

test("a cursor naming an instant Postgres cannot store (30 February, 24:00, year 0) is a validation error", () => {
  for (const at of [
    "2026-02-30T00:00:00.000000Z",
    "2026-01-01T24:00:00.000000Z",
    "0000-01-01T00:00:00.000000Z",
  ]) {
    throwsValidation(() => decodeCursor(encodeCursor({ createdAt: at, id: position.id })), "cursor");
  }
  const first = { createdAt: "0001-01-01T00:00:00.000000Z", id: position.id };
  assert.equal(decodeCursor(encodeCursor(first)), first);
});

test("limit defaults to 20 and must be an integer from 1 to 100", () => {
  assert.is(pageParams(new URL("http://x/api/users")).limit, 20);
  assert.is(pageParams(new URL("http://x/api/users?limit=100")).limit, 100);
  for (const bad of ["0", "101", "-1", "1.5", "abc", ""]) {
    throwsValidation(() => pageParams(new URL(`http://x/api/users?limit=${bad}`)), "limit");
  }
});

test("an empty cursor means the first page", () => {
  const p = pageParams(new URL("http://x/api/users?cursor="));
  assert.is(p.cursor, undefined);
  assert.is(p.after, undefined);
});

test.run();
