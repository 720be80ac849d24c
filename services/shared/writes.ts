// The write contract between the producer and the consumer: subjects, headers, the bodies a client
// may send (parsed to one canonical form), the command published to JetStream, the reply, and the
// result shapes. Both sides parse with these same types, so a command published by hand (nats CLI)
// is held to exactly the rules of an HTTP request.
import { createHash } from "node:crypto";
import { type } from "arktype";
import { decoded } from "./decoded.ts";
import { formatCents, lineTotal, maxCents, parseCents } from "./money.ts";
import { Instant } from "./timestamps.ts";
import { Uuid } from "./uuid.ts";

export const tables = ["users", "orders"] as const;
export type Table = (typeof tables)[number];
export const Table = type("'users' | 'orders'");

export const writesStream = "WRITES";
export const dlqStream = "WRITES_DLQ";
export const writeSubject = (table: Table) => `writes.${table}`;
/**
 * Where the consumer logs what it decided about a command it did not commit (rejected or dead-
 * lettered), beside the commands in WRITES, so history and decisions are trimmed together. The
 * writers filter `writes.<table>` exactly and never see these.
 */
export const decisionSubject = (table: Table) => `writes.outcomes.${table}`;
export const dlqSubject = (table: string) => `dlq.writes.${table}`;
export const consumerName = (table: Table) => `${table}-writer`;

/**
 * Limits declared as metadata in streams.yaml and read by the services at run time (one source of
 * truth for every replica, visible in `nats stream info` / `nats consumer info`): how far back the
 * history keeper keeps applied commands in WRITES, and each writer's bound on unapplied commands.
 */
export const historyMetadata = { maxAge: "jpw.history.max_age", maxBytes: "jpw.history.max_bytes" } as const;
export const historyDefaults = { maxAge: "7d", maxBytes: "1GiB" } as const;
export const backlogMetadata = "jpw.backlog.max_msgs";
export const backlogDefault = 100_000;

/** Where the consumer answers (a header, since a stored message's own reply subject is its PubAck). */
export const replyToHeader = "Reply-To";
/** Headers of a dead letter: why, and where the original was. */
export const dlqHeaders = {
  reason: "Jpw-Dlq-Reason",
  subject: "Jpw-Original-Subject",
  sequence: "Jpw-Original-Sequence",
  deliveries: "Jpw-Delivery-Count",
  operationId: "Jpw-Operation-Id",
} as const;

/** Bodies are small; anything bigger is refused with 413 before it is parsed. */
export const maxBodyBytes = 64 * 1024;

// A lone surrogate cannot be encoded as UTF-8 (it would be stored as U+FFFD, so the row would no
// longer match its command), and Postgres text cannot hold NUL: both are refused as field errors.
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Text Postgres stores exactly as sent, trimmed. */
const text = type("string")
  .narrow((s, ctx) => !s.includes("\u0000") || ctx.mustBe("text without NUL characters (\\u0000)"))
  .narrow((s, ctx) => !loneSurrogate.test(s) || ctx.mustBe("valid Unicode text (it holds a lone surrogate)"))
  .pipe((s) => s.trim());

export const UserInput = decoded.type({
  "+": "reject",
  name: text.to("1 <= string <= 200"),
  email: text.to("string.email").to("3 <= string <= 320"),
});
export type UserData = typeof UserInput.infer;

const amount = type("string | number").pipe((v, ctx) => {
  const cents = parseCents(v);
  return typeof cents === "string" ? ctx.error(cents) : cents;
});

const OrderItem = type({
  "+": "reject",
  productId: text.to("1 <= string <= 100"),
  quantity: "1 <= number.integer <= 1000000",
  price: amount,
});

/**
 * An order's total must equal Σ quantity × price to the cent. Amounts come in as strings or numbers
 * and leave as two-decimal strings ("19.90"), the canonical form stored and compared on replays.
 */
export const OrderInput = decoded
  .type({
    "+": "reject",
    userId: Uuid,
    items: OrderItem.array().atLeastLength(1).atMostLength(100),
    total: amount,
  })
  .narrow((o, ctx) => {
    const sum = lineTotal(o.items.map((i) => ({ quantity: i.quantity, priceCents: i.price })));
    if (sum > maxCents)
      return ctx.reject({
        path: ["total"],
        expected: `at most 9999999999.99 (the items add up to ${formatCents(sum)})`,
        actual: formatCents(o.total),
      });
    if (sum !== o.total)
      return ctx.reject({
        path: ["total"],
        expected: `the sum of quantity × price over the items (${formatCents(sum)})`,
        actual: formatCents(o.total),
      });
    return true;
  })
  .pipe((o) => ({
    userId: o.userId,
    items: o.items.map((i) => ({
      productId: i.productId,
      quantity: i.quantity,
      price: formatCents(i.price),
    })),
    total: formatCents(o.total),
  }));
export type OrderData = typeof OrderInput.infer;

export const inputs = { users: UserInput, orders: OrderInput } as const;
export type WriteData = UserData | OrderData;

/**
 * What the producer publishes to `writes.<table>`. Unknown envelope keys are ignored (newer
 * producers). `requestedAt` becomes the row's created_at, so a row is reproducible from its command.
 */
export const WriteCommand = decoded.type({
  operationId: Uuid,
  table: Table,
  op: "'create'",
  data: "object",
  requestedAt: Instant,
});

export interface Command<T extends Table = Table> {
  operationId: string;
  table: T;
  op: "create";
  data: T extends "users" ? UserData : OrderData;
  requestedAt: string;
}

/**
 * The payload's identity, independent of how the client wrote it ("19.9" and 19.90 are one
 * payload): the table plus the canonical data, hashed. Part of `Nats-Msg-Id`, so an identical retry
 * is deduplicated by JetStream while a different payload under the same key reaches the consumer,
 * whose row comparison answers 422.
 */
export function requestHash(table: Table, data: WriteData): string {
  return createHash("sha256")
    .update(`${table}\n${canonical(table, data)}`)
    .digest("hex")
    .slice(0, 16);
}

export const msgId = (operationId: string, hash: string) => `${operationId}:${hash}`;

/** One string per payload, field order fixed; stored rows map to it too (see `rowData`). */
export function canonical(table: Table, data: WriteData): string {
  if (table === "users") {
    const u = data as UserData;
    return JSON.stringify([u.name, u.email]);
  }
  const o = data as OrderData;
  return JSON.stringify([o.userId, o.items.map((i) => [i.productId, i.quantity, i.price]), o.total]);
}

export interface UserResult {
  id: string;
  name: string;
  email: string;
  createdAt: string;
}

export interface OrderResult {
  id: string;
  userId: string;
  items: { productId: string; quantity: number; price: string }[];
  total: string;
  createdAt: string;
}

/** The body of 201 and of its replays: `{operationId, user}` or `{operationId, order}`. */
export const resultKey = { users: "user", orders: "order" } as const;
export const entityPath = (table: Table, id: string) => `/api/${table}/${id}`;
export const operationPath = (id: string) => `/api/operations/${id}`;
