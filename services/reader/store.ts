// Reads from Postgres, answered as ready-made JSON text. Postgres builds each item's JSON itself:
// numeric columns go out as exact decimal strings (`total::text`), order items keep their exact
// stored numbers, and a cached body is stored and served without a parse/stringify round.
import type { Sql } from "postgres";
import { UnavailableError } from "../shared/errors.ts";
import { isoTimestampSql } from "../shared/timestamps.ts";
import { encodeCursor, type Position } from "./cursor.ts";

// created_at as UTC text with microseconds: the cursor needs Postgres's full precision.
const ts = isoTimestampSql;

const userJson = `json_build_object('id', u.id, 'name', u.name, 'email', u.email, 'createdAt', ${ts("u.created_at")})::text`;
const orderJson = `json_build_object('id', o.id, 'userId', o.user_id, 'items', o.items, 'total', o.total::text, 'createdAt', ${ts("o.created_at")})::text`;

// The statements are fixed text with parameters: prepare them like tagged-template queries.
const prepared = { prepare: true };

interface PageRow {
  json: string;
  created_at: string;
  id: string;
}

function page(rows: PageRow[], limit: number): string {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  const next = rows.length > limit && last ? encodeCursor({ createdAt: last.created_at, id: last.id }) : null;
  return `{"items":[${items.map((r) => r.json).join(",")}],"nextCursor":${JSON.stringify(next)}}`;
}

// postgres.js's own connection failures, and SQLSTATE classes 08 (connection exception), 57P01-03
// (shut down, restarting) and 53300 (too many connections).
const connectionCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
]);

/** Postgres unreachable or stalled is a 503 the client may retry (Retry-After), not a 500. */
function unreachable(err: unknown): unknown {
  const code = String((err as { code?: unknown } | undefined)?.code ?? "");
  if (connectionCodes.has(code) || code.startsWith("08") || /^57P0[1-3]$/.test(code) || code === "53300") {
    return new UnavailableError(`Postgres is unreachable (${code}); retry shortly`, 1, { cause: err });
  }
  // 57014: the reader's statement_timeout. Its reads take milliseconds; one that ran out of time met
  // a stalled Postgres (paused, overloaded, a lock held), not a bad request (found by just verify).
  if (code === "57014") {
    return new UnavailableError("Postgres did not answer in time; retry shortly", 1, { cause: err });
  }
  return err;
}

export class Store {
  constructor(private readonly sql: Sql) {}

  private async query<T extends object[]>(text: string, params: unknown[]): Promise<T> {
    try {
      return await this.sql.unsafe<T>(text, params as never[], prepared);
    } catch (err) {
      throw unreachable(err);
    }
  }

  async user(id: string): Promise<string | undefined> {
    const [row] = await this.query<{ json: string }[]>(
      `select ${userJson} as json from users u where u.id = $1`,
      [id],
    );
    return row?.json;
  }

  async order(id: string): Promise<string | undefined> {
    const [row] = await this.query<{ json: string }[]>(
      `select ${orderJson} as json from orders o where o.id = $1`,
      [id],
    );
    return row?.json;
  }

  users(limit: number, after?: Position): Promise<string> {
    return this.list("users u", userJson, "u", limit, after);
  }

  orders(limit: number, after?: Position): Promise<string> {
    return this.list("orders o", orderJson, "o", limit, after);
  }

  /** A user's orders, newest first; undefined when the user does not exist. */
  async userOrders(userId: string, limit: number, after?: Position): Promise<string | undefined> {
    const [exists] = await this.query("select 1 as one from users where id = $1", [userId]);
    if (!exists) return undefined;
    return this.list("orders o", orderJson, "o", limit, after, { column: "o.user_id", value: userId });
  }

  private async list(
    from: string,
    json: string,
    alias: string,
    limit: number,
    after?: Position,
    filter?: { column: string; value: string },
  ): Promise<string> {
    const params: unknown[] = [];
    const where: string[] = [];
    if (filter) {
      params.push(filter.value);
      where.push(`${filter.column} = $${params.length}`);
    }
    if (after) {
      params.push(after.createdAt, after.id);
      // The position goes in as text: a parameter typed timestamptz is serialized by postgres.js
      // through a JS Date, which drops the microseconds and skips the rows of the same millisecond.
      where.push(
        `(${alias}.created_at, ${alias}.id) < ($${params.length - 1}::text::timestamptz, $${params.length}::uuid)`,
      );
    }
    params.push(limit + 1);
    const rows = await this.query<PageRow[]>(
      `select ${json} as json, ${ts(`${alias}.created_at`)} as created_at, ${alias}.id::text as id
       from ${from} ${where.length ? `where ${where.join(" and ")}` : ""}
       order by ${alias}.created_at desc, ${alias}.id desc
       limit $${params.length}`,
      params,
    );
    return page(rows, limit);
  }
}
