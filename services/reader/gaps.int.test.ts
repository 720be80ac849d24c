// CDC events lost (the stream is persisted asynchronously, see docs/durability.md) must not leave a
// stale cache entry: the reader notices the gap and flushes the whole cache. Each test makes a row
// stale on purpose (changed in Postgres, its change event never published: lost), caches it, then
// makes the stream lose events the way an OS crash or an operator would, deterministically.
import { readdirSync, statSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import postgres from "postgres";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { until } from "../infra/until.ts";
import { createLogger } from "../shared/log.ts";
import { serve } from "../shared/runtime.ts";
import { startNats } from "../testing/nats.ts";
import { startPostgres } from "../testing/postgres.ts";
import { startRedis } from "../testing/redis.ts";
import { applyStreams } from "../testing/streams.ts";
import { createReader } from "./app.ts";
import { connectRedis } from "./redis.ts";
import { insertUser, publishChangeEvent, read } from "./test-kit.ts";

// Our own server: it is killed, its store truncated, its streams replaced.
const nats = await startNats({ own: true });
await applyStreams(nats.url);
const pg = await startPostgres();
const redisServer = await startRedis({ own: true });
const db = await pg.createDatabase("gaps");
const sql = postgres(db.url, { max: 2, onnotice: () => {} });
const redis = connectRedis(redisServer.url, { commandTimeoutMs: 500 });
const nc = await connect({
  servers: nats.url,
  ...nats.auth(),
  maxReconnectAttempts: -1,
  reconnectTimeWait: 200,
});
const js = jetstream(nc);
const readerSql = postgres(db.urlAs("jpw_reader"), { max: 2, onnotice: () => {} });
const reader = await createReader({
  sql: readerSql,
  redis,
  nc,
  log: createLogger("reader", "error"),
  cdcAuditMs: 200,
});
const server = await serve(reader.handler, { port: 0, hostname: "127.0.0.1" });
const base = server.url;
const flushes = () => reader.invalidator?.status().flushes ?? 0;

/** A change for a throwaway user, applied by the reader: the position moves to its sequence. */
async function applied(): Promise<number> {
  const id = crypto.randomUUID();
  const seen = new Promise<void>((resolve) => {
    const off = reader.feed.listen((e) => {
      if (e.ids.includes(id)) {
        off();
        resolve();
      }
    });
  });
  const seq = await publishChangeEvent(js, "users", "c", null, {
    id,
    name: "Filler",
    email: "f@example.com",
  });
  await seen;
  return seq;
}

/** A user cached as "Before" whose row now says "After": its change event was lost. */
async function staleUser(): Promise<string> {
  const id = await insertUser(sql, "Before");
  await read(base, `/api/users/${id}`);
  const cached = await read(base, `/api/users/${id}`);
  assert.is(cached.cache, "hit");
  await sql`update users set name = 'After' where id = ${id}`;
  assert.is((await read(base, `/api/users/${id}`)).body.name, "Before", "stale until the gap is seen");
  return id;
}

async function freshAgain(id: string): Promise<void> {
  await until(
    async () => (await read(base, `/api/users/${id}`)).body.name === "After",
    20_000,
    `user ${id} to be read fresh`,
  );
}

/** The CDC stream's message blocks in the server's store (from /varz). */
async function cdcBlocks(): Promise<string[]> {
  const varz = (await (await fetch(`${nats.monitorUrl}/varz`)).json()) as {
    jetstream: { config: { store_dir: string } };
  };
  const dir = join(varz.jetstream.config.store_dir, "$G", "streams", "CDC", "msgs");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".blk"))
    .map((f) => join(dir, f));
}

const gaps = suite("lost change events flush the cache");

gaps("a CDC stream that lost its tail in a crash (sequences reused) flushes the cache once", async () => {
  await applied();
  const lost = await applied();
  const id = await staleUser();
  const before = flushes();
  // The crash: the process dies and the last event never made it to disk.
  const blocks = await cdcBlocks();
  await nats.kill();
  const last = blocks.sort()[blocks.length - 1]!;
  truncateSync(last, statSync(last).size - 1);
  await nats.start();
  await freshAgain(id);
  assert.is(flushes(), before + 1);
  assert.match(
    reader.invalidator?.status().lastFlush?.reason ?? "",
    /^lost tail: stream CDC ends at \d+, below the/,
  );
  const info = await (await jetstreamManager(nc)).streams.info("CDC");
  assert.ok(info.state.last_seq < lost, "the lost event's sequence is free again");
  // Its sequence is reused by the next event, which is applied like any other: no second flush.
  assert.ok((await applied()) <= lost);
  assert.is(flushes(), before + 1);
});

gaps("a CDC stream replaced (apply --allow-destructive) flushes the cache", async () => {
  await applied();
  const id = await staleUser();
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete("CDC");
  await applyStreams(nats.url);
  await freshAgain(id);
  assert.match(
    reader.invalidator?.status().lastFlush?.reason ?? "",
    /^replaced: stream CDC was created again/,
  );
});

gaps("Redis losing its last writes (the consumer acked past its position) flushes the cache", async () => {
  await applied();
  const id = await staleUser();
  await redis.hset(reader.keys.cdcPositionKey(), "seq", "0");
  await freshAgain(id);
  assert.match(reader.invalidator?.status().lastFlush?.reason ?? "", /^redis lost its tail: acked up to \d+/);
});

gaps("a restart of the server holding the async stream flushes: events never read may be gone", async () => {
  await applied();
  const id = await staleUser();
  const before = flushes();
  await nats.restart();
  await freshAgain(id);
  assert.is(flushes(), before + 1);
  assert.match(reader.invalidator?.status().lastFlush?.reason ?? "", /^restarted: /);
  // Nothing else was lost: the reader goes on applying changes.
  await until(async () => (await applied()) > 0, 20_000, "a change to be applied after the restart");
  assert.is(flushes(), before + 1);
});

gaps.after(async () => {
  await reader.close();
  await server.close(100);
  await nc.close();
  redis.disconnect();
  await sql.end();
  await readerSql.end();
  await db.drop();
  await pg[Symbol.asyncDispose]();
  await redisServer[Symbol.asyncDispose]();
  await nats[Symbol.asyncDispose]();
});

gaps.run();
