// Redis is a bounded cache (maxmemory, allkeys-lru, as in every stack): filled far past its bound,
// it evicts, and the reader treats an evicted entry (or an evicted generation key) like a miss:
// every read still answers what Postgres holds, changes included, and never turns into an error.
// The reader runs as its real process with its own Redis ACL user and NATS user.
import { createConnection } from "node:net";
import { jetstream } from "@nats-io/jetstream";
import { Redis } from "ioredis";
import postgres from "postgres";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { until } from "../infra/until.ts";
import { cdcSubject } from "../shared/cdc.ts";
import { startNats } from "../testing/nats.ts";
import { startPostgres } from "../testing/postgres.ts";
import { startReader } from "../testing/reader.ts";
import { startRedis } from "../testing/redis.ts";
import { applyStreams } from "../testing/streams.ts";
import { insertUser, read, readOnceRedisIsBack } from "./test-kit.ts";

const nats = await startNats();
const pg = await startPostgres();
const redisServer = await startRedis({ own: true, maxmemory: "4mb" });
const db = await pg.createDatabase("eviction");
await applyStreams(nats.url);
const sql = postgres(db.url, { max: 2, onnotice: () => {} });
const admin = new Redis(redisServer.url);
const nc = await nats.connect();
const reader = await startReader({ nats, db, redis: redisServer });

/** A row change as Debezium publishes it (the reader invalidates on it). */
async function changed(id: string, name: string): Promise<void> {
  const now = Date.now();
  const after = { id, name, email: `${id}@example.com` };
  const source = {
    connector: "postgresql",
    ts_ms: now,
    ts_us: now * 1000,
    schema: "public",
    table: "users",
    lsn: 1,
  };
  await jetstream(nc).publish(
    cdcSubject("users"),
    JSON.stringify({ before: null, after, source, op: "u", ts_ms: now }),
  );
}

const evicted = async () => Number(/evicted_keys:(\d+)/.exec(await admin.info("stats"))?.[1] ?? 0);

test("filled far past maxmemory, every read still answers what Postgres holds", async () => {
  const ids: string[] = [];
  for (let i = 0; i < 40; i++) ids.push(await insertUser(sql, `User ${i}`));
  const expectAll = async () => {
    for (const id of ids) {
      const r = await read(reader.url, `/api/users/${id}`);
      assert.is(r.status, 200);
      assert.ok(r.cache === "hit" || r.cache === "miss", `X-Cache ${r.cache}: Redis failed a read`);
      const [row] = await sql<{ name: string }[]>`select name from users where id = ${id}`;
      assert.is(r.body.name, row!.name, `user ${id} answers what Postgres holds`);
    }
    const list = await read(reader.url, "/api/users?limit=100");
    assert.is(list.status, 200);
    assert.is(list.body.items?.length, ids.length);
  };
  await expectAll();

  // Rounds of junk (each key with a TTL, as a cache's) well past the bound, with changes in between.
  const blob = "x".repeat(64 * 1024);
  for (let round = 0; round < 4; round++) {
    const pipeline = admin.pipeline();
    for (let k = 0; k < 64; k++) pipeline.set(`jpw:junk:${round}:${k}`, blob, "EX", 600);
    await pipeline.exec();
    const id = ids[round * 7]!;
    const name = `Renamed ${round}`;
    await sql`update users set name = ${name} where id = ${id}`;
    await changed(id, name);
    await until(
      async () => (await read(reader.url, `/api/users/${id}`)).body.name === name,
      10_000,
      "the change",
    );
    await expectAll();
  }
  assert.ok((await evicted()) > 0, "Redis evicted keys");
  const used = Number(/used_memory:(\d+)/.exec(await admin.info("memory"))?.[1]);
  assert.ok(used <= 4 * 1024 * 1024 * 1.1, `used_memory ${used} stays near maxmemory`);
});

test("the reader's Redis user reaches only its key prefix and its cache's commands; no password, no access", async () => {
  const asReader = new Redis(redisServer.urlAs("reader"), { maxRetriesPerRequest: 0 });
  try {
    await asReader.set("jpw:probe", "1", "EX", 10);
    for (const [what, run] of [
      ["a key outside jpw:", () => asReader.get("other:key")],
      ["FLUSHALL", () => asReader.flushall()],
      ["KEYS", () => asReader.keys("*")],
      ["CONFIG GET", () => asReader.config("GET", "maxmemory")],
      ["DEL", () => asReader.del("jpw:probe")],
    ] as const) {
      const err = await (run as () => Promise<unknown>)().then(
        () => undefined,
        (e: Error) => e,
      );
      assert.match(String(err?.message), /NOPERM/, `${what} is denied`);
    }
  } finally {
    asReader.disconnect();
  }
  // Without credentials (a raw socket: clients authenticate on connect) nothing is answered.
  const reply = await new Promise<string>((resolve, reject) => {
    const sock = createConnection({ port: redisServer.port, host: "127.0.0.1" }, () =>
      sock.write("GET jpw:probe\r\n"),
    );
    sock.once("data", (d) => {
      resolve(d.toString());
      sock.destroy();
    });
    sock.once("error", reject);
  });
  assert.match(reply, /^-NOAUTH/);
});

test("a restarted Redis is empty: nothing filled before it stopped is served after", async () => {
  const id = await insertUser(sql, "Before the restart");
  await until(async () => (await read(reader.url, `/api/users/${id}`)).cache === "hit", 10_000, "a hit");
  // Changed with no change event: only a cache that survived the restart could still answer this.
  await sql`update users set name = 'After the restart' where id = ${id}`;
  assert.is((await read(reader.url, `/api/users/${id}`)).body.name, "Before the restart");
  await redisServer.stop();
  await redisServer.start();
  const r = await readOnceRedisIsBack(reader.url, `/api/users/${id}`);
  assert.is(r.body.name, "After the restart");
});

test.after(async () => {
  await reader.stop();
  admin.disconnect();
  await nc.close();
  await sql.end();
  await db.drop();
  for (const s of [redisServer, pg, nats]) await s[Symbol.asyncDispose]();
});

test.run();
