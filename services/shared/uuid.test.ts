import { type } from "arktype";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { isUuid, Uuid } from "./uuid.ts";

test("any 8-4-4-4-12 hex UUID is one, whatever its version, variant or case, as Postgres takes it", () => {
  for (const id of [
    "0b8e3a52-7f0c-4c5e-9f59-4f5c2a3b1c11",
    "0B8E3A52-7F0C-4C5E-9F59-4F5C2A3B1C11",
    "00000000-0000-0000-0000-000000000000",
    // Version 0 and variant 0: arktype's string.uuid refuses these, Postgres stores them.
    "12345678-1234-0234-1234-123456789abc",
  ]) {
    assert.ok(isUuid(id), id);
  }
});

test("anything else is not: braces, no hyphens, spaces, other letters", () => {
  for (const id of [
    "{0b8e3a52-7f0c-4c5e-9f59-4f5c2a3b1c11}",
    "0b8e3a527f0c4c5e9f594f5c2a3b1c11",
    " 0b8e3a52-7f0c-4c5e-9f59-4f5c2a3b1c11",
    "0b8e3a52-7f0c-4c5e-9f59-4f5c2a3b1c1g",
    "",
  ]) {
    assert.not.ok(isUuid(id), id);
  }
});

test("the Uuid type answers the lower-case spelling, the one Postgres prints", () => {
  assert.is(Uuid("0B8E3A52-7F0C-4C5E-9F59-4F5C2A3B1C11"), "0b8e3a52-7f0c-4c5e-9f59-4f5c2a3b1c11");
  const out = Uuid("nope");
  assert.ok(out instanceof type.errors);
  assert.match((out as type.errors).summary, /must be a UUID/);
});

test.run();
