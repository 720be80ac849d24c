// The checker's clients: each runs seeded stories through the edge (users, orders, retries under
// the same key, another payload under a key, one key in both tables, concurrent duplicates,
// orders for users still in flight, hostile and invalid input, reads), and acts on every answer as
// a careful client would: a 202 is polled, a 503 outcome-unknown or no answer is retried with the
// same key, a 503 unavailable is sometimes retried and sometimes given up (then nothing may have
// been applied). Answers are judged as they arrive where the answer alone says enough; the rest is
// judged at the end (checks.ts).
import { setTimeout as sleep } from "node:timers/promises";
import { resultData } from "../../services/shared/rows.ts";
import { canonical, resultKey, type Table } from "../../services/shared/writes.ts";
import { type Answer, describeAnswer, type HttpClient, notApplied503, unknown503 } from "./client.ts";
import {
  badKeys,
  hostileUserPayload,
  invalidOrderPayload,
  invalidUserPayload,
  keySpelling,
  oddKey,
  oddReads,
  orderPayload,
  type Payload,
  userPayload,
} from "./data.ts";
import type { Attempt, Ledger } from "./ledger.ts";
import type { Rng } from "./rng.ts";

export interface ClientContext {
  http: HttpClient;
  ledger: Ledger;
  rng: Rng;
  client: number;
  /** True once the run's time is up: finish the request in flight, start nothing new. */
  stopping(): boolean;
  /** ms since the run started. */
  now(): number;
  /** A tag no other payload of this run has (emails, product ids). */
  tag(): string;
}

export const stories = {
  user: 30,
  "keyless-user": 8,
  order: 25,
  "order-unknown-user": 2,
  "user-with-order": 5,
  "key-reuse": 5,
  "both-tables": 3,
  duplicates: 4,
  "email-taken": 4,
  hostile: 4,
  invalid: 3,
  read: 20,
} as const;
export type Story = keyof typeof stories;

/** Runs stories until the run stops. */
export async function runClient(ctx: ClientContext): Promise<void> {
  while (!ctx.stopping()) {
    const story = ctx.rng.weighted(stories);
    await play(ctx, story);
    await sleep(ctx.rng.int(0, 40));
  }
}

async function play(ctx: ClientContext, story: Story): Promise<void> {
  const { rng, ledger } = ctx;
  switch (story) {
    case "user": {
      const a = newAttempt(ctx, story, userPayload(rng, ctx.tag()), rng.uuid());
      await drive(ctx, a);
      if (rng.chance(0.3)) await read(ctx, `/api/users/${a.id}`, a.id, "users");
      // A replay: the same request again answers the original result (200, the same body).
      if (rng.chance(0.1) && isCommitted(a)) await drive(ctx, a, 2);
      return;
    }
    case "keyless-user":
      return drive(ctx, newAttempt(ctx, story, userPayload(rng, ctx.tag()), undefined));
    case "order": {
      const userId = ledger.someCommitted("users", recent(rng)) ?? (await makeUser(ctx));
      if (!userId) return;
      const a = newAttempt(
        ctx,
        story,
        orderPayload(rng, ctx.tag(), userId),
        rng.chance(0.9) ? rng.uuid() : undefined,
      );
      await drive(ctx, a);
      if (rng.chance(0.3) && a.id) await read(ctx, `/api/orders/${a.id}`, a.id, "orders");
      if (rng.chance(0.2)) await read(ctx, `/api/users/${userId}/orders`, undefined, undefined);
      return;
    }
    case "order-unknown-user":
      return drive(ctx, newAttempt(ctx, story, orderPayload(rng, ctx.tag(), rng.uuid()), rng.uuid()));
    case "user-with-order": {
      // The order is sent while its user is still in flight: 201 once the user lands, or 422
      // user-not-found if it did not land within the consumer's short wait.
      const userKey = rng.uuid();
      const user = newAttempt(ctx, story, userPayload(rng, ctx.tag()), userKey);
      const order = newAttempt(ctx, story, orderPayload(rng, ctx.tag(), userKey), rng.uuid());
      await Promise.all([drive(ctx, user), sleep(rng.int(0, 20)).then(() => drive(ctx, order))]);
      return;
    }
    case "key-reuse": {
      const key = rng.uuid();
      await drive(ctx, newAttempt(ctx, story, userPayload(rng, ctx.tag()), key));
      await drive(ctx, newAttempt(ctx, story, userPayload(rng, ctx.tag()), key));
      return;
    }
    case "both-tables": {
      const userId = ledger.someCommitted("users", recent(rng));
      if (!userId) return;
      const key = rng.uuid();
      const asUser = newAttempt(ctx, story, userPayload(rng, ctx.tag()), key);
      const asOrder = newAttempt(ctx, story, orderPayload(rng, ctx.tag(), userId), key);
      await Promise.all([drive(ctx, asUser), drive(ctx, asOrder)]);
      return;
    }
    case "duplicates": {
      const key = rng.uuid();
      const payload = userPayload(rng, ctx.tag());
      const n = rng.int(2, 5);
      await Promise.all(Array.from({ length: n }, () => drive(ctx, newAttempt(ctx, story, payload, key))));
      return;
    }
    case "email-taken": {
      const other = ledger.someCommitted("users", recent(rng));
      const email = other && emailOf(ledger, other);
      if (!email) return;
      const spelled = rng.chance(0.5) ? email.toUpperCase() : email;
      return drive(ctx, newAttempt(ctx, story, userPayload(rng, ctx.tag(), spelled), rng.uuid()));
    }
    case "hostile": {
      if (rng.chance(0.5))
        return drive(ctx, newAttempt(ctx, story, hostileUserPayload(rng, ctx.tag()), rng.uuid()));
      // Any UUID Postgres stores is a key, in any case: the key is its lower-case spelling.
      return drive(ctx, newAttempt(ctx, story, userPayload(rng, ctx.tag()), oddKey(rng)));
    }
    case "invalid": {
      const roll = rng.int(0, 2);
      if (roll === 0)
        return drive(ctx, newAttempt(ctx, story, invalidUserPayload(rng, ctx.tag()), rng.uuid()));
      if (roll === 1) {
        const userId = ledger.someCommitted("users", recent(rng)) ?? rng.uuid();
        return drive(ctx, newAttempt(ctx, story, invalidOrderPayload(rng, ctx.tag(), userId), rng.uuid()));
      }
      const payload: Payload = {
        ...userPayload(rng, ctx.tag()),
        validity: "invalid",
        note: "bad Idempotency-Key",
      };
      const a = ledger.attempt({ story, client: ctx.client, payload, keySent: rng.pick(badKeys) });
      return drive(ctx, a);
    }
    case "read":
      return randomRead(ctx);
  }
}

/** Recent ids more often: they are the ones in flight, cached and changing. */
const recent = (rng: Rng) => (n: number) =>
  rng.chance(0.7) ? Math.max(0, n - 1 - rng.int(0, 50)) : rng.int(0, n - 1);

function newAttempt(ctx: ClientContext, story: string, payload: Payload, key: string | undefined): Attempt {
  const keySent = key === undefined ? undefined : keySpelling(ctx.rng, key);
  return ctx.ledger.attempt({
    story,
    client: ctx.client,
    payload,
    ...(keySent !== undefined ? { keySent, id: keySent.trim().toLowerCase() } : {}),
  });
}

async function makeUser(ctx: ClientContext): Promise<string | undefined> {
  const a = newAttempt(ctx, "user", userPayload(ctx.rng, ctx.tag()), ctx.rng.uuid());
  await drive(ctx, a);
  return isCommitted(a) ? a.id : undefined;
}

const isCommitted = (a: Attempt) => a.answers.some((x) => x.status === 201 || x.status === 200);

const emailOf = (ledger: Ledger, id: string) => ledger.emails.get(id);

/**
 * Sends the attempt's payload until a definite answer, as a careful client: 202 → poll the
 * operation; 503 outcome-unknown or no answer → again with the same key (a keyless write takes
 * the operationId the answer named as its key); 503 unavailable or backlog-full → again, or given
 * up (then nothing may have been applied). `tries` bounds the sends.
 */
export async function drive(ctx: ClientContext, a: Attempt, tries = 8): Promise<void> {
  const { ledger } = ctx;
  const held = a.id;
  if (held) ledger.hold(held);
  try {
    let key = a.keySent;
    for (let t = 0; t < tries; t++) {
      const ans = await send(ctx, a, key);
      if (ans.status === 201 || ans.status === 200) {
        if (a.id) committedNow(ledger, a, ans.at + ans.ms);
        return;
      }
      if (ans.status === 202) {
        await poll(ctx, a);
        return;
      }
      if (ans.status === 503 && ans.type === unknown503) {
        // The answer says: it may or may not have been accepted; retry with this key.
        key ??= a.id;
        if (!key) return;
        await pause(ctx, ans);
        continue;
      }
      if (ans.status === 503 && notApplied503.has(ans.type ?? "")) {
        // Not applied: a client may give up here, and then nothing may ever land.
        if (!key || ctx.rng.chance(0.4)) return;
        await pause(ctx, ans);
        continue;
      }
      if (ans.status === 0 || ans.status === 502 || ans.status === 504) {
        if (!key) return;
        await pause(ctx, ans);
        continue;
      }
      return;
    }
  } finally {
    if (held) ledger.release(held);
    a.doneAt = ctx.now();
  }
}

function committedNow(ledger: Ledger, a: Attempt, at: number): void {
  if (!a.id) return;
  ledger.sawCommitted(a.id, a.payload.table, at);
  const email = (a.payload.data as { email?: string } | undefined)?.email;
  if (email) ledger.emails.set(a.id, email);
}

async function pause(ctx: ClientContext, ans: Answer): Promise<void> {
  if (ctx.stopping()) return;
  const s = Math.min(3, Math.max(0.2, ans.retryAfter ?? 0.5));
  await sleep(s * 1000 + ctx.rng.int(0, 200));
}

/** One POST of the attempt, judged at once where the answer alone says enough. */
export async function send(ctx: ClientContext, a: Attempt, key: string | undefined): Promise<Answer> {
  const table = a.payload.table;
  const ans = await ctx.http.post(
    `/api/${table}`,
    a.payload.body,
    key === undefined ? {} : { "idempotency-key": key },
  );
  a.answers.push(ans);
  if (!a.id && ans.operationId) a.id = ans.operationId.toLowerCase();
  judgeWrite(ctx.ledger, a, ans);
  slim(ans, table);
  return ans;
}

/** What the end needs of a judged answer (a run of hours keeps hundreds of thousands). */
function slim(ans: Answer, table: Table): void {
  const b = ans.body as Record<string, unknown> | undefined;
  if (ans.status === 201 || ans.status === 200) {
    const result = b?.[resultKey[table]] as { createdAt?: string } | undefined;
    ans.body = { [resultKey[table]]: { createdAt: result?.createdAt } };
  } else if (b && typeof b === "object") {
    ans.body = { detail: String(b.detail ?? "").slice(0, 400) };
  } else if (typeof ans.body === "string") {
    ans.body = ans.body.slice(0, 400);
  }
}

/** What one answer to a write may be, whatever else happened. */
export function judgeWrite(ledger: Ledger, a: Attempt, ans: Answer): void {
  const fail = (rule: string, what: string) =>
    ledger.violate({
      rule,
      what: `${what} (attempt ${a.n}, ${a.payload.table}${a.id ? ` ${a.id}` : ""})`,
      detail: { attempt: a.n },
    });
  const s = ans.status;
  if (s >= 500) {
    const allowed =
      (s === 500 && ans.type === "write-failed") ||
      (s === 503 && (notApplied503.has(ans.type ?? "") || ans.type === unknown503));
    if (!allowed) fail("no-5xx", `a write answered ${describeAnswer(ans)}`);
    if (s === 503 && !(ans.retryAfter && ans.retryAfter > 0))
      fail("503-retry-after", `a 503 ${ans.type} without Retry-After`);
    if (s === 503 && ans.type === unknown503 && !ans.operationId) {
      fail(
        "outcome-unknown-names-key",
        "a 503 outcome-unknown that does not name the operationId to retry with",
      );
    }
    return;
  }
  if (s === 0) return;
  if (a.payload.validity === "invalid") {
    if (s !== 400 && s !== 413 && s !== 415) {
      fail(
        "invalid-refused",
        `an invalid payload (${a.payload.note}) answered ${describeAnswer(ans)}, not 400`,
      );
    }
    return;
  }
  if (s === 400)
    fail("valid-accepted", `a valid payload answered 400: ${JSON.stringify(ans.body).slice(0, 300)}`);
  if (s === 201 || s === 200) {
    const body = ans.body as Record<string, unknown> | undefined;
    const result = body?.[resultKey[a.payload.table]] as { id?: string } | undefined;
    if (!result || body?.operationId !== a.id || result.id !== a.id) {
      fail("committed-body", `${s} whose body is not this write's: ${JSON.stringify(body).slice(0, 300)}`);
      return;
    }
    const fp = canonical(a.payload.table, resultData(a.payload.table, result as never));
    if (fp !== a.payload.fp) {
      fail("committed-body", `${s} with data ${fp}, but the request was ${a.payload.fp}`);
    }
    if (s === 200 && !ans.replayed) fail("replay-marked", "200 without Idempotent-Replayed: true");
  }
  if (s === 202) {
    const body = ans.body as Record<string, unknown> | undefined;
    if (body?.operationId !== a.id) fail("accepted-body", `202 naming ${String(body?.operationId)}`);
  }
}

/** Polls a 202's operation until it is final or the run stops (the end resolves the rest). */
export async function poll(ctx: ClientContext, a: Attempt, untilMs?: number): Promise<void> {
  if (!a.id) return;
  let wait = 200;
  for (;;) {
    const ans = await ctx.http.get(`/api/operations/${a.id}`);
    countRead(ctx.ledger, ans);
    if (ans.status >= 500 && !(ans.status === 503 && ans.retryAfter)) {
      ctx.ledger.violate({
        rule: "no-5xx",
        what: `GET /api/operations/${a.id} answered ${describeAnswer(ans)}`,
      });
    }
    if (ans.status === 200 || ans.status === 404) {
      const view = ans.body as {
        status?: string;
        table?: Table;
        httpStatus?: number;
        result?: unknown;
        error?: { detail?: string };
      };
      const status = ans.status === 404 ? "404" : String(view.status);
      a.resolution = {
        status,
        body: { httpStatus: view.httpStatus, detail: view.error?.detail },
        at: ans.at,
      };
      if (status !== "accepted" && status !== "404") {
        // The operation is the key's: committed with another body (or in the other table) is
        // another write's commit, not this one's.
        // Only a committed view has a result (a rejected or failed one has none).
        const mine =
          status === "committed" &&
          view.table === a.payload.table &&
          canonical(a.payload.table, resultData(a.payload.table, view.result as never)) === a.payload.fp;
        if (mine) committedNow(ctx.ledger, a, ans.at + ans.ms);
        return;
      }
    }
    if (untilMs !== undefined ? ctx.now() > untilMs : ctx.stopping()) return;
    await sleep(wait);
    wait = Math.min(2000, wait * 2);
  }
}

function countRead(ledger: Ledger, ans: Answer): void {
  ledger.reads.set(ans.status, (ledger.reads.get(ans.status) ?? 0) + 1);
}

/** A GET, judged: never a 5xx but a 503 with Retry-After; a committed row is never 404. */
async function read(
  ctx: ClientContext,
  path: string,
  id: string | undefined,
  table: Table | undefined,
): Promise<void> {
  const ans = await ctx.http.get(path);
  countRead(ctx.ledger, ans);
  if (id && table) ctx.ledger.readIds.set(id, table);
  if (ans.status >= 500 && !(ans.status === 503 && ans.retryAfter)) {
    ctx.ledger.violate({
      rule: "no-5xx",
      what: `GET ${path} answered ${describeAnswer(ans)}`,
      detail: ans.body,
    });
  }
  const committed = id ? ctx.ledger.committed.get(id) : undefined;
  if (ans.status === 404 && id && committed && committed.at < ans.at && !ctx.ledger.operatorOwned.has(id)) {
    ctx.ledger.violate({
      rule: "read-committed",
      what: `GET ${path} answered 404 ${ans.at - committed.at} ms after the write was confirmed`,
    });
  }
}

async function randomRead(ctx: ClientContext): Promise<void> {
  const { rng, ledger } = ctx;
  const choice = rng.weighted({ user: 30, order: 20, "user-orders": 15, list: 15, operation: 10, odd: 10 });
  switch (choice) {
    case "user": {
      const id = ledger.someCommitted("users", recent(rng));
      if (id) for (let i = rng.int(1, 2); i > 0; i--) await read(ctx, `/api/users/${id}`, id, "users");
      return;
    }
    case "order": {
      const id = ledger.someCommitted("orders", recent(rng));
      if (id) for (let i = rng.int(1, 2); i > 0; i--) await read(ctx, `/api/orders/${id}`, id, "orders");
      return;
    }
    case "user-orders": {
      const id = ledger.someCommitted("users", recent(rng));
      if (id)
        await read(ctx, `/api/users/${id}/orders${rng.chance(0.3) ? "?limit=5" : ""}`, undefined, undefined);
      return;
    }
    case "list": {
      const table = rng.pick(["users", "orders"] as const);
      const limit = rng.pick([5, 20, 100]);
      const first = await ctx.http.get(`/api/${table}?limit=${limit}`);
      countRead(ledger, first);
      if (first.status >= 500 && !(first.status === 503 && first.retryAfter)) {
        ledger.violate({
          rule: "no-5xx",
          what: `GET /api/${table}?limit=${limit} answered ${describeAnswer(first)}`,
        });
      }
      const next = (first.body as { nextCursor?: string } | undefined)?.nextCursor;
      if (next && rng.chance(0.5))
        await read(ctx, `/api/${table}?limit=${limit}&cursor=${next}`, undefined, undefined);
      return;
    }
    case "operation": {
      const a = ledger.attempts[recent(rng)(ledger.attempts.length)];
      if (a?.id) await read(ctx, `/api/operations/${a.id}`, undefined, undefined);
      return;
    }
    case "odd":
      return read(ctx, rng.pick(oddReads), undefined, undefined);
  }
}
