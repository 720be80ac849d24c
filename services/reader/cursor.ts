// Keyset pagination: lists are newest first on (created_at, id), and a cursor is the position of
// the last item returned. It is opaque to clients (base64url of JSON), exact to the microsecond
// (Postgres timestamps are finer than JS dates, so the timestamp travels as Postgres's own text).
import { type } from "arktype";
import { ValidationError } from "../shared/errors.ts";
import { isInstant } from "../shared/timestamps.ts";
import { uuidPattern } from "../shared/uuid.ts";

export interface Position {
  /** created_at as UTC text with microseconds, e.g. 2026-11-23T21:27:32.038221Z. */
  createdAt: string;
  id: string;
}

/** How every API body writes a timestamp (shared/timestamps.ts): UTC with Postgres's microseconds. */
export const timestampPattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
/** What a cursor looks like on the wire (base64url, bounded). */
export const cursorPattern = /^[A-Za-z0-9_-]{1,200}$/;

const CursorShape = type([timestampPattern, uuidPattern]);

export function encodeCursor(p: Position): string {
  return Buffer.from(JSON.stringify([p.createdAt, p.id])).toString("base64url");
}

export function decodeCursor(cursor: string): Position {
  const invalid = (why: string) =>
    new ValidationError(`cursor "${cursor.slice(0, 80)}" is invalid: ${why}`, [
      { path: "cursor", message: why },
    ]);
  if (!cursorPattern.test(cursor)) throw invalid("use the nextCursor of a previous page");
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw invalid("use the nextCursor of a previous page");
  }
  const out = CursorShape(raw);
  if (out instanceof type.errors) throw invalid("use the nextCursor of a previous page");
  const [createdAt, id] = out;
  // A position we issued is an instant Postgres can store (not 30 February, 24:00 or year 0).
  if (!isInstant(createdAt)) throw invalid("its timestamp is not a date");
  return { createdAt, id };
}

export const defaultLimit = 20;
export const maxLimit = 100;

/** `?limit&cursor` of a list route: 400 for anything but 1..100 and a cursor we issued. */
export function pageParams(url: URL): { limit: number; cursor: string | undefined; after?: Position } {
  const rawLimit = url.searchParams.get("limit");
  let limit = defaultLimit;
  if (rawLimit !== null) {
    if (!/^\d{1,4}$/.test(rawLimit) || Number(rawLimit) < 1 || Number(rawLimit) > maxLimit) {
      throw new ValidationError(`limit "${rawLimit.slice(0, 20)}" must be an integer from 1 to ${maxLimit}`, [
        { path: "limit", message: `must be an integer from 1 to ${maxLimit}` },
      ]);
    }
    limit = Number(rawLimit);
  }
  const cursor = url.searchParams.get("cursor") ?? undefined;
  if (cursor === undefined || cursor === "") return { limit, cursor: undefined };
  return { limit, cursor, after: decodeCursor(cursor) };
}
