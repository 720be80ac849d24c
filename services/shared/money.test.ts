import { test } from "uvu";
import * as assert from "uvu/assert";
import { formatCents, lineTotal, maxCents, parseCents } from "./money.ts";

test("decimal strings become exact cents", () => {
  assert.is(parseCents("19.99"), 1999n);
  assert.is(parseCents("19.9"), 1990n);
  assert.is(parseCents("0"), 0n);
  assert.is(parseCents("0.01"), 1n);
  assert.is(parseCents("9999999999.99"), maxCents);
});

test("JSON numbers are read from their shortest decimal text, never through arithmetic", () => {
  assert.is(parseCents(19.99), 1999n);
  assert.is(parseCents(0.1), 10n);
  assert.is(parseCents(0.29), 29n, "0.29 * 100 is 28.999999999999996 in floating point");
  assert.is(parseCents(1.005), "an amount with at most 2 decimal places");
  assert.is(parseCents(-0), 0n);
});

test("a float that is not a two-decimal amount is refused rather than rounded", () => {
  assert.is(parseCents(0.1 + 0.2), "an amount with at most 2 decimal places");
  assert.is(parseCents(1e21), "an amount of at most 9999999999.99 with at most 2 decimal places");
  assert.is(parseCents(1e-7), "an amount of at most 9999999999.99 with at most 2 decimal places");
  assert.is(parseCents(Number.NaN), "a finite amount");
});

test("signs, exponents, spaces, separators and too many digits are refused with a reason", () => {
  assert.is(parseCents("-1.00"), "a non-negative amount");
  assert.is(parseCents("1e3"), 'a decimal amount like "19.99"');
  assert.is(parseCents(" 1.00"), 'a decimal amount like "19.99"');
  assert.is(parseCents("1,000.00"), 'a decimal amount like "19.99"');
  assert.is(parseCents(".5"), 'a decimal amount like "19.99"');
  assert.is(parseCents("1.999"), "an amount with at most 2 decimal places");
  assert.is(parseCents("12345678901"), "an amount of at most 9999999999.99");
});

test("cents format back with two decimals, so equal amounts have equal text", () => {
  assert.is(formatCents(1990n), "19.90");
  assert.is(formatCents(5n), "0.05");
  assert.is(formatCents(0n), "0.00");
  assert.is(formatCents(maxCents), "9999999999.99");
});

test("a line total is exact beyond the range of doubles", () => {
  assert.is(
    lineTotal([
      { quantity: 3, priceCents: 1999n },
      { quantity: 1, priceCents: 1n },
    ]),
    5998n,
  );
  // 1,000,000 × 9,999,999,999.99 is beyond 2^53 cents; a bigint keeps every digit.
  assert.is(lineTotal([{ quantity: 1_000_000, priceCents: maxCents }]), 999_999_999_999_000_000n);
});

test.run();
