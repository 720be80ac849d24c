// What a 503 promises. A publish JetStream refused was not stored: 503 unavailable, and it never
// lands. A publish whose acknowledgement never came may have been stored: 503 outcome-unknown,
// naming the key to retry with, and a retry with it answers the one write that was applied (the
// checker found writes answered 503 "not accepted" and applied later, issue 12).
import { jetstreamManager } from "@nats-io/jetstream";
import postgres from "postgres";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { until } from "../infra/until.ts";
import { startNats } from "../testing/nats.ts";
import { startPostgres } from "../testing/postgres.ts";
import { applyStreams } from "../testing/streams.ts";
import { startTcpProxy } from "../testing/tcp-proxy.ts";
import { postJson, startWritePath } from "../testing/write-path.ts";

const nats = await startNats({ own: true });
const pg = await startPostgres();
const db = await pg.createDatabase("publish");
await applyStreams(nats.url);
const sql = postgres(db.url, { max: 2, onnotice: () => {} });
// The producer reaches NATS through a proxy the test can black-hole; the consumer directly.
const link = await startTcpProxy({ target: { port: Number(new URL(nats.url).port) } });
const stack = await startWritePath({
  natsUrl: nats.url,
  databaseUrl: db.urlAs("jpw_writer"),
  // The backlog is read once and trusted: a black-holed link must not stop a write before its publish.
  producerEnv: {
    NATS_URL: `nats://127.0.0.1:${link.port}`,
    WRITE_TIMEOUT_MS: "1500",
    BACKLOG_REFRESH_MS: "3600000",
  },
});
const api = stack.producer.url;
let n = 0;
const someone = () => ({ name: `Person ${++n}`, email: `publish${n}.${process.pid}@example.com` });
const rowsWith = async (email: string) =>
  (await sql`select count(*)::int as n from users where email = ${email}`)[0]!.n as number;

const test = suite("a 503 says what the producer knows");

test.before(async () => {
  // The first write reads the writers' backlog, which the producer then keeps.
  assert.is((await postJson(api, "/api/users", someone())).status, 201);
});

test("a publish whose acknowledgement never comes is 503 outcome-unknown naming the key; the retry answers the write applied once", async () => {
  const key = crypto.randomUUID();
  const body = someone();
  link.setMode({ kind: "blackhole" });
  const r = await postJson(api, "/api/users", body, key);
  assert.is(r.status, 503);
  assert.is(r.headers.get("content-type"), "application/problem+json");
  assert.is(r.body.type, "/problems/outcome-unknown");
  assert.is(r.body.operationId, key);
  assert.ok(Number(r.headers.get("retry-after")) >= 1);
  assert.match(r.body.detail as string, /may or may not have been accepted/);
  assert.ok((r.body.detail as string).includes(`Idempotency-Key: ${key}`));
  // Healed, the held publish reaches the server: it was accepted after all, and lands.
  link.setMode({ kind: "pass" });
  await until(async () => (await rowsWith(body.email)) === 1, 20_000, "the write to land");
  const retry = await until(
    async () => {
      const x = await postJson(api, "/api/users", body, key);
      return x.status === 503 ? undefined : x;
    },
    20_000,
    "the retry to be answered",
  );
  assert.is(retry.status, 200);
  assert.is(retry.headers.get("idempotent-replayed"), "true");
  assert.is((retry.body.user as { email: string }).email, body.email);
  assert.is(await rowsWith(body.email), 1, "one row: the retry did not write it twice");
});

test("without a key, the outcome-unknown answer names the id the producer chose, and a retry with it is answered", async () => {
  const body = someone();
  link.setMode({ kind: "blackhole" });
  const r = await postJson(api, "/api/users", body);
  link.setMode({ kind: "pass" });
  assert.is(r.status, 503);
  assert.is(r.body.type, "/problems/outcome-unknown");
  const id = r.body.operationId as string;
  assert.match(id, /^[0-9a-f-]{36}$/);
  const retry = await until(
    async () => {
      const x = await postJson(api, "/api/users", body, id);
      return x.status === 503 ? undefined : x;
    },
    20_000,
    "the retry to be answered",
  );
  assert.ok(retry.status === 200 || retry.status === 201, `answered ${retry.status}`);
  assert.is(retry.body.operationId, id);
  assert.is(await rowsWith(body.email), 1);
});

test("a publish JetStream refuses is 503 unavailable, and nothing lands", async () => {
  const nc = await nats.connect();
  const jsm = await jetstreamManager(nc);
  const writes = await jsm.streams.info("WRITES");
  // A full command log refuses new commands (discard: new) with an error PubAck.
  await jsm.streams.update("WRITES", { ...writes.config, max_msgs: Math.max(1, writes.state.messages) });
  try {
    const body = someone();
    const r = await postJson(api, "/api/users", body, crypto.randomUUID());
    assert.is(r.status, 503);
    assert.is(r.body.type, "/problems/unavailable");
    assert.match(r.body.detail as string, /not accepted: JetStream refused it/, JSON.stringify(r.body));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.is(await rowsWith(body.email), 0);
  } finally {
    await jsm.streams.update("WRITES", writes.config);
    await nc.close();
  }
});

test.after(async () => {
  await stack[Symbol.asyncDispose]();
  await link.close();
  await sql.end();
  await db.drop();
  await pg[Symbol.asyncDispose]();
  await nats[Symbol.asyncDispose]();
});

test.run();
