// Every command ends somewhere visible, and a decision, once told, stands: decisions that are not
// commits are recorded and logged in WRITES before the reply; a redelivered command that was decided
// is answered the same way again; when the dead-letter queue or the outcome store refuses, commands
// are held (never naked toward max_deliver), readiness names why, and all complete after the fix.
import { type JetStreamManager, jetstream, jetstreamManager, type StoredMsg } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { createInbox, headers, nanos } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { type } from "arktype";
import postgres from "postgres";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { until } from "../infra/until.ts";
import { writeReplyPrefix } from "../shared/nats.ts";
import { getOperation } from "../shared/operations.ts";
import { operationView } from "../shared/outcome-http.ts";
import { lookupOutcome } from "../shared/outcome-lookup.ts";
import { type DecisionEvent, DecisionEvent as DecisionEventType } from "../shared/outcomes.ts";
import { startNats } from "../testing/nats.ts";
import { startPostgres } from "../testing/postgres.ts";
import { applyStreams } from "../testing/streams.ts";
import { postJson, startWritePath } from "../testing/write-path.ts";

const nats = await startNats({ own: true });
const pg = await startPostgres();
const db = await pg.createDatabase("decisions");
await applyStreams(nats.url);
const nc = await connect({ servers: nats.url, ...nats.auth(), maxReconnectAttempts: -1 });
const js = jetstream(nc);
const jsm: JetStreamManager = await jetstreamManager(nc);
// A killed consumer's messages come back quickly.
await jsm.consumers.update("WRITES", "orders-writer", { ack_wait: nanos(2000) });
const sql = postgres(db.url, { max: 2, onnotice: () => {} });
const stack = await startWritePath({
  natsUrl: nats.url,
  databaseUrl: db.urlAs("jpw_writer"),
  // An unknown user is decided at the first delivery; no history trimming under the tests' feet.
  consumerEnv: { CONSUMER_FK_RETRIES: "1", CONSUMER_RETRY_BASE_MS: "50", KEEPER_INTERVAL_MS: "3600000" },
  producerEnv: { WRITE_TIMEOUT_MS: "1500" },
});
const api = stack.producer.url;
const kv = (): Promise<KV> => new Kvm(nc).open("operations");

let n = 0;
const someone = () => {
  n++;
  return { name: `Decided ${n}`, email: `decided${n}.${process.pid}@example.com` };
};
const order = (userId: string) => ({
  userId,
  items: [{ productId: "p", quantity: 1, price: "1.00" }],
  total: "1.00",
});
const command = (operationId: string, table: string, data: unknown) =>
  JSON.stringify({ operationId, table, op: "create", data, requestedAt: new Date().toISOString() });

/** Every message of WRITES on `prefix`… subjects. */
async function messages(prefix: string): Promise<StoredMsg[]> {
  const { first_seq, last_seq } = (await jsm.streams.info("WRITES")).state;
  const out: StoredMsg[] = [];
  for (let seq = Math.max(1, first_seq); seq <= last_seq; seq++) {
    const m = await jsm.streams.getMessage("WRITES", { seq });
    if (m?.subject.startsWith(prefix)) out.push(m);
  }
  return out;
}

async function decisions(): Promise<DecisionEvent[]> {
  return (await messages("writes.outcomes.")).map((m) => {
    const e = DecisionEventType(m.json());
    if (e instanceof type.errors) throw new Error(`a decision event that does not parse: ${e.summary}`);
    return e;
  });
}

/** The sequences of the stored commands of `operationId` (what decisions name). */
async function commandsOf(operationId: string): Promise<number[]> {
  return (await messages("writes."))
    .filter((x) => !x.subject.startsWith("writes.outcomes."))
    .filter((x) => x.json<{ operationId: string }>().operationId === operationId)
    .map((x) => x.seq);
}

const consumerReady = async () =>
  (await (await fetch(`${stack.consumer.url}/readyz`)).json()) as {
    status: string;
    checks: Record<string, string>;
  };

const logged = suite("decisions are logged");

logged(
  "each decision that is not a commit is recorded and logged in WRITES before its reply; a commit writes neither",
  async () => {
    const owner = someone();
    const key = crypto.randomUUID();
    const before = (await decisions()).length;
    assert.is((await postJson(api, "/api/users", owner, key)).status, 201);
    assert.is((await decisions()).length, before, "a commit logs no decision");
    assert.is(await getOperation(await kv(), key), undefined, "nor records anything but its row");

    const taken = crypto.randomUUID();
    const reused = { ...owner, name: "Another payload" };
    const noUser = crypto.randomUUID();
    const answers = [
      ["email-taken", taken, await postJson(api, "/api/users", { name: "Other", email: owner.email }, taken)],
      ["key-reused", key, await postJson(api, "/api/users", reused, key)],
      ["user-not-found", noUser, await postJson(api, "/api/orders", order(crypto.randomUUID()), noUser)],
    ] as const;
    assert.equal(
      answers.map(([, , a]) => a.status),
      [409, 422, 422],
    );
    // Read at once, without waiting: both were written before the answer was sent.
    const events = await decisions();
    for (const [outcome, id] of answers) {
      const e = events.find((x) => x.operationId === id && x.outcome === outcome);
      assert.ok(e, `a ${outcome} decision event for ${id}`);
      // key-reused names the second command of its key, not the committed first one.
      const seqs = await commandsOf(id);
      assert.is(e!.commandSeq, seqs[seqs.length - 1]);
      assert.ok(e!.requestHash);
    }
    assert.is((await getOperation(await kv(), taken))?.outcome, "email-taken");
    assert.is((await getOperation(await kv(), noUser))?.outcome, "user-not-found");
    // key-reused is told to its request only: the key's record is still the committed row.
    assert.is((await lookupOutcome(sql, await kv(), key))?.kind, "row");

    // A command that does not parse is dead-lettered: `failed`, logged too.
    const poison = crypto.randomUUID();
    const ack = await js.publish("writes.users", command(poison, "users", { name: "" }));
    await until(
      async () => (await getOperation(await kv(), poison))?.outcome === "failed",
      10_000,
      "the failed record",
    );
    const failed = (await decisions()).find((e) => e.commandSeq === ack.seq);
    assert.is(failed?.outcome, "failed");
    assert.match(failed?.detail ?? "", /dead-letter queue: invalid users data/);
  },
);

logged.run();

const redelivered = suite("redelivery");

redelivered(
  "a redelivered command decided before is answered the same way again: user-not-found never turns into a commit",
  async () => {
    const userId = crypto.randomUUID();
    const id = crypto.randomUUID();
    const inbox = createInbox(writeReplyPrefix);
    const replies = nc.subscribe(inbox);
    // Room for the command, none for its decision event: the consumer records user-not-found, then
    // holds the command until WRITES takes the event.
    const info = await jsm.streams.info("WRITES");
    await jsm.streams.update("WRITES", { max_msgs: info.state.messages + 1 });
    const h = headers();
    h.set("Reply-To", inbox);
    const { seq } = await js.publish("writes.orders", command(id, "orders", order(userId)), { headers: h });
    await until(
      async () => (await getOperation(await kv(), id))?.outcome === "user-not-found",
      10_000,
      "the decision",
    );
    await until(
      async () => /WRITES refuses the decision event/.test((await consumerReady()).checks.writers ?? ""),
      10_000,
      "readiness to name the held event",
    );
    // The consumer dies before its ack; meanwhile the user appears.
    await stack.consumer.kill();
    await sql`insert into users (id, name, email) values (${userId}, 'Late', ${`late.${userId}@example.com`})`;
    await jsm.streams.update("WRITES", { max_msgs: -1 });
    await stack.restartConsumer();

    let reply: Record<string, unknown> | undefined;
    for await (const m of replies) {
      reply = m.json();
      break;
    }
    replies.unsubscribe();
    assert.equal(reply, { operationId: id, outcome: "user-not-found", detail: `there is no user ${userId}` });
    assert.is((await sql`select count(*)::int as n from orders where id = ${id}`)[0]!.n, 0);
    const events = (await decisions()).filter((e) => e.commandSeq === seq);
    assert.equal(
      events.map((e) => e.outcome),
      ["user-not-found"],
    );
    await until(
      async () => {
        const c = await jsm.consumers.info("WRITES", "orders-writer");
        return c.num_ack_pending === 0 && c.num_pending === 0;
      },
      10_000,
      "the command to be acked",
    );
  },
);

redelivered.run();

const held = suite("held");

held(
  "the DLQ refusing and the outcome store deleted: nothing is abandoned, readiness names both, and all complete after the fix",
  async () => {
    // A full WRITES_DLQ (discard: new) refuses every dead letter.
    await js.publish("dlq.writes.test", "make the DLQ non-empty");
    const dlq = await jsm.streams.info("WRITES_DLQ");
    await jsm.streams.update("WRITES_DLQ", { max_msgs: dlq.state.messages });
    await jsm.streams.delete("KV_operations");

    const poison = crypto.randomUUID();
    const poisoned = await js.publish("writes.users", command(poison, "users", { name: 42 }));
    const owner = someone();
    assert.is((await postJson(api, "/api/users", owner)).status, 201);
    const taken = crypto.randomUUID();
    const rejected = await postJson(api, "/api/users", { name: "Other", email: owner.email }, taken);
    assert.is(rejected.status, 202, "not decided in time: its record cannot be written");
    // Commits keep flowing meanwhile.
    assert.is((await postJson(api, "/api/users", someone())).status, 201);

    await until(
      async () => {
        const w = (await consumerReady()).checks.writers ?? "";
        return (
          /the dead-letter queue refuses/.test(w) && /operations bucket \(outcome records\) fails/.test(w)
        );
      },
      10_000,
      "readiness to name both causes",
    );
    const ready = await consumerReady();
    assert.is(ready.status, "not ready");
    assert.match(ready.checks.nats!, /kv bucket operations not found: run just streams apply/);
    const metrics = await (await fetch(`${stack.consumer.url}/metrics`)).text();
    assert.match(metrics, /jpw_consumer_held\{cause="dead-letter-queue",table="users"\} 1/);
    assert.match(metrics, /jpw_consumer_held\{cause="outcome-record",table="users"\} 1/);
    const users = await jsm.consumers.info("WRITES", "users-writer");
    assert.is(users.num_ack_pending, 2, "both are held, neither acked nor naked");
    assert.is(users.num_redelivered, 0);

    // The fix: room in the DLQ, the bucket back.
    await jsm.streams.update("WRITES_DLQ", { max_msgs: -1 });
    await applyStreams(nats.url);
    await until(
      async () => (await consumerReady()).status === "ready",
      20_000,
      "the consumer to be ready again",
    );
    const bucket = await kv();
    assert.is((await getOperation(bucket, poison))?.outcome, "failed");
    assert.is((await getOperation(bucket, taken))?.outcome, "email-taken");
    const found = await lookupOutcome(sql, bucket, taken);
    const view = found && operationView(taken, found);
    assert.equal(
      { status: view?.status, httpStatus: view?.httpStatus, type: view?.error?.type },
      { status: "rejected", httpStatus: 409, type: "/problems/email-taken" },
    );
    const dead = await jsm.streams.getMessage("WRITES_DLQ", { last_by_subj: "dlq.writes.users" });
    assert.is(dead?.header.get("Jpw-Original-Sequence"), String(poisoned.seq));
    assert.is(
      dead?.header.get("Jpw-Delivery-Count"),
      "1",
      "dead-lettered at its first delivery: never naked",
    );
    const events = await decisions();
    assert.ok(events.some((e) => e.commandSeq === poisoned.seq && e.outcome === "failed"));
    assert.ok(events.some((e) => e.operationId === taken && e.outcome === "email-taken"));
    const after = await jsm.consumers.info("WRITES", "users-writer");
    assert.is(after.num_ack_pending, 0);
  },
);

held.after(async () => {
  await stack[Symbol.asyncDispose]();
  await nc.close();
  await sql.end();
  await db.drop();
  await pg[Symbol.asyncDispose]();
  await nats[Symbol.asyncDispose]();
});

held.run();
