// How every API body writes a timestamp: UTC ISO 8601 with Postgres's microseconds, so the row a
// write returns and the row a read returns carry the same text, and keyset cursors lose nothing.

/** A to_char() format for `<column> at time zone 'UTC'`. */
export const isoTimestampFormat = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"';

/** SQL text of a timestamptz column rendered that way (for statements built as text). */
export const isoTimestampSql = (column: string) =>
  `to_char(${column} at time zone 'UTC', '${isoTimestampFormat.replaceAll("'", "''")}')`;
