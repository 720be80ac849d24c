// NATS permissions against a real nats-server configured like every stack (nats-auth.ts): each
// service's user can do its work and is denied the rest; no user reads another's replies; the
// consumer answers only the producer's reply prefix, and a hand-published command with any other
// Reply-To is applied without an answer.
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import postgres from "postgres";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { cdcStream } from "../shared/cdc.ts";
import { inboxPrefixOf, writeReplyPrefix } from "../shared/nats.ts";
import { dlqStream, writesStream } from "../shared/writes.ts";
import { startNats } from "../testing/nats.ts";
import { startPostgres } from "../testing/postgres.ts";
import { applyStreams } from "../testing/streams.ts";
import { startWritePath } from "../testing/write-path.ts";
import type { NatsUser } from "./secrets.ts";
import { until } from "./until.ts";

const nats = await startNats({ own: true });
await applyStreams(nats.url);
const admin = await nats.connect();
const adminJsm = await jetstreamManager(admin);
const connections: NatsConnection[] = [admin];
const pg = await startPostgres();
const db = await pg.createDatabase("nats_auth");
const sql = postgres(db.url, { max: 1, onnotice: () => {} });
const stack = await startWritePath({ natsUrl: nats.url, databaseUrl: db.urlAs("jpw_writer") });
const as = async (user: NatsUser) => {
  const nc = await nats.connect(user);
  connections.push(nc);
  return nc;
};

/** The operation is refused by the server as a permissions violation, and the server logs it. */
async function denied(what: string, op: () => Promise<unknown>): Promise<void> {
  const before = nats.violations().length;
  let error: Error | undefined;
  try {
    await op();
  } catch (err) {
    error = err as Error;
  }
  assert.ok(error, `${what}: expected a permissions violation, it succeeded`);
  const text = `${error.message} ${(error.cause as Error | undefined)?.message ?? ""}`;
  assert.match(text, /Permissions Violation/, `${what}: ${text}`);
  await until(async () => nats.violations().length > before, 2000, `the server to log ${what}`);
}

/** A subscription the server refuses closes with a permissions error. */
async function subscribeDenied(nc: NatsConnection, subject: string): Promise<void> {
  const sub = nc.subscribe(subject);
  const closed = await Promise.race([sub.closed, new Promise((r) => setTimeout(() => r("open"), 3000))]);
  assert.instance(closed, Error, `subscribing to ${subject} was allowed`);
  assert.match((closed as Error).message, /Permissions Violation for Subscription/);
}

const publishJs = (nc: NatsConnection, subject: string) =>
  jetstream(nc).publish(subject, "{}", { timeout: 2000 });
const lastSeq = async (stream: string) => (await adminJsm.streams.info(stream)).state.last_seq;

const users = suite("each user may do its work and nothing else");

users("no one connects without the password, or with a wrong one", async () => {
  for (const auth of [
    {},
    { user: "producer", pass: "wrong" },
    { user: "admin", pass: nats.auth("reader").pass },
  ]) {
    const err = await connect({ servers: nats.url, ...auth, maxReconnectAttempts: 0 }).then(
      (nc) => nc.close().then(() => undefined),
      (e: Error) => e,
    );
    assert.ok(err, `connected with ${JSON.stringify(auth)}`);
    assert.match(err.message, /Authorization Violation/);
  }
});

users(
  "the producer publishes commands; it cannot delete or purge a stream, nor publish CDC events or decisions",
  async () => {
    const nc = await as("producer");
    const ack = await publishJs(nc, "writes.users");
    assert.is(ack.stream, writesStream);
    const jsm = await jetstreamManager(nc);
    await denied("deleting WRITES", () => jsm.streams.delete(writesStream));
    await denied("purging WRITES", () => jsm.streams.purge(writesStream));
    await denied("deleting a writer", () => jsm.consumers.delete(writesStream, "users-writer"));
    const cdc = await lastSeq(cdcStream);
    await denied("publishing on cdc.>", () => publishJs(nc, "cdc.public.users"));
    await denied("publishing a decision", () => publishJs(nc, "writes.outcomes.users"));
    await denied("publishing a dead letter", () => publishJs(nc, "dlq.writes.users"));
    assert.is(await lastSeq(cdcStream), cdc, "nothing reached CDC");
    assert.ok((await adminJsm.streams.info(writesStream)).state.messages >= 1, "WRITES is intact");
  },
);

users("the reader pulls CDC and reads streams; it cannot publish writes nor change any stream", async () => {
  const nc = await as("reader");
  const jsm = await jetstreamManager(nc);
  assert.ok((await jsm.streams.info(cdcStream)).config.name === cdcStream);
  const names: string[] = [];
  for await (const s of jsm.streams.list()) names.push(s.config.name);
  assert.ok(names.includes(writesStream), "the system panel lists streams");
  await denied("publishing writes.users", () => publishJs(nc, "writes.users"));
  await denied("deleting CDC", () => jsm.streams.delete(cdcStream));
  await denied("creating a consumer", () =>
    jsm.consumers.add(writesStream, { durable_name: "spy", filter_subject: "writes.users" }),
  );
});

users("Debezium publishes cdc.> and nothing else", async () => {
  // Its sink (jnats) keeps the default inbox prefix, as Debezium Server does.
  const nc = await nats.connect("debezium", { inboxPrefix: "_INBOX" });
  connections.push(nc);
  const ack = await publishJs(nc, "cdc.public.users");
  assert.is(ack.stream, cdcStream);
  const writes = await lastSeq(writesStream);
  await denied("publishing writes.users", () => publishJs(nc, "writes.users"));
  await denied("reading stream info", () =>
    nc.request("$JS.API.STREAM.INFO.WRITES", undefined, { timeout: 2000 }),
  );
  assert.is(await lastSeq(writesStream), writes);
});

users(
  "the consumer answers only under the reply prefix: it cannot publish to _INBOX.> or writes.users",
  async () => {
    const nc = await as("consumer");
    nc.publish(`${writeReplyPrefix}.x.1`, "{}");
    await nc.flush();
    await denied("a request on _INBOX.>", () => nc.request("_INBOX.elsewhere.1", "{}", { timeout: 2000 }));
    await denied("publishing writes.users", () => publishJs(nc, "writes.users"));
    await denied("deleting the DLQ", async () => (await jetstreamManager(nc)).streams.delete(dlqStream));
  },
);

users("no user subscribes to another's replies", async () => {
  await subscribeDenied(await as("reader"), `${inboxPrefixOf("producer")}.>`);
  await subscribeDenied(await as("reader"), `${writeReplyPrefix}.>`);
  await subscribeDenied(await as("reader"), `${inboxPrefixOf("consumer")}.>`);
  await subscribeDenied(await as("consumer"), "_INBOX.>");
  await subscribeDenied(await as("producer"), "cdc.>");
});

const replies = suite("the consumer answers the producer's reply prefix only");

/** A create-user command published by hand (as `nats pub` would) with the given Reply-To. */
async function handPublished(
  replyTo: string,
): Promise<{ id: string; answered: Promise<string | undefined> }> {
  const id = crypto.randomUUID();
  const sub = admin.subscribe(replyTo, { max: 1 });
  const answered = (async () => {
    const timer = setTimeout(() => sub.unsubscribe(), 3000);
    for await (const m of sub) {
      clearTimeout(timer);
      return m.string();
    }
    return undefined;
  })();
  const h = headers();
  h.set("Nats-Msg-Id", id);
  h.set("Reply-To", replyTo);
  const body = {
    operationId: id,
    table: "users",
    op: "create",
    data: { name: "By Hand", email: `${id}@example.com` },
    requestedAt: new Date().toISOString(),
  };
  await jetstream(admin).publish("writes.users", JSON.stringify(body), { headers: h });
  return { id, answered };
}

const applied = (id: string) =>
  until(async () => (await sql`select 1 from users where id = ${id}`).length === 1, 10_000, `user ${id}`);

replies("a Reply-To outside the prefix is applied, not answered, and logged", async () => {
  const { id, answered } = await handPublished("_INBOX.someone-else.1");
  await applied(id);
  assert.is(await answered, undefined, "no reply was published there");
  await until(
    async () =>
      stack.consumer
        .logs()
        .some((l) => /outside the producer's reply prefix/.test(String(l.msg)) && l.operationId === id),
    5000,
    "the consumer to log the refused Reply-To",
  );
  assert.equal(
    // The service itself (its connection is named jpw-consumer) never tried to publish there.
    nats.violations().filter((l) => /jpw-consumer/.test(l)),
    [],
    "it did not even try",
  );
});

replies("a Reply-To under the prefix is answered after the commit", async () => {
  const { id, answered } = await handPublished(`${writeReplyPrefix}.test.1`);
  const reply = JSON.parse((await answered) ?? "null") as { operationId?: string } | null;
  assert.is(reply?.operationId, id);
  await applied(id);
});

replies.after(async () => {
  await stack[Symbol.asyncDispose]();
  await sql.end();
  await db.drop();
  await pg[Symbol.asyncDispose]();
  for (const nc of connections) await nc.close().catch(() => {});
  await nats[Symbol.asyncDispose]();
});

users.run();
replies.run();
