// How every API body writes a timestamp: UTC ISO 8601 with Postgres's microseconds, so the row a
// write returns and the row a read returns carry the same text, and keyset cursors lose nothing.
import { type } from "arktype";

/** A to_char() format for `<column> at time zone 'UTC'`. */
export const isoTimestampFormat = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"';

/** SQL text of a timestamptz column rendered that way (for statements built as text). */
export const isoTimestampSql = (column: string) =>
  `to_char(${column} at time zone 'UTC', '${isoTimestampFormat.replaceAll("'", "''")}')`;

const instantFormat = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,6})?Z$/;

/**
 * A UTC ISO 8601 instant Postgres stores as it reads (2026-01-01T12:00:00.000Z, at most
 * microseconds). Date.parse would take 2026-02-30 and roll it over; Postgres refuses it, so the
 * calendar is checked field by field.
 */
export function isInstant(s: string): boolean {
  const m = instantFormat.exec(s);
  if (!m) return false;
  const [y, mo, d, h, mi, sec] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (y < 1) return false;
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0-99 as 1900-1999.
  const t = new Date(0);
  t.setUTCFullYear(y, mo - 1, d);
  t.setUTCHours(h, mi, sec);
  return (
    t.getUTCMonth() === mo - 1 &&
    t.getUTCDate() === d &&
    t.getUTCHours() === h &&
    t.getUTCMinutes() === mi &&
    t.getUTCSeconds() === sec
  );
}

export const Instant = type("string").narrow(
  (s, ctx) => isInstant(s) || ctx.mustBe("a UTC timestamp such as 2026-01-01T12:00:00.000Z"),
);
