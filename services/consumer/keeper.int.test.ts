// The history keeper against a real nats-server: age and size only ever remove commands both
// writers acked; and, end to end, a stack whose every limit is tiny takes ten times its size in
// writes, each answered 201 and landed.
import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import postgres from "postgres";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createLogger } from "../shared/log.ts";
import { Registry } from "../shared/metrics.ts";
import { getOperation } from "../shared/operations.ts";
import { startNats } from "../testing/nats.ts";
import { startPostgres } from "../testing/postgres.ts";
import { applyStreams } from "../testing/streams.ts";
import { type Answer, postJson, startWritePath } from "../testing/write-path.ts";
import { HistoryKeeper } from "./keeper.ts";
import { consumerMetrics } from "./metrics.ts";

/** A time past streams.yaml's 7 days of history: every message counts as old. */
const later = () => Date.now() + 8 * 24 * 3_600_000;

const keeper = suite("the history keeper");
const nats = await startNats({ own: true });
let nc: NatsConnection;
let jsm: JetStreamManager;

keeper.before.each(async () => {
  await applyStreams(nats.url);
});

keeper.before(async () => {
  nc = await connect({ servers: nats.url, ...nats.auth() });
  jsm = await jetstreamManager(nc);
});

function keeperOf(): HistoryKeeper {
  const metrics = consumerMetrics(new Registry("jpw_consumer")).history;
  return new HistoryKeeper(async () => jsm, createLogger("consumer", "error"), metrics, {
    stream: "WRITES",
    consumers: ["users-writer", "orders-writer"],
    intervalMs: 1000,
  });
}

/** Publishes `n` commands on writes.<table>; resolves with their sequences. */
async function commands(table: "users" | "orders", n: number): Promise<number[]> {
  const js = jetstream(nc);
  const seqs: number[] = [];
  for (let i = 0; i < n; i++) {
    const body = JSON.stringify({
      operationId: crypto.randomUUID(),
      table,
      op: "create",
      data: {},
      requestedAt: "x",
    });
    seqs.push((await js.publish(`writes.${table}`, body)).seq);
  }
  return seqs;
}

/** Acks the next `n` messages of a writer consumer, as the writer would once they are applied. */
async function ack(consumer: string, n: number): Promise<void> {
  const c = await jetstream(nc).consumers.get("WRITES", consumer);
  let left = n;
  while (left > 0) {
    const batch = await c.fetch({ max_messages: left, expires: 2000 });
    for await (const m of batch) {
      await m.ackAck();
      left--;
    }
  }
}

const state = async () => (await jsm.streams.info("WRITES")).state;

keeper("nothing unapplied goes, however old or large the history limits say it is", async () => {
  await jsm.streams.purge("WRITES");
  await commands("users", 5);
  await commands("orders", 5);
  await jsm.streams.update("WRITES", {
    metadata: { "jpw.history.max_age": "1s", "jpw.history.max_bytes": "1" },
  });
  assert.is(await keeperOf().round(later()), undefined);
  assert.is((await state()).messages, 10);
});

keeper("applied history goes by age, only below what both writers acked", async () => {
  await jsm.streams.purge("WRITES");
  const users = await commands("users", 4);
  const orders = await commands("orders", 4);
  await ack("users-writer", 4);
  await ack("orders-writer", 2);
  const trim = await keeperOf().round(later());
  // Every user is applied, but orders-writer's floor is its second order: the third one and
  // everything after it stays, whatever its age.
  assert.equal(trim, { purged: users.length + 2, cut: orders[2]!, by: "age" });
  const s = await state();
  assert.is(s.first_seq, orders[2]);
  assert.is(s.messages, 2);
  // Within max_age nothing goes, applied or not.
  await ack("orders-writer", 2);
  assert.is(await keeperOf().round(Date.now()), undefined);
  assert.is((await state()).messages, 2);
});

keeper(
  "applied history goes by size down to jpw.history.max_bytes, and a writer with nothing pending counts as caught up",
  async () => {
    await jsm.streams.purge("WRITES");
    await commands("users", 10);
    await ack("users-writer", 10);
    // orders-writer has never seen a message: nothing pending, nothing unacked.
    const before = await state();
    const keep = Math.floor(before.bytes / 2);
    await jsm.streams.update("WRITES", {
      metadata: { "jpw.history.max_age": "7d", "jpw.history.max_bytes": String(keep) },
    });
    const trim = await keeperOf().round();
    assert.is(trim?.by, "size");
    const after = await state();
    assert.ok(after.bytes <= keep, `${after.bytes} bytes left, limit ${keep}`);
    assert.ok(after.messages >= 4 && after.messages < 10, `${after.messages} left`);
  },
);

keeper("without one of the writer consumers nothing is trimmed", async () => {
  await jsm.streams.purge("WRITES");
  await commands("users", 3);
  await ack("users-writer", 3);
  await jsm.consumers.delete("WRITES", "orders-writer");
  await keeperOf()
    .round(later())
    .then(
      () => assert.unreachable("the round must fail"),
      (err: Error) => assert.match(err.message, /consumer not found/),
    );
  assert.is((await state()).messages, 3);
});

keeper.after(async () => {
  await nc.close();
  await nats[Symbol.asyncDispose]();
});

keeper.run();

const tiny = suite("tiny limits");

/** A write path on its own server, streams.yaml applied with `env`. */
async function tinyStack(env: Record<string, string>) {
  const server = await startNats({ own: true });
  const pg = await startPostgres();
  const db = await pg.createDatabase("tiny");
  await applyStreams(server.url, undefined, env);
  const stack = await startWritePath({
    natsUrl: server.url,
    databaseUrl: db.urlAs("jpw_writer"),
    consumerEnv: { KEEPER_INTERVAL_MS: "100" },
  });
  const conn = await connect({ servers: server.url, ...server.auth() });
  const jsm = await jetstreamManager(conn);
  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  return {
    api: stack.producer.url,
    jsm,
    kv: () => new Kvm(conn).open("operations"),
    sql,
    db,
    /** What `stream` has stored in total: every sequence, at the size its messages have. */
    async stored(stream: string): Promise<number> {
      const st = (await jsm.streams.info(stream)).state;
      return st.messages ? st.last_seq * (st.bytes / st.messages) : 0;
    },
    async [Symbol.asyncDispose]() {
      await stack[Symbol.asyncDispose]();
      await sql.end();
      await conn.close();
      await db.drop();
      await pg[Symbol.asyncDispose]();
      await server[Symbol.asyncDispose]();
    },
  };
}

/** Sends `post(i)` from 16 clients until `enough()` holds (checked every 500 requests). */
async function flood(
  post: (i: number) => Promise<Answer>,
  enough: () => Promise<boolean>,
): Promise<Answer[]> {
  let n = 0;
  let done = false;
  const answers: Answer[] = [];
  const worker = async () => {
    while (!done) {
      const i = n++;
      if (i % 500 === 499) done = await enough();
      answers.push(await post(i));
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return answers;
}

const statusCounts = (answers: Answer[]) => {
  const counts = new Map<number, number>();
  for (const a of answers) counts.set(a.status, (counts.get(a.status) ?? 0) + 1);
  return [...counts];
};

tiny(
  "with WRITES and the operations bucket at a few hundred KiB, ten times that in writes all answer 201 and land",
  async () => {
    const limit = 300 * 1024;
    await using t = await tinyStack({
      JPW_WRITES_MAX_BYTES: String(limit),
      JPW_HISTORY_MAX_BYTES: String(limit / 4),
      JPW_OPERATIONS_MAX_BYTES: String(limit),
    });
    const answers = await flood(
      (i) => postJson(t.api, "/api/users", { name: `Tiny ${i}`, email: `tiny${i}@example.com` }),
      async () => (await t.stored("WRITES")) >= 10 * limit,
    );
    assert.ok((await t.stored("WRITES")) >= 10 * limit);
    assert.equal(statusCounts(answers), [[201, answers.length]]);
    const [rows] = await t.sql`select count(*)::int as n from users`;
    assert.is(rows!.n, answers.length);
    const info = await t.jsm.streams.info("WRITES");
    assert.ok(info.state.bytes <= limit);
    assert.ok(info.state.first_seq > 1, "history was trimmed");
  },
);

tiny(
  "a flood of rejections ten times the operations bucket's size is answered 409 throughout: the oldest records make room",
  async () => {
    const limit = 32 * 1024;
    await using t = await tinyStack({ JPW_OPERATIONS_MAX_BYTES: String(limit) });
    const taken = { name: "Taken", email: "taken@example.com" };
    assert.is((await postJson(t.api, "/api/users", taken)).status, 201);
    const answers = await flood(
      () => postJson(t.api, "/api/users", { ...taken, name: "Someone else" }),
      async () => (await t.stored("KV_operations")) >= 10 * limit,
    );
    assert.equal(statusCounts(answers), [[409, answers.length]]);
    const info = await t.jsm.streams.info("KV_operations");
    assert.ok(info.state.bytes <= limit);
    assert.ok(info.state.first_seq > 1, "old records were discarded");
    // The newest rejection is still readable; the oldest made room.
    const kv = await t.kv();
    const last = answers[answers.length - 1]!.body.operationId as string;
    assert.is((await getOperation(kv, last))?.outcome, "email-taken");
    assert.is(await getOperation(kv, answers[0]!.body.operationId as string), undefined);
  },
);

tiny.run();
