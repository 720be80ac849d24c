// A stored row as a write's result, and back to the payload it was written from. The consumer
// answers a commit with the row it inserted; a replay, the producer's deduplicated retry and
// GET /api/operations/:id answer from the same row read later, so all of them map it here.
import { formatCents, parseCents } from "./money.ts";
import {
  canonical,
  type OrderData,
  type OrderResult,
  requestHash,
  type Table,
  type UserData,
  type UserResult,
  type WriteData,
} from "./writes.ts";

export interface UserRow {
  id: string;
  name: string;
  email: string;
  /** UTC text with microseconds (see timestamps.ts), as the reader returns it. */
  created_at: string;
}

export interface OrderRow {
  id: string;
  user_id: string;
  items: { productId: unknown; quantity: unknown; price: unknown }[];
  total: string;
  created_at: string;
}

export function userResult(row: UserRow): UserResult {
  return { id: row.id, name: row.name, email: row.email, createdAt: row.created_at };
}

export function orderResult(row: OrderRow): OrderResult {
  return {
    id: row.id,
    userId: row.user_id,
    items: row.items.map((i) => ({
      productId: String(i.productId),
      quantity: Number(i.quantity),
      price: money(i.price),
    })),
    total: money(row.total),
    createdAt: row.created_at,
  };
}

/** Rows written by hand may hold 19.9 or "19.9": compare and answer in the canonical "19.90". */
function money(value: unknown): string {
  const cents = typeof value === "string" || typeof value === "number" ? parseCents(value) : undefined;
  return typeof cents === "bigint" ? formatCents(cents) : String(value);
}

/** The canonical payload a result was written from. */
export function resultData(table: Table, result: UserResult | OrderResult): WriteData {
  if (table === "users") {
    const r = result as UserResult;
    return { name: r.name, email: r.email } satisfies UserData;
  }
  const r = result as OrderResult;
  return { userId: r.userId, items: r.items, total: r.total } satisfies OrderData;
}

/** Whether `result` is the row `data` would make (the same payload, however it was spelled). */
export const sameData = (table: Table, data: WriteData, result: UserResult | OrderResult): boolean =>
  canonical(table, data) === canonical(table, resultData(table, result));

/** The request hash of the payload a row was written from. */
export const rowHash = (table: Table, result: UserResult | OrderResult): string =>
  requestHash(table, resultData(table, result));
