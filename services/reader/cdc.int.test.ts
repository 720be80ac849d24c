// Invalidation end to end with a real Debezium Server: Postgres WAL → Debezium → JetStream CDC →
// the reader's cache-invalidator → Redis. One Debezium for the whole file (its JVM start is the slow part).
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import postgres from "postgres";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { until } from "../infra/until.ts";
import type { InvalidationEvent } from "../shared/invalidation.ts";
import { createLogger } from "../shared/log.ts";
import { serve } from "../shared/runtime.ts";
import { startDebezium } from "../testing/debezium.ts";
import { startNats } from "../testing/nats.ts";
import { startPostgres } from "../testing/postgres.ts";
import { startRedis } from "../testing/redis.ts";
import { applyStreams } from "../testing/streams.ts";
import { createReader } from "./app.ts";
import { connectRedis } from "./redis.ts";
import { insertOrder, insertUser, read, readOnceRedisIsBack } from "./test-kit.ts";

const nats = await startNats({ own: true });
await applyStreams(nats.url);
// Our own cluster: logical WAL and replication slots are needed, and it is stopped by no one else.
const pg = await startPostgres({ own: true });
const redisServer = await startRedis({ own: true });
const db = await pg.createDatabase("cdc");
const debezium = await startDebezium({ natsUrl: nats.url, db });
console.log(`debezium streaming after ${debezium.lastStartMs} ms (cold start)`);

const sql = postgres(db.url, { max: 2, onnotice: () => {} });
const readerSql = postgres(db.urlAs("jpw_reader"), { max: 4, onnotice: () => {} });
const redis = connectRedis(redisServer.url, { commandTimeoutMs: 250 });
const nc = await connect({ servers: nats.url, ...nats.auth() });

// The race test pauses fills here.
let pauseFill: ((variant: string) => Promise<void>) | undefined;
const reader = await createReader({
  sql: readerSql,
  redis,
  nc,
  log: createLogger("reader", "error"),
  invalidationRetryMs: 200,
  hooks: { beforeFill: async (_scope, variant) => pauseFill?.(variant) },
});
const server = await serve(reader.handler, { port: 0, hostname: "127.0.0.1" });
const base = server.url;
const events: InvalidationEvent[] = [];
reader.feed.listen((e) => events.push(e));

/** Resolves with the first applied invalidation (from now on) that matches. */
function invalidation(what: string, pred: (e: InvalidationEvent) => boolean, timeoutMs = 30_000) {
  const from = events.length;
  return until(() => events.slice(from).find(pred), timeoutMs, what);
}

/**
 * Reads until the path is served from the cache. Setup, not the assertion: on a loaded machine a
 * fill can miss Redis's 250 ms command timeout, and the next read fills it again.
 */
async function prime(path: string) {
  let last: Awaited<ReturnType<typeof read>> | undefined;
  await until(
    async () => {
      last = await read(base, path);
      return last.cache === "hit";
    },
    10_000,
    `${path} to be cached`,
  );
  return last!;
}

const cdc = suite("invalidation through Debezium");

cdc(
  "a user inserted through SQL (as the consumer writes it) shows on the next read of the list, a miss",
  async () => {
    await prime("/api/users");
    const seen = invalidation("the insert", (e) => e.op === "c" && e.table === "users");
    const id = await insertUser(sql, "Ada");
    const e = await seen;
    assert.equal(e.ids, [id]);
    assert.ok(e.scopes.includes("users"));
    assert.ok(e.scopes.includes(`user:${id}`));
    assert.type(e.latencyMs, "number");
    const list = await read(base, "/api/users");
    assert.is(list.cache, "miss");
    assert.is(list.body.items?.[0]?.id, id);
  },
);

cdc(
  "a manual UPDATE invalidates the user and the users list: the next GET is a miss with the new name",
  async () => {
    const id = await insertUser(sql, "Grace");
    await invalidation("the insert", (e) => e.ids.includes(id));
    await prime(`/api/users/${id}`);
    await prime("/api/users");
    const seen = invalidation("the update", (e) => e.op === "u" && e.ids.includes(id));
    await sql`update users set name = 'Grace Hopper' where id = ${id}`;
    await seen;
    const user = await read(base, `/api/users/${id}`);
    assert.is(user.cache, "miss");
    assert.is(user.body.name, "Grace Hopper");
    const list = await read(base, "/api/users");
    assert.is(list.cache, "miss");
    assert.ok(list.body.items?.some((u) => u.id === id && u.name === "Grace Hopper"));
  },
);

cdc("an order moved to another user invalidates both users' order lists and the order", async () => {
  const alice = await insertUser(sql, "Alice");
  const bob = await insertUser(sql, "Bob");
  const order = await insertOrder(sql, alice, "42.00");
  await invalidation("the order insert", (e) => e.ids.includes(order));
  const before = await prime(`/api/users/${alice}/orders`);
  assert.is(before.body.items?.[0]?.id, order);
  assert.is((await prime(`/api/users/${bob}/orders`)).body.items?.length, 0);
  await prime(`/api/orders/${order}`);
  await prime("/api/orders");
  const seen = invalidation("the move", (e) => e.op === "u" && e.ids.includes(order));
  await sql`update orders set user_id = ${bob} where id = ${order}`;
  const e = await seen;
  assert.ok(e.scopes.includes(`user-orders:${alice}`), "old owner's list");
  assert.ok(e.scopes.includes(`user-orders:${bob}`), "new owner's list");
  const aliceNow = await read(base, `/api/users/${alice}/orders`);
  assert.is(aliceNow.cache, "miss");
  assert.is(aliceNow.body.items?.length, 0);
  const bobNow = await read(base, `/api/users/${bob}/orders`);
  assert.is(bobNow.cache, "miss");
  assert.is(bobNow.body.items?.[0]?.id, order);
  const o = await read(base, `/api/orders/${order}`);
  assert.is(o.cache, "miss");
  assert.is(o.body.userId, bob);
  assert.is(o.body.total, "42.00");
  assert.is((await read(base, "/api/orders")).cache, "miss");
});

cdc("a manual DELETE invalidates the row: the next GET is a 404", async () => {
  const id = await insertUser(sql, "Temp");
  await invalidation("the insert", (e) => e.ids.includes(id));
  await prime(`/api/users/${id}`);
  const seen = invalidation("the delete", (e) => e.op === "d" && e.ids.includes(id));
  await sql`delete from users where id = ${id}`;
  await seen;
  const gone = await read(base, `/api/users/${id}`);
  assert.is(gone.status, 404);
  assert.is(gone.cache, "miss");
});

cdc("a fill that raced with an invalidation leaves no stale entry behind", async () => {
  const id = await insertUser(sql, "Racer");
  await invalidation("the insert", (e) => e.ids.includes(id));
  // The read misses, gets "Racer" from Postgres, and stops before writing it to Redis.
  let reachedFill!: () => void;
  const atFill = new Promise<void>((r) => {
    reachedFill = r;
  });
  let releaseFill!: () => void;
  const released = new Promise<void>((r) => {
    releaseFill = r;
  });
  pauseFill = async () => {
    pauseFill = undefined;
    reachedFill();
    await released;
  };
  const racing = read(base, `/api/users/${id}`);
  await atFill;
  // Meanwhile the row changes and its invalidation is applied, before the old value is filled.
  const seen = invalidation("the update", (e) => e.op === "u" && e.ids.includes(id));
  await sql`update users set name = 'Racer 2' where id = ${id}`;
  await seen;
  releaseFill();
  const raced = await racing;
  assert.is(raced.body.name, "Racer", "the racing read answers what it read");
  // No data key of this user holds the old name, and the next read is a miss with the new one.
  const keys = await redis.keys(reader.keys.dataKeyPattern({ kind: "user", id }));
  for (const k of keys) assert.not.match((await redis.get(k)) ?? "", /"Racer"/, `stale entry at ${k}`);
  const next = await read(base, `/api/users/${id}`);
  assert.is(next.cache, "miss");
  assert.is(next.body.name, "Racer 2");
  assert.is((await read(base, `/api/users/${id}`)).cache, "hit");
});

cdc("TRUNCATE invalidates every cached key of the truncated tables", async () => {
  const u = await insertUser(sql, "Doomed");
  const o = await insertOrder(sql, u, "1.00");
  await invalidation("the order", (e) => e.ids.includes(o));
  await prime(`/api/users/${u}`);
  await prime(`/api/orders/${o}`);
  await prime(`/api/users/${u}/orders`);
  await prime("/api/users?limit=5");
  await prime("/api/orders?limit=5");
  const users = invalidation("users truncated", (e) => e.op === "t" && e.table === "users");
  const orders = invalidation("orders truncated", (e) => e.op === "t" && e.table === "orders");
  await sql`truncate users, orders`;
  assert.equal((await users).scopes, ["table:users"]);
  assert.equal((await orders).scopes, ["table:orders"]);
  for (const path of [`/api/users/${u}`, `/api/orders/${o}`, `/api/users/${u}/orders`]) {
    const r = await read(base, path);
    assert.is(r.status, 404, path);
    assert.is(r.cache, "miss", path);
  }
  for (const path of ["/api/users?limit=5", "/api/orders?limit=5"]) {
    const r = await read(base, path);
    assert.is(r.cache, "miss", path);
    assert.equal(r.body.items, [], path);
  }
});

cdc("a malformed event published by hand on cdc.public.users does not stop invalidation", async () => {
  const js = jetstream(nc);
  const id = await insertUser(sql, "Robust");
  await invalidation("the insert", (e) => e.ids.includes(id));
  await prime(`/api/users/${id}`);
  const whole = invalidation("the malformed event", (e) => e.op === "malformed");
  await js.publish("cdc.public.users", "garbage {");
  assert.equal((await whole).scopes, ["table:users"]);
  await prime(`/api/users/${id}`);
  const seen = invalidation("the next real update", (e) => e.op === "u" && e.ids.includes(id));
  await sql`update users set name = 'Robust 2' where id = ${id}`;
  await seen;
  const after = await read(base, `/api/users/${id}`);
  assert.is(after.cache, "miss");
  assert.is(after.body.name, "Robust 2");
});

cdc("changes made while Debezium is stopped are all invalidated once it runs again", async () => {
  const a = await insertUser(sql, "Kept");
  const b = await insertUser(sql, "Removed");
  await invalidation("the inserts", (e) => e.ids.includes(b));
  await prime(`/api/users/${a}`);
  await prime(`/api/users/${b}`);
  await prime("/api/users?limit=100");
  await debezium.stop();
  await sql`update users set name = 'Kept 2' where id = ${a}`;
  await sql`delete from users where id = ${b}`;
  const c = await insertUser(sql, "Added");
  // Nothing invalidates while Debezium is down: the cache still answers the old state.
  assert.is((await read(base, `/api/users/${a}`)).body.name, "Kept");
  const from = events.length;
  await debezium.start();
  console.log(`debezium streaming again after ${debezium.lastStartMs} ms (warm restart)`);
  await until(
    () => {
      const later = events.slice(from);
      const has = (op: string, id: string) => later.some((e) => e.op === op && e.ids.includes(id));
      return has("u", a) && has("d", b) && has("c", c);
    },
    30_000,
    "all three changes",
  );
  // At-least-once: a restart may publish the last batch again (harmless: invalidation is idempotent).
  const replayed = events.slice(from).filter((e) => e.ids.some((id) => id === a || id === b || id === c));
  console.log(`after the restart: ${replayed.length} invalidations for 3 changes`);
  assert.is((await read(base, `/api/users/${a}`)).body.name, "Kept 2");
  assert.is((await read(base, `/api/users/${b}`)).status, 404);
  const list = await read(base, "/api/users?limit=100");
  assert.is(list.cache, "miss");
  assert.ok(list.body.items?.some((u) => u.id === c));
});

cdc(
  "Debezium rides out a NATS outage in the same process: changes made meanwhile are invalidated once NATS is back",
  async () => {
    // Debezium Server's own sink never reconnects and exits on a failed publish; ours
    // (debezium/sink/) reconnects and publishes the batch again until the stream acknowledges it.
    const a = await insertUser(sql, "Through");
    await invalidation("the insert", (e) => e.ids.includes(a));
    await prime(`/api/users/${a}`);
    const pid = debezium.pid;
    await nats.stop();
    await sql`update users set name = 'Through 2' where id = ${a}`;
    // The sink has found the publish unacknowledged (it waits 5 s) and is publishing it again.
    await until(() => debezium.tail(400).includes("publishing from it again"), 30_000, "a failed publish");
    await nats.start();
    await invalidation(
      "the update made while NATS was down",
      (e) => e.op === "u" && e.ids.includes(a),
      60_000,
    );
    assert.ok(debezium.running, "Debezium Server still runs");
    assert.is(debezium.pid, pid, "the same process: it did not exit and start again");
    assert.is((await read(base, `/api/users/${a}`)).body.name, "Through 2");
  },
);

cdc(
  "with Redis stopped, reads are still answered (bypass) and changes are invalidated once it is back",
  async () => {
    const id = await insertUser(sql, "Patient");
    await invalidation("the insert", (e) => e.ids.includes(id));
    await prime(`/api/users/${id}`);
    await redisServer.stop();
    const during = await read(base, `/api/users/${id}`);
    assert.is(during.status, 200);
    assert.is(during.cache, "bypass");
    const failed = reader.invalidator!.status().failed;
    await sql`update users set name = 'Patient 2' where id = ${id}`;
    await until(
      () => reader.invalidator!.status().failed > failed,
      30_000,
      "the invalidator to nak while Redis is down",
    );
    // Reads during the outage see Postgres directly.
    assert.is((await read(base, `/api/users/${id}`)).body.name, "Patient 2");
    const seen = invalidation("the redelivered update", (e) => e.op === "u" && e.ids.includes(id));
    await redisServer.start();
    await seen;
    const after = await readOnceRedisIsBack(base, `/api/users/${id}`);
    assert.is(after.body.name, "Patient 2");
  },
);

cdc.run();

const teardown = suite("teardown");
teardown("disposing Debezium drops its replication slot", async () => {
  await server.close();
  await reader.close();
  const slot = debezium.slot;
  await debezium[Symbol.asyncDispose]();
  const slots = await sql`select slot_name from pg_replication_slots where slot_name = ${slot}`;
  assert.is(slots.length, 0);
  redis.disconnect();
  await nc.close();
  await sql.end();
  await readerSql.end();
  await db.drop();
  await redisServer[Symbol.asyncDispose]();
  await pg[Symbol.asyncDispose]();
  await nats[Symbol.asyncDispose]();
});
teardown.run();
