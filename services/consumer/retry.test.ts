import { test } from "uvu";
import * as assert from "uvu/assert";
import { isConnectionError, isForeignKeyViolation, isRowError, retryDelay } from "./retry.ts";

const err = (code: string) => Object.assign(new Error(code), { code });

test("a refused or dropped socket is a connection error even without a SQLSTATE", () => {
  for (const code of [
    "ECONNREFUSED",
    "ECONNRESET",
    "CONNECTION_CLOSED",
    "CONNECTION_ENDED",
    "CONNECT_TIMEOUT",
  ]) {
    assert.ok(isConnectionError(err(code)), code);
  }
  for (const code of ["08006", "57P01", "57P02", "57P03"]) assert.ok(isConnectionError(err(code)), code);
  assert.not.ok(isConnectionError(err("40001")), "a serialization failure is retried, not a reason to pause");
  assert.not.ok(isConnectionError(new Error("connection refused")), "never classified by message text");
});

test("only data and integrity errors are the row's fault; anything unforeseen is retried", () => {
  assert.ok(isRowError(err("23514")));
  assert.ok(isRowError(err("22001")));
  assert.ok(isForeignKeyViolation(err("23503")));
  for (const code of ["40001", "40P01", "53300", "57014", "55P03", "42501", "XX000"]) {
    assert.not.ok(isRowError(err(code)), code);
  }
  assert.not.ok(isRowError(new Error("boom")));
});

test("redelivery delays grow from the first delivery (deliveryCount is 1-based) up to the cap", () => {
  const policy = { baseMs: 250, maxMs: 60_000 };
  assert.equal(
    [1, 2, 3, 4, 9, 20].map((n) => retryDelay(n, policy)),
    [250, 500, 1000, 2000, 60_000, 60_000],
  );
});

test.run();
