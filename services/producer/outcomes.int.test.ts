// Every outcome of DESIGN.md's write path, end to end over HTTP: producer and consumer run as real
// processes against a real nats-server (streams.yaml applied) and Postgres.

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { createInbox, headers, type NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import postgres from "postgres";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { until } from "../infra/until.ts";
import { operationRoute } from "../reader/operations.ts";
import { router } from "../shared/http.ts";
import { writeReplyPrefix } from "../shared/nats.ts";
import { isoTimestampFormat } from "../shared/timestamps.ts";
import { startNats } from "../testing/nats.ts";
import { startPostgres } from "../testing/postgres.ts";
import { applyStreams } from "../testing/streams.ts";
import { postJson, startWritePath, type WritePath } from "../testing/write-path.ts";

const nats = await startNats({ own: true });
const pg = await startPostgres();
const db = await pg.createDatabase("outcomes");
await applyStreams(nats.url);
const sql = postgres(db.url, { max: 2, onnotice: () => {} });
const nc: NatsConnection = await connect({ servers: nats.url, ...nats.auth() });
const kv: KV = await new Kvm(nc).open("operations");
const stack: WritePath = await startWritePath({
  natsUrl: nats.url,
  databaseUrl: db.urlAs("jpw_writer"),
  // Orders wait up to ~1 s for a user still in flight; the unknown-user 422 stays within the 3 s deadline.
  consumerEnv: { CONSUMER_FK_RETRIES: "5", CONSUMER_FK_DELAY_MS: "100" },
});
const api = stack.producer.url;

// GET /api/operations/:id as the reader mounts it, called without a socket.
const reader = router([["GET", "/api/operations/:id", operationRoute(sql, async () => kv)]]);
/** The operation's outcome once final. */
async function operation(id: string): Promise<Record<string, unknown>> {
  let record: Record<string, unknown> = {};
  await until(
    async () => {
      const res = await reader(new Request(`http://reader/api/operations/${id}`));
      record = (await res.json()) as Record<string, unknown>;
      return res.ok && record.status !== "accepted";
    },
    10_000,
    `the outcome of ${id} to be recorded`,
  );
  return record;
}
const usersWith = async (email: string) =>
  (await sql`select count(*)::int as n from users where lower(email) = lower(${email})`)[0]!.n as number;
let n = 0;
const someone = () => {
  n++;
  return { name: `Person ${n}`, email: `person${n}.${process.pid}@example.com` };
};

const users = suite("POST /api/users");

users(
  "a new user is 201 with the committed row and its Location, and the operation reads committed",
  async () => {
    const key = crypto.randomUUID();
    const body = someone();
    const r = await postJson(api, "/api/users", body, key);
    assert.is(r.status, 201);
    assert.is(r.headers.get("location"), `/api/users/${key}`);
    const user = r.body.user as Record<string, unknown>;
    assert.is(r.body.operationId, key);
    assert.equal({ id: user.id, name: user.name, email: user.email }, { id: key, ...body });
    const [row] =
      await sql`select name, email, to_char(created_at at time zone 'UTC', ${isoTimestampFormat}) as created_at
      from users where id = ${key}`;
    assert.is(row?.email, body.email);
    assert.is(user.createdAt, row?.created_at, "the row as the reader will return it, to the microsecond");
    const op = await operation(key);
    assert.is(op.status, "committed");
    assert.is(op.httpStatus, 201);
    assert.equal(op.result, user);
  },
);

users("the same key and payload again is 200 with the same body, marked Idempotent-Replayed", async () => {
  const key = crypto.randomUUID();
  const body = someone();
  const first = await postJson(api, "/api/users", body, key);
  // Case and spacing of the key, and JSON key order, do not make it another request.
  const again = await postJson(
    api,
    "/api/users",
    { email: ` ${body.email}`, name: body.name },
    key.toUpperCase(),
  );
  assert.is(first.status, 201);
  assert.is(again.status, 200);
  assert.is(again.headers.get("idempotent-replayed"), "true");
  assert.is(again.headers.get("location"), `/api/users/${key}`);
  assert.equal(again.body, first.body);
  assert.is(await usersWith(body.email), 1);
});

users(
  "a command applied before, redelivered or retried after the dedup window, answers duplicate with the stored row",
  async () => {
    const key = crypto.randomUUID();
    const body = someone();
    const first = await postJson(api, "/api/users", body, key);
    // A fresh Nats-Msg-Id is what JetStream sees once its 2-minute window has passed.
    const inbox = createInbox(writeReplyPrefix);
    const sub = nc.subscribe(inbox, { max: 1 });
    const giveUp = setTimeout(() => sub.unsubscribe(), 10_000);
    const h = headers();
    h.set("Reply-To", inbox);
    await jetstream(nc).publish(
      "writes.users",
      JSON.stringify({
        operationId: key,
        table: "users",
        op: "create",
        data: body,
        requestedAt: new Date().toISOString(),
      }),
      { msgID: crypto.randomUUID(), headers: h },
    );
    let reply: Record<string, unknown> | undefined;
    for await (const m of sub) reply = m.json();
    clearTimeout(giveUp);
    assert.equal(reply, { operationId: key, outcome: "duplicate", result: first.body.user });
    assert.is(await usersWith(body.email), 1);
    assert.is((await operation(key)).status, "committed");
  },
);

users(
  "the same key with a different payload is 422 idempotency-key-reused, and the original stands",
  async () => {
    const key = crypto.randomUUID();
    const body = someone();
    const first = await postJson(api, "/api/users", body, key);
    const other = { ...body, name: `${body.name} (renamed)` };
    for (let i = 0; i < 2; i++) {
      // The second time, JetStream deduplicates the command: the producer still answers 422.
      const r = await postJson(api, "/api/users", other, key);
      assert.is(r.status, 422, `attempt ${i + 1}`);
      assert.is(r.headers.get("content-type"), "application/problem+json");
      assert.is(r.body.type, "/problems/idempotency-key-reused");
      assert.is(r.body.operationId, key);
    }
    const [row] = await sql`select name from users where id = ${key}`;
    assert.is(row?.name, body.name);
    const op = await operation(key);
    assert.is(op.status, "committed");
    assert.equal(op.result, first.body.user);
  },
);

users("a taken email, in any case, is 409 email-taken, never a success, and adds no row", async () => {
  const body = someone();
  assert.is((await postJson(api, "/api/users", body)).status, 201);
  const key = crypto.randomUUID();
  const r = await postJson(api, "/api/users", { name: "Someone else", email: body.email.toUpperCase() }, key);
  assert.is(r.status, 409);
  assert.is(r.body.type, "/problems/email-taken");
  assert.is(r.body.operationId, key);
  assert.is(await usersWith(body.email), 1);
  assert.is((await sql`select count(*)::int as n from users where id = ${key}`)[0]!.n, 0);
  const op = await operation(key);
  assert.is(op.status, "rejected");
  assert.is(op.httpStatus, 409);
});

users("concurrent requests with the same key make one row, and every answer carries it", async () => {
  const key = crypto.randomUUID();
  const body = someone();
  const answers = await Promise.all(Array.from({ length: 12 }, () => postJson(api, "/api/users", body, key)));
  const statuses = answers.map((a) => a.status).sort();
  assert.equal(statuses, [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
  for (const a of answers) assert.equal(a.body, answers[0]!.body);
  assert.is(await usersWith(body.email), 1);
});

users(
  "concurrent requests with the same key and different payloads: one is applied, the others get 422",
  async () => {
    const key = crypto.randomUUID();
    const bodies = Array.from({ length: 6 }, () => someone());
    const answers = await Promise.all(bodies.map((b) => postJson(api, "/api/users", b, key)));
    const won = answers.filter((a) => a.status === 201);
    assert.is(won.length, 1);
    assert.equal(
      answers.filter((a) => a.status !== 201).map((a) => a.body.type),
      Array(5).fill("/problems/idempotency-key-reused"),
    );
    const rows = await sql`select email from users where id = ${key}`;
    assert.is(rows.length, 1);
    assert.is(rows[0]!.email, (won[0]!.body.user as { email: string }).email);
  },
);

users("unknown keys, a bad email and a non-UUID key are 400 problems listing each field", async () => {
  const r = await postJson(api, "/api/users", { name: "Ada", email: "not-an-email", admin: true });
  assert.is(r.status, 400);
  assert.equal((r.body.errors as { path: string }[]).map((e) => e.path).sort(), ["admin", "email"]);
  const k = await postJson(api, "/api/users", someone(), "not-a-uuid");
  assert.is(k.status, 400);
  assert.is(k.body.type, "/problems/invalid-idempotency-key");
});

users("a body that is not JSON is 415 and one over 64 KiB is 413", async () => {
  const res = await fetch(`${api}/api/users`, {
    method: "POST",
    headers: { "content-type": "text/plain" },
    body: "x",
  });
  assert.is(res.status, 415);
  const big = await postJson(api, "/api/users", { name: "x".repeat(65 * 1024), email: "a@example.com" });
  assert.is(big.status, 413);
});

users("the same rejected request again is answered its recorded rejection, 409 again", async () => {
  const body = someone();
  assert.is((await postJson(api, "/api/users", body)).status, 201);
  const key = crypto.randomUUID();
  const other = { name: "Copycat", email: body.email };
  const first = await postJson(api, "/api/users", other, key);
  // Deduplicated by JetStream: answered from the operations record, never decided twice.
  const again = await postJson(api, "/api/users", other, key);
  assert.equal([first.status, again.status], [409, 409]);
  assert.equal(again.body, first.body);
});

users(
  "200 identical replays of one key are each answered 200 and leave no consumer behind on the outcome bucket",
  async () => {
    const key = crypto.randomUUID();
    const body = someone();
    const created = await postJson(api, "/api/users", body, key);
    assert.is(created.status, 201);
    for (let i = 0; i < 200; i += 20) {
      const replays = await Promise.all(
        Array.from({ length: 20 }, () => postJson(api, "/api/users", body, key)),
      );
      for (const r of replays) {
        assert.is(r.status, 200);
        assert.equal(r.body, created.body);
      }
    }
    const jsm = await jetstreamManager(nc);
    const consumers = [];
    for await (const c of jsm.consumers.list("KV_operations")) consumers.push(c.name);
    assert.equal(consumers, []);
  },
);

users(
  "text Postgres cannot store (NUL, a lone surrogate) is 400 naming the field, and nothing is written",
  async () => {
    for (const raw of [
      '{"name":"Nul\\u0000","email":"nul@example.com"}',
      '{"name":"Half \\ud800","email":"half@example.com"}',
    ]) {
      const key = crypto.randomUUID();
      const r = await postJson(api, "/api/users", raw, key);
      assert.is(r.status, 400, raw);
      assert.equal(
        (r.body.errors as { path: string }[]).map((e) => e.path),
        ["name"],
      );
      assert.is(await kv.get(key), null);
      assert.is((await sql`select count(*)::int as n from users where id = ${key}`)[0]!.n, 0);
    }
  },
);

users("any UUID Postgres stores is a key (version 0, variant 0 included), never a 500", async () => {
  const key = "12345678-1234-0234-1234-123456789ABC";
  const r = await postJson(api, "/api/users", someone(), key);
  assert.is(r.status, 201);
  assert.is(r.body.operationId, key.toLowerCase());
  assert.is((await operation(key.toLowerCase())).status, "committed");
});

users.run();

const orders = suite("POST /api/orders");

orders("an order is 201 with exact money: numbers and strings in, two-decimal strings out", async () => {
  const owner = await postJson(api, "/api/users", someone());
  const userId = owner.body.operationId as string;
  const key = crypto.randomUUID();
  const r = await postJson(
    api,
    "/api/orders",
    {
      userId,
      items: [
        { productId: "book", quantity: 3, price: 0.1 },
        { productId: "pen", quantity: 1, price: "19.9" },
      ],
      total: "20.20",
    },
    key,
  );
  assert.is(r.status, 201);
  assert.is(r.headers.get("location"), `/api/orders/${key}`);
  const order = r.body.order as Record<string, unknown>;
  assert.equal(order.items, [
    { productId: "book", quantity: 3, price: "0.10" },
    { productId: "pen", quantity: 1, price: "19.90" },
  ]);
  assert.is(order.total, "20.20");
  assert.is(order.userId, userId);
  const [row] = await sql`select total::text as total, user_id from orders where id = ${key}`;
  assert.is(row?.total, "20.20");
  // The same order sent again with its amounts spelled differently is the same payload: a replay.
  const again = await postJson(
    api,
    "/api/orders",
    {
      userId: userId.toUpperCase(),
      items: [
        { productId: "book", quantity: 3, price: "0.10" },
        { productId: "pen", quantity: 1, price: 19.9 },
      ],
      total: 20.2,
    },
    key,
  );
  assert.is(again.status, 200);
  assert.equal(again.body, r.body);
});

orders("a total that is not the exact sum is 400 on total, and nothing is published", async () => {
  const key = crypto.randomUUID();
  const r = await postJson(
    api,
    "/api/orders",
    { userId: crypto.randomUUID(), items: [{ productId: "p", quantity: 3, price: "0.10" }], total: "0.31" },
    key,
  );
  assert.is(r.status, 400);
  assert.equal(r.body.errors, [
    { path: "total", message: "must be the sum of quantity × price over the items (0.30) (was 0.31)" },
  ]);
  assert.is((await kv.get(key))?.operation, undefined);
});

orders("an order for an unknown user is 422 user-not-found after a short retry", async () => {
  const key = crypto.randomUUID();
  const r = await postJson(
    api,
    "/api/orders",
    { userId: crypto.randomUUID(), items: [{ productId: "p", quantity: 1, price: "5.00" }], total: "5.00" },
    key,
  );
  assert.is(r.status, 422);
  assert.is(r.body.type, "/problems/user-not-found");
  assert.is((await sql`select count(*)::int as n from orders where id = ${key}`)[0]!.n, 0);
  assert.is((await operation(key)).status, "rejected");
});

orders("an order sent just before its user's create still lands once the user does", async () => {
  const userKey = crypto.randomUUID();
  const order = postJson(api, "/api/orders", {
    userId: userKey,
    items: [{ productId: "p", quantity: 2, price: "1.25" }],
    total: "2.50",
  });
  const user = await postJson(api, "/api/users", someone(), userKey);
  assert.is(user.status, 201);
  assert.is((await order).status, 201);
});

orders(
  "a key already used for a user cannot create an order: 422, and the user's record stands",
  async () => {
    const key = crypto.randomUUID();
    const owner = await postJson(api, "/api/users", someone(), key);
    const r = await postJson(
      api,
      "/api/orders",
      { userId: key, items: [{ productId: "p", quantity: 1, price: "1.00" }], total: "1.00" },
      key,
    );
    assert.is(r.status, 422);
    assert.is(r.body.type, "/problems/idempotency-key-reused");
    assert.is((await sql`select count(*)::int as n from orders where id = ${key}`)[0]!.n, 0);
    const op = await operation(key);
    assert.is(op.table, "users");
    assert.equal(op.result, owner.body.user);
  },
);

orders.run();

const ops = suite("operations and metrics");

ops("an unknown operation is 404, and the producer counts its answers by status", async () => {
  const id = crypto.randomUUID();
  const res = await reader(new Request(`http://reader/api/operations/${id}`));
  assert.is(res.status, 404);
  assert.is(((await res.json()) as { type: string }).type, "/problems/operation-not-found");
  const metrics = await (await fetch(`${api}/metrics`)).text();
  assert.match(metrics, /jpw_producer_writes_total\{status="201",table="users"\} \d+/);
  assert.match(metrics, /jpw_producer_writes_total\{status="409",table="users"\} [1-9]/);
  const consumerMetrics = await (await fetch(`${stack.consumer.url}/metrics`)).text();
  assert.match(consumerMetrics, /jpw_consumer_messages_total\{outcome="committed",table="orders"\} \d+/);
});

ops("producer and consumer stop cleanly on SIGTERM", async () => {
  assert.is(await stack.producer.stop(), 0);
  assert.is(await stack.consumer.stop(), 0);
});

ops.after(async () => {
  await nc.close();
  await sql.end();
  await db.drop();
  await pg[Symbol.asyncDispose]();
  await nats[Symbol.asyncDispose]();
});

ops.run();
