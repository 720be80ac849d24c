// The one UUID grammar of the system: the producer's Idempotency-Key, the consumer's parse of a
// command, the reader's routes, cursors and change events all use it. 8-4-4-4-12 hex digits in any
// case and of any version or variant, which is exactly what Postgres's uuid type stores; it prints
// them lower-case, so that is the one spelling of an id everywhere (a key accepted at the edge can
// never be one the consumer refuses).
import { type } from "arktype";

export const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isUuid = (s: string): boolean => uuidPattern.test(s);

/** A UUID in any case, parsed to its lower-case spelling. */
export const Uuid = type("string")
  .narrow((s, ctx) => isUuid(s) || ctx.mustBe("a UUID"))
  .pipe((s) => s.toLowerCase());
