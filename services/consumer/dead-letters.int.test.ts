// Poison and persistent failures: nothing published on writes.* can stop a writer, and nothing it
// cannot apply is dropped: it goes to WRITES_DLQ with the reason, and its caller hears `failed`.
import { type JetStreamManager, jetstream, jetstreamManager, type StoredMsg } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { createInbox, headers, type NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import postgres from "postgres";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { until } from "../infra/until.ts";
import { writeReplyPrefix } from "../shared/nats.ts";
import { getOperation } from "../shared/operations.ts";
import { lookupOutcome } from "../shared/outcome-lookup.ts";
import { startNats } from "../testing/nats.ts";
import { startPostgres } from "../testing/postgres.ts";
import { applyStreams } from "../testing/streams.ts";
import { postJson, startWritePath } from "../testing/write-path.ts";

// Our own server: the writer consumers are fixed names, and this file changes their settings.
const nats = await startNats({ own: true });
const pg = await startPostgres();
const db = await pg.createDatabase("dlq");
await applyStreams(nats.url);
const nc: NatsConnection = await connect({ servers: nats.url, ...nats.auth() });
const js = jetstream(nc);
const jsm: JetStreamManager = await jetstreamManager(nc);
// Few deliveries and short delays, so "out of deliveries" happens within a test.
await jsm.consumers.update("WRITES", "orders-writer", { max_deliver: 3 });
const kv: KV = await new Kvm(nc).open("operations");
const sql = postgres(db.url, { max: 1, onnotice: () => {} });
const stack = await startWritePath({
  natsUrl: nats.url,
  databaseUrl: db.urlAs("jpw_writer"),
  consumerEnv: { CONSUMER_RETRY_BASE_MS: "50" },
});
const api = stack.producer.url;

/** The dead letter of the WRITES message at `seq`, once it is there. */
async function deadLetterOf(seq: number): Promise<StoredMsg> {
  let found: StoredMsg | undefined;
  await until(
    async () => {
      const last = (await jsm.streams.info("WRITES_DLQ")).state.last_seq;
      for (let s = 1; s <= last && !found; s++) {
        const m = await jsm.streams.getMessage("WRITES_DLQ", { seq: s });
        if (m?.header.get("Jpw-Original-Sequence") === String(seq)) found = m;
      }
      return found !== undefined;
    },
    10_000,
    `the dead letter of WRITES #${seq}`,
  );
  return found!;
}

/** Every message the writer took is settled: its outcome recorded (or not) and acked. */
const settled = (consumer: string) =>
  until(
    async () => {
      const info = await jsm.consumers.info("WRITES", consumer);
      return info.num_ack_pending === 0 && info.num_pending === 0;
    },
    10_000,
    `${consumer} to settle`,
  );

async function publishWithReply(subject: string, body: string) {
  const inbox = createInbox(writeReplyPrefix);
  const sub = nc.subscribe(inbox, { max: 1 });
  const giveUp = setTimeout(() => sub.unsubscribe(), 10_000);
  const h = headers();
  h.set("Reply-To", inbox);
  const ack = await js.publish(subject, body, { headers: h });
  const reply = (async () => {
    for await (const m of sub) {
      clearTimeout(giveUp);
      return m.json<Record<string, unknown>>();
    }
    return undefined;
  })();
  return { seq: ack.seq, reply };
}

const command = (operationId: string, table: string, data: unknown) =>
  JSON.stringify({ operationId, table, op: "create", data, requestedAt: new Date().toISOString() });

const poison = suite("malformed commands");

poison(
  "garbage published by hand on writes.users is dead-lettered with its reason, and writes go on",
  async () => {
    const h = headers();
    h.set("X-Sent-By", "nats cli");
    const ack = await js.publish("writes.users", "this is not json {", { headers: h });
    const dead = await deadLetterOf(ack.seq);
    assert.is(dead.subject, "dlq.writes.users");
    assert.match(dead.header.get("Jpw-Dlq-Reason"), /^not JSON: /);
    assert.is(dead.header.get("Jpw-Original-Subject"), "writes.users");
    assert.is(dead.header.get("Jpw-Delivery-Count"), "1");
    assert.is(dead.header.get("X-Sent-By"), "nats cli", "the original headers travel with it");
    assert.is(new TextDecoder().decode(dead.data), "this is not json {");
    const after = await postJson(api, "/api/users", { name: "Still", email: "still@example.com" });
    assert.is(after.status, 201);
  },
);

poison(
  "a command with invalid data is dead-lettered, its caller hears failed, and its operation reads failed",
  async () => {
    const id = crypto.randomUUID();
    const sent = await publishWithReply("writes.users", command(id, "users", { name: "", email: "x" }));
    const reply = await sent.reply;
    assert.is(reply?.outcome, "failed");
    assert.match(reply?.detail as string, /moved to the dead-letter queue: invalid users data: /);
    const dead = await deadLetterOf(sent.seq);
    assert.match(dead.header.get("Jpw-Dlq-Reason"), /^invalid users data: /);
    assert.is(dead.header.get("Jpw-Operation-Id"), id);
    // Recorded before the reply was sent.
    assert.is((await getOperation(kv, id))?.outcome, "failed");
    assert.is((await sql`select count(*)::int as n from users where id = ${id}`)[0]!.n, 0);
  },
);

poison("a command on writes.users that claims another table is dead-lettered", async () => {
  const sent = await publishWithReply(
    "writes.users",
    command(crypto.randomUUID(), "orders", { userId: crypto.randomUUID(), items: [], total: "0" }),
  );
  assert.is((await sent.reply)?.outcome, "failed");
  const dead = await deadLetterOf(sent.seq);
  assert.match(dead.header.get("Jpw-Dlq-Reason"), /does not match the subject writes\.users/);
});

poison(
  "a poison command reusing a committed operation's id leaves that operation's record alone",
  async () => {
    const key = crypto.randomUUID();
    const created = await postJson(api, "/api/users", { name: "Kept", email: "kept@example.com" }, key);
    assert.is(created.status, 201);
    const sent = await publishWithReply("writes.users", command(key, "users", { name: 42 }));
    await sent.reply;
    await deadLetterOf(sent.seq);
    await settled("users-writer");
    const found = await lookupOutcome(sql, kv, key);
    assert.is(found?.kind, "row");
    assert.equal(found?.kind === "row" && found.result, created.body.user);
  },
);

poison.run();

const exhausted = suite("out of deliveries");

exhausted(
  "a write that keeps failing is retried, then dead-lettered at its last deliveries: the caller gets 500, never a success",
  async () => {
    const owner = await postJson(api, "/api/users", { name: "Buyer", email: "buyer@example.com" });
    assert.is(owner.status, 201);
    // Not a connection problem and not the row's fault: an operator's mistake, retried like any surprise.
    await sql`revoke insert on orders from jpw_writer`;
    try {
      const key = crypto.randomUUID();
      const r = await postJson(
        api,
        "/api/orders",
        {
          userId: owner.body.operationId,
          items: [{ productId: "p", quantity: 1, price: "1.00" }],
          total: "1.00",
        },
        key,
      );
      assert.is(r.status, 500);
      assert.is(r.body.type, "/problems/write-failed");
      assert.match(r.body.detail as string, /gave up after 2 deliveries: permission denied for table orders/);
      assert.is((await getOperation(kv, key))?.outcome, "failed");
      const dead = await jsm.streams.getMessage("WRITES_DLQ", { last_by_subj: "dlq.writes.orders" });
      assert.is(dead?.header.get("Jpw-Operation-Id"), key);
      assert.is(dead?.header.get("Jpw-Delivery-Count"), "2");
    } finally {
      await sql`grant insert on orders to jpw_writer`;
    }
    const later = await postJson(api, "/api/orders", {
      userId: owner.body.operationId,
      items: [{ productId: "p", quantity: 1, price: "1.00" }],
      total: "1.00",
    });
    assert.is(later.status, 201);
  },
);

exhausted.after(async () => {
  await stack[Symbol.asyncDispose]();
  await nc.close();
  await sql.end();
  await db.drop();
  await pg[Symbol.asyncDispose]();
  await nats[Symbol.asyncDispose]();
});

exhausted.run();
