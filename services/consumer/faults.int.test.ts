// The write path under faults: the consumer stopped or killed, Postgres stopped mid-burst, the
// nats-server restarted, the stream full or missing. What must hold every time: no success is
// claimed for a write that is not committed, and every write that was accepted lands exactly once.

import { jetstreamManager } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { nanos } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import postgres from "postgres";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { until } from "../infra/until.ts";
import { getOperation } from "../shared/operations.ts";
import { operationView } from "../shared/outcome-http.ts";
import { lookupOutcome } from "../shared/outcome-lookup.ts";
import { isoTimestampFormat } from "../shared/timestamps.ts";
import { startNats } from "../testing/nats.ts";
import { startPostgres } from "../testing/postgres.ts";
import { applyStreams } from "../testing/streams.ts";
import { type Answer, postJson, startWritePath } from "../testing/write-path.ts";

const nats = await startNats({ own: true });
const pg = await startPostgres({ own: true });
const db = await pg.createDatabase("faults");
await applyStreams(nats.url);
const nc = await connect({
  servers: nats.url,
  ...nats.auth(),
  maxReconnectAttempts: -1,
  reconnectTimeWait: 200,
});
const jsm = await jetstreamManager(nc);
// A killed consumer's unacked messages come back after ack_wait: keep it short here.
await jsm.consumers.update("WRITES", "users-writer", { ack_wait: nanos(2000) });
const kv: KV = await new Kvm(nc).open("operations");
const sql = postgres(db.url, { max: 2, onnotice: () => {}, connect_timeout: 2 });
const stack = await startWritePath({
  natsUrl: nats.url,
  databaseUrl: db.urlAs("jpw_writer"),
  consumerEnv: { CONSUMER_RETRY_BASE_MS: "100", CONSUMER_RETRY_MAX_MS: "1000" },
  producerEnv: { WRITE_TIMEOUT_MS: "2000" },
});
const api = stack.producer.url;

interface Sent {
  key: string;
  email: string;
  answer: Answer;
}

let serial = 0;
/** `count` user creates with their own keys, `concurrency` at a time. */
function burst(count: number, concurrency = 16): { done: Promise<Sent[]> } {
  const tag = `${++serial}.${process.pid}`;
  const sent: Sent[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const key = crypto.randomUUID();
      const email = `b${tag}.${i}@example.com`;
      const answer = await postJson(api, "/api/users", { name: `Burst ${i}`, email }, key);
      sent.push({ key, email, answer });
    }
  };
  const done = Promise.all(Array.from({ length: concurrency }, worker)).then(() => sent);
  return { done };
}

/** What GET /api/operations/:id answers. */
const operation = async (id: string) => {
  const found = await lookupOutcome(sql, kv, id);
  return found && operationView(id, found);
};

const rowsOf = async (keys: string[]) =>
  new Map(
    (
      await sql`select id, to_char(created_at at time zone 'UTC', ${isoTimestampFormat}) as created_at
        from users where id = any(${keys}::uuid[])`
    ).map((r) => [r.id as string, r.created_at as string]),
  );

/**
 * Every answer was 201 or 202; each 201 carried the committed row (its createdAt is the stored one,
 * so it was not made up before a commit that later happened again); and eventually every write is
 * stored once and recorded as committed.
 */
async function assertAllLandOnce(sent: Sent[]): Promise<void> {
  for (const s of sent)
    assert.ok([201, 202].includes(s.answer.status), `${s.key} answered ${s.answer.status}`);
  const keys = sent.map((s) => s.key);
  await until(
    async () => (await rowsOf(keys)).size === keys.length,
    60_000,
    `all ${keys.length} writes to land`,
  );
  const rows = await rowsOf(keys);
  for (const s of sent.filter((x) => x.answer.status === 201)) {
    assert.is((s.answer.body.user as { createdAt: string }).createdAt, rows.get(s.key), `${s.key}'s 201 row`);
  }
  const emails =
    await sql`select count(*)::int as n from users where email = any(${sent.map((s) => s.email)})`;
  assert.is(emails[0]!.n, sent.length, "one row per write");
  await until(
    async () => {
      for (const k of keys) if ((await operation(k))?.status !== "committed") return false;
      return true;
    },
    30_000,
    "every operation to read committed",
  );
}

const consumerDown = suite("the consumer stops");

consumerDown(
  "while the consumer is stopped a write is 202 with its operation, and lands committed when it is back",
  async () => {
    assert.is(await stack.consumer.stop(), 0);
    const key = crypto.randomUUID();
    const body = { name: "Patient", email: "patient@example.com" };
    const r = await postJson(api, "/api/users", body, key);
    assert.is(r.status, 202);
    assert.is(r.headers.get("location"), `/api/operations/${key}`);
    assert.equal(r.body, { operationId: key, status: "accepted" });
    assert.is((await getOperation(kv, key))?.outcome, "accepted");
    assert.is((await operation(key))?.status, "accepted");
    await stack.restartConsumer();
    await until(async () => (await operation(key))?.status === "committed", 20_000, "the write to commit");
    const op = await operation(key);
    assert.is(op?.httpStatus, 201);
    assert.is((op?.result as { email: string } | undefined)?.email, body.email);
    // The client's retry now gets the committed user.
    const again = await postJson(api, "/api/users", body, key);
    assert.is(again.status, 200);
    assert.equal(again.body.user, op?.result);
  },
);

consumerDown(
  "SIGTERM during a burst: the consumer settles what it took, exits 0, and every write lands once",
  async () => {
    const b = burst(500);
    await until(
      async () => (await sql`select count(*)::int as n from users`)[0]!.n > 20,
      20_000,
      "a few commits",
    );
    assert.is(await stack.consumer.stop(), 0);
    await stack.restartConsumer();
    await assertAllLandOnce(await b.done);
  },
);

consumerDown("SIGKILL mid-batch: nothing is lost and nothing is applied twice", async () => {
  const before = (await sql`select count(*)::int as n from users`)[0]!.n as number;
  const b = burst(500);
  await until(
    async () => (await sql`select count(*)::int as n from users`)[0]!.n > before + 50,
    20_000,
    "a few commits",
  );
  await stack.consumer.kill();
  await stack.restartConsumer();
  await assertAllLandOnce(await b.done);
});

consumerDown.run();

const postgresDown = suite("Postgres stops");

postgresDown(
  "Postgres stopped during a burst: no 201 for anything uncommitted, and every accepted write lands after it returns",
  async () => {
    const before = (await sql`select count(*)::int as n from users`)[0]!.n as number;
    const replayed = { name: "Replayed", email: "replayed@example.com" };
    const replayKey = crypto.randomUUID();
    assert.is((await postJson(api, "/api/users", replayed, replayKey)).status, 201);
    const b = burst(500);
    await until(
      async () => (await sql`select count(*)::int as n from users`)[0]!.n > before + 20,
      20_000,
      "a few commits",
    );
    await pg.stop();
    // A deduplicated retry is answered from the row: without Postgres it is 202, and the
    // producer stays ready (Postgres is not its dependency for new writes).
    const replay = await postJson(api, "/api/users", replayed, replayKey);
    assert.is(replay.status, 202);
    assert.is((await fetch(`${api}/readyz`)).status, 200);
    // While it is down writes are still accepted (202), and readiness names the culprit.
    const during = await postJson(api, "/api/users", { name: "Waiting", email: "waiting@example.com" });
    assert.is(during.status, 202);
    const ready = await fetch(`${stack.consumer.url}/readyz`);
    assert.is(ready.status, 503);
    assert.match(
      ((await ready.json()) as { checks: { postgres: string } }).checks.postgres,
      /cannot query Postgres/,
    );
    await pg.start();
    await assertAllLandOnce([
      ...(await b.done),
      { key: during.body.operationId as string, email: "waiting@example.com", answer: during },
    ]);
  },
);

postgresDown.run();

const natsDown = suite("NATS stops");

natsDown(
  "with NATS down a write is refused at once with 503 and Retry-After, and nothing is written",
  async () => {
    await nats.stop();
    try {
      const key = crypto.randomUUID();
      const r = await postJson(api, "/api/users", { name: "Refused", email: "refused@example.com" }, key);
      assert.is(r.status, 503);
      assert.is(r.headers.get("retry-after"), "1");
      assert.is(r.body.operationId, key);
      assert.match(r.body.detail as string, /Idempotency-Key/);
      assert.is((await sql`select count(*)::int as n from users where id = ${key}`)[0]!.n, 0);
      assert.is((await fetch(`${api}/readyz`)).status, 503);
    } finally {
      await nats.start();
    }
  },
);

natsDown("after a nats-server restart producer and consumer recover by themselves", async () => {
  await nats.restart();
  // The first writes after the restart may be 202 while the consumer re-pulls; soon they are 201.
  const landed: string[] = [];
  await until(
    async () => {
      const key = crypto.randomUUID();
      const r = await postJson(api, "/api/users", { name: "Back", email: `back.${key}@example.com` }, key);
      if (r.status === 202 || r.status === 201) landed.push(key);
      return r.status === 201;
    },
    30_000,
    "a write to be answered 201 again",
  );
  await until(
    async () => (await rowsOf(landed)).size === landed.length,
    30_000,
    "every accepted write to land",
  );
});

natsDown(
  "a full WRITES stream refuses writes with 503 instead of dropping any, and takes them again once there is room",
  async () => {
    const info = await jsm.streams.info("WRITES");
    await jsm.streams.update("WRITES", { max_bytes: info.state.bytes });
    try {
      const key = crypto.randomUUID();
      const r = await postJson(api, "/api/users", { name: "Full", email: "full@example.com" }, key);
      assert.is(r.status, 503);
      assert.match(r.body.detail as string, /JetStream refused it \(.*maximum bytes/i);
      assert.ok(r.headers.get("retry-after"));
      assert.is(await getOperation(kv, key), undefined);
    } finally {
      await jsm.streams.update("WRITES", { max_bytes: info.config.max_bytes });
    }
    const r = await postJson(api, "/api/users", { name: "Room", email: "room@example.com" });
    assert.is(r.status, 201);
  },
);

natsDown(
  "without the WRITES stream a write is 503 and readiness says to apply the streams; applying them heals both services",
  async () => {
    await jsm.streams.delete("WRITES");
    const r = await postJson(api, "/api/users", { name: "Nowhere", email: "nowhere@example.com" });
    assert.is(r.status, 503);
    assert.match(r.body.detail as string, /stream WRITES not found: run just streams apply/);
    const ready = (await (await fetch(`${api}/readyz`)).json()) as { checks: { nats: string } };
    assert.is(ready.checks.nats, "stream WRITES not found: run just streams apply");
    const consumerReady = (await (await fetch(`${stack.consumer.url}/readyz`)).json()) as { status: string };
    assert.is(consumerReady.status, "not ready");
    await applyStreams(nats.url);
    await until(
      async () => (await fetch(`${stack.consumer.url}/readyz`)).ok,
      30_000,
      "the consumer to re-attach",
    );
    const after = await postJson(api, "/api/users", { name: "Healed", email: "healed@example.com" });
    assert.is(after.status, 201);
  },
);

natsDown.after(async () => {
  await stack[Symbol.asyncDispose]();
  await nc.close();
  await sql.end();
  await db.drop();
  await pg[Symbol.asyncDispose]();
  await nats[Symbol.asyncDispose]();
});

natsDown.run();
