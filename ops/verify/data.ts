// What the checker's clients send: users and orders, valid ones in every spelling the contract
// allows (amounts as strings or numbers, padded names, any Unicode text), hostile-but-plausible
// ones (a UI that cut an emoji in half, a NUL, odd spellings of a UUID key) and plainly invalid
// ones. Each payload says what the contract promises for it, and carries its canonical form,
// computed here from what was generated (never by the system's own parser), so a broken parser
// cannot agree with itself.
import { formatCents } from "../../services/shared/money.ts";
import {
  canonical,
  type OrderData,
  type Table,
  type UserData,
  type WriteData,
} from "../../services/shared/writes.ts";
import type { Rng } from "./rng.ts";

/**
 * What the contract promises for a payload: `valid` is applied or refused for a domain reason
 * (409, 422), `invalid` is a 400 that changes nothing.
 */
export type Validity = "valid" | "invalid";

export interface Payload {
  table: Table;
  body: unknown;
  validity: Validity;
  /** Why it is invalid, or what is hostile about it. */
  note?: string;
  /** The canonical data the row must hold (valid payloads). */
  data?: WriteData;
  /** canonical(table, data): one payload's identity, however it was spelled. */
  fp?: string;
}

const first = [
  "Ada",
  "Grace",
  "Edsger",
  "Barbara",
  "Ken",
  "Radia",
  "Donald",
  "Frances",
  "Leslie",
  "Margaret",
];
const last = ["Lovelace", "Hopper", "Dijkstra", "Liskov", "Thompson", "Perlman", "Knuth", "Allen", "Lamport"];

/** Text that a UI may well send and Postgres stores exactly. */
const unusual = [
  "Zoë Ångström",
  "李小龙",
  "שלום עליכם",
  "مرحبا",
  "e\u0301le\u0300ve",
  "🙂 Smiley",
  "👩‍💻 Dev",
  "\u200bzero width",
  "O'Brien; DROP TABLE users;--",
  '"quoted" \\ back',
  "\u202eright to left",
  "tab\there",
];

export function userPayload(rng: Rng, tag: string, email?: string): Payload {
  let name = `${rng.pick(first)} ${rng.pick(last)}`;
  if (rng.chance(0.2)) name = rng.pick(unusual);
  if (rng.chance(0.05)) name = "N".repeat(rng.int(150, 200));
  // Padding is trimmed by the contract: the row holds the trimmed text.
  const sent = rng.chance(0.1) ? `  ${name}\u00a0` : name;
  const mail = email ?? `${tag}@example.test`;
  const data: UserData = { name: sent.trim(), email: mail.trim() };
  return finish("users", { name: sent, email: mail }, data);
}

/** A lone surrogate (an emoji cut in half) or a NUL: the contract answers 400 on the field. */
export function hostileUserPayload(rng: Rng, tag: string): Payload {
  const kind = rng.pick(["lone-surrogate-end", "lone-surrogate-start", "nul"] as const);
  const name =
    kind === "nul"
      ? "Ada\u0000Lovelace"
      : kind === "lone-surrogate-end"
        ? "Ada 🙂".slice(0, -1)
        : "\udc00Ada";
  return { table: "users", body: { name, email: `${tag}@example.test` }, validity: "invalid", note: kind };
}

export function invalidUserPayload(rng: Rng, tag: string): Payload {
  const cases: [string, unknown][] = [
    ["missing email", { name: "No Mail" }],
    ["empty name", { name: "   ", email: `${tag}@example.test` }],
    ["not an email", { name: "Bad Mail", email: "not-an-email" }],
    ["unknown key", { name: "Extra", email: `${tag}@example.test`, admin: true }],
    ["name too long", { name: "x".repeat(201), email: `${tag}@example.test` }],
    ["not an object", ["Ada", `${tag}@example.test`]],
  ];
  const [note, body] = rng.pick(cases);
  return { table: "users", body, validity: "invalid", note };
}

export function orderPayload(rng: Rng, tag: string, userId: string): Payload {
  const n = rng.int(1, 3);
  const items: { productId: string; quantity: number; price: string | number }[] = [];
  const canon: OrderData["items"] = [];
  let total = 0n;
  for (let i = 0; i < n; i++) {
    const cents = BigInt(rng.int(1, 100_000));
    const quantity = rng.int(1, 5);
    total += cents * BigInt(quantity);
    // Prices as the text a client wrote ("12.30"), or as JSON numbers (12.3).
    const price = rng.chance(0.3) ? Number(formatCents(cents)) : formatCents(cents);
    const productId = i === 0 ? `p-${tag}` : rng.pick(["book", "pen", "lamp", "mug", "🧦 socks"]);
    items.push({ productId, quantity, price });
    canon.push({ productId, quantity, price: formatCents(cents) });
  }
  const sentUser = rng.chance(0.1) ? userId.toUpperCase() : userId;
  const body = {
    userId: sentUser,
    items,
    total: rng.chance(0.3) ? Number(formatCents(total)) : formatCents(total),
  };
  return finish("orders", body, { userId: userId.toLowerCase(), items: canon, total: formatCents(total) });
}

export function invalidOrderPayload(rng: Rng, tag: string, userId: string): Payload {
  const cases: [string, unknown][] = [
    [
      "total is not the sum",
      { userId, items: [{ productId: `p-${tag}`, quantity: 2, price: "1.50" }], total: "3.01" },
    ],
    [
      "three decimals",
      { userId, items: [{ productId: `p-${tag}`, quantity: 1, price: "1.505" }], total: "1.505" },
    ],
    ["no items", { userId, items: [], total: "0.00" }],
    [
      "userId not a UUID",
      { userId: "42", items: [{ productId: `p-${tag}`, quantity: 1, price: "1" }], total: "1" },
    ],
    [
      "negative quantity",
      { userId, items: [{ productId: `p-${tag}`, quantity: -1, price: "1" }], total: "1" },
    ],
  ];
  const [note, body] = rng.pick(cases);
  return { table: "orders", body, validity: "invalid", note };
}

function finish(table: Table, body: unknown, data: WriteData): Payload {
  return { table, body, validity: "valid", data, fp: canonical(table, data) };
}

/**
 * Spellings of an Idempotency-Key: the canonical lower case, upper case, padded, or any UUID
 * Postgres stores (the nil UUID, other versions and variants). All of them are one key: the
 * lower-case, trimmed text.
 */
export function keySpelling(rng: Rng, key: string): string {
  switch (rng.weighted({ plain: 90, upper: 6, padded: 4 })) {
    case "upper":
      return key.toUpperCase();
    case "padded":
      return ` ${key} `;
    default:
      return key;
  }
}

/** A key of an unusual version or variant, valid in Postgres's grammar (and so in ours). */
export function oddKey(rng: Rng): string {
  const u = rng.uuid().split("-");
  const version = rng.pick(["0", "1", "7", "8", "f"]);
  const variant = rng.pick(["0", "7", "c", "f"]);
  return `${u[0]}-${u[1]}-${version}${u[2]!.slice(1)}-${variant}${u[3]!.slice(1)}-${u[4]}`;
}

/** Keys the contract refuses with 400 invalid-idempotency-key. */
export const badKeys = [
  "not-a-uuid",
  "12345",
  "{8f14e45f-ceea-467f-a0e6-1f0f5e1c2b3a}",
  "8f14e45fceea467fa0e61f0f5e1c2b3a",
];

/** Garbage a person might publish by hand on writes.*: every one must end in WRITES_DLQ. */
export function garbage(rng: Rng, marker: string): string {
  return rng.pick([
    `not json ${marker}`,
    `{"marker":"${marker}"}`,
    `{"operationId":"${marker}","table":"users","op":"create","data":{},"requestedAt":"2026-01-01T00:00:00Z"}`,
    `{"operationId":"${rng.uuid()}","table":"users","op":"drop","data":{"marker":"${marker}"},"requestedAt":"2026-01-01T00:00:00Z"}`,
    `{"operationId":"${rng.uuid()}","table":"users","op":"create","data":{"name":"","email":"${marker}"},"requestedAt":"2026-01-01T00:00:00Z"}`,
    `[1,2,"${marker}"]`,
  ]);
}

/** GET paths a client might send by mistake: each answers 400 or 404, never a 5xx. */
export const oddReads = [
  "/api/users/%FF",
  "/api/users/%E0%A4%A",
  "/api/users/not-a-uuid",
  "/api/orders/00000000-0000-0000-0000-000000000000",
  "/api/users/%00",
  "/api/users?limit=0",
  "/api/users?limit=abc",
  "/api/orders?cursor=garbage",
  "/api/users?cursor=eyJ4IjoxfQ",
  "/api/operations/not-a-uuid",
  "/api/users/..%2F..%2Fetc%2Fpasswd",
];
