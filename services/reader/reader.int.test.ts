// The read path against real Postgres, Redis and NATS (no Debezium here: cdc.int.test.ts has it).
// Invalidations are driven by publishing change events on cdc.public.* the way Debezium does.
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import postgres from "postgres";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { until } from "../infra/until.ts";
import { createLogger } from "../shared/log.ts";
import { operationsBucket, putOperation } from "../shared/operations.ts";
import { serve } from "../shared/runtime.ts";
import type { Table } from "../shared/writes.ts";
import { startNats } from "../testing/nats.ts";
import { startPostgres } from "../testing/postgres.ts";
import { startRedis } from "../testing/redis.ts";
import { type Runtime, startService } from "../testing/service.ts";
import { applyStreams } from "../testing/streams.ts";
import { createReader } from "./app.ts";
import { connectRedis } from "./redis.ts";
import { insertOrder, insertUser, publishChangeEvent, read, readOnceRedisIsBack } from "./test-kit.ts";

const nats = await startNats();
await applyStreams(nats.url);
const pg = await startPostgres();
const redisServer = await startRedis({ own: true });
const db = await pg.createDatabase("reader");
const sql = postgres(db.url, { max: 2, onnotice: () => {} });
const readerSql = postgres(db.urlAs("jpw_reader"), { max: 4, onnotice: () => {} });
const redis = connectRedis(redisServer.url, { commandTimeoutMs: 250 });
const nc = await connect({ servers: nats.url, ...nats.auth() });
const js = jetstream(nc);
const reader = await createReader({
  sql: readerSql,
  redis,
  nc,
  log: createLogger("reader", "error"),
  // Nothing listens there: the system snapshot must show both producer replicas as down, not fail.
  producerUrls: ["http://127.0.0.1:1", "http://127.0.0.1:2"],
});
const server = await serve(reader.handler, { port: 0, hostname: "127.0.0.1" });
const base = server.url;

const publishChange = (table: Table, op: string, before: unknown, after: unknown) =>
  publishChangeEvent(js, table, op, before, after);

const invalidated = (pred: (e: { op: string; ids: string[]; scopes: string[] }) => boolean) =>
  new Promise<void>((resolve) => {
    const off = reader.feed.listen((e) => {
      if (pred(e)) {
        off();
        resolve();
      }
    });
  });

const routes = suite("reader routes");

routes("a user is read from Postgres first (miss), then from Redis (hit), with the same body", async () => {
  const id = await insertUser(sql, "Ada");
  const first = await read(base, `/api/users/${id}`);
  assert.is(first.status, 200);
  assert.is(first.cache, "miss");
  assert.is(first.body.name, "Ada");
  assert.is(first.body.id, id);
  assert.match(String(first.body.createdAt), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  const second = await read(base, `/api/users/${id}`);
  assert.is(second.cache, "hit");
  assert.is(second.text, first.text);
});

routes("money comes back as exact decimal strings, never floats", async () => {
  const userId = await insertUser(sql, "Grace");
  const id = await insertOrder(sql, userId, "9999999999.99", [
    { productId: "p-1", quantity: 3, price: "0.10" },
    { productId: "p-2", quantity: 1, price: "9999999999.69" },
  ]);
  const got = await read(base, `/api/orders/${id}`);
  assert.is(got.status, 200);
  assert.is(got.body.total, "9999999999.99");
  assert.is(got.body.userId, userId);
  assert.match(got.text, /"price": ?"0\.10"/);
  const list = await read(base, `/api/users/${userId}/orders`);
  assert.is(list.body.items?.[0]?.total, "9999999999.99");
});

routes(
  "lists are newest first and keyset pages walk every row once, ties on created_at included",
  async () => {
    const listDb = await pg.createDatabase("pages");
    const s = postgres(listDb.url, { max: 1, onnotice: () => {} });
    const rs = postgres(listDb.urlAs("jpw_reader"), { max: 2, onnotice: () => {} });
    const r = await createReader({
      sql: rs,
      redis,
      nc,
      log: createLogger("reader", "error"),
      keyPrefix: "pages",
      invalidate: false,
    });
    const srv = await serve(r.handler, { port: 0, hostname: "127.0.0.1" });
    try {
      const ids: string[] = [];
      // Three share one timestamp: only the id breaks the tie.
      for (let i = 0; i < 7; i++) {
        ids.push(
          await insertUser(s, `U${i}`, i < 3 ? "2026-01-01T00:00:00.123456Z" : `2026-01-0${i}T00:00:00Z`),
        );
      }
      const seen: string[] = [];
      let cursor: string | null | undefined;
      let pages = 0;
      do {
        const page = await read(srv.url, `/api/users?limit=3${cursor ? `&cursor=${cursor}` : ""}`);
        assert.is(page.status, 200);
        seen.push(...(page.body.items ?? []).map((u) => String(u.id)));
        cursor = page.body.nextCursor;
        pages++;
      } while (cursor && pages < 10);
      assert.is(pages, 3);
      assert.is(seen.length, 7);
      assert.is(new Set(seen).size, 7);
      const expected = [...ids.slice(3).reverse(), ...ids.slice(0, 3).sort().reverse()];
      assert.equal(seen, expected);
      const again = await read(srv.url, "/api/users?limit=3");
      assert.is(again.cache, "hit");
    } finally {
      await srv.close();
      await r.close();
      await rs.end();
      await s.end();
      await listDb.drop();
    }
  },
);

routes(
  "a missing user or order is a 404 problem, and a user's orders 404 when the user does not exist",
  async () => {
    const missing = crypto.randomUUID();
    for (const path of [`/api/users/${missing}`, `/api/orders/${missing}`, `/api/users/${missing}/orders`]) {
      const res = await fetch(`${base}${path}`);
      assert.is(res.status, 404, path);
      assert.is(res.headers.get("content-type"), "application/problem+json");
      const body = (await res.json()) as { type: string; status: number };
      assert.is(body.status, 404);
      assert.match(body.type, /not-found/);
    }
  },
);

routes("a bad id, limit or cursor is a 400 problem naming the parameter", async () => {
  const cases: [string, string][] = [
    ["/api/users/not-a-uuid", "id"],
    ["/api/orders/123", "id"],
    ["/api/users?limit=0", "limit"],
    ["/api/users?limit=101", "limit"],
    ["/api/orders?limit=abc", "limit"],
    ["/api/users?cursor=garbage!", "cursor"],
    [`/api/users?cursor=${Buffer.from('["yesterday","x"]').toString("base64url")}`, "cursor"],
    [`/api/users/${crypto.randomUUID()}/orders?limit=-1`, "limit"],
  ];
  for (const [path, param] of cases) {
    const res = await fetch(`${base}${path}`);
    assert.is(res.status, 400, path);
    const body = (await res.json()) as { errors: { path: string }[] };
    assert.is(body.errors[0]?.path, param, path);
  }
});

routes(
  "an operation reads committed from its row, rejected or accepted from the operations bucket, else 404",
  async () => {
    const committed = await insertUser(sql, "Grace");
    const row = await read(base, `/api/operations/${committed}`);
    assert.is(row.status, 200);
    assert.equal(
      {
        status: row.body.status,
        httpStatus: row.body.httpStatus,
        id: (row.body.result as { id: string }).id,
      },
      { status: "committed", httpStatus: 201, id: committed },
    );

    const kv = await new Kvm(nc).open(operationsBucket);
    const rejected = crypto.randomUUID();
    await putOperation(kv, {
      operationId: rejected,
      table: "users",
      outcome: "email-taken",
      detail: "the email x@example.com is already taken",
      updatedAt: new Date().toISOString(),
    });
    const got = await read(base, `/api/operations/${rejected}`);
    assert.equal(
      {
        status: got.body.status,
        httpStatus: got.body.httpStatus,
        type: (got.body.error as { type: string }).type,
      },
      { status: "rejected", httpStatus: 409, type: "/problems/email-taken" },
    );
    const accepted = crypto.randomUUID();
    await putOperation(kv, { operationId: accepted, table: "orders", outcome: "accepted", updatedAt: "x" });
    assert.is((await read(base, `/api/operations/${accepted}`)).body.status, "accepted");

    const unknown = await read(base, `/api/operations/${crypto.randomUUID()}`);
    assert.is(unknown.status, 404);
    assert.is(unknown.body.type, "/problems/operation-not-found");
  },
);

routes("a change event for a user invalidates the user, the users list and the user's orders", async () => {
  const id = await insertUser(sql, "Linus");
  await read(base, `/api/users/${id}`);
  await read(base, "/api/users");
  await read(base, `/api/users/${id}/orders`);
  assert.is((await read(base, `/api/users/${id}`)).cache, "hit");
  assert.is((await read(base, "/api/users")).cache, "hit");
  assert.is((await read(base, `/api/users/${id}/orders`)).cache, "hit");
  await sql`update users set name = 'Linus T' where id = ${id}`;
  const done = invalidated((e) => e.ids.includes(id));
  await publishChange("users", "u", null, { id, name: "Linus T", email: "x@example.com" });
  await done;
  const user = await read(base, `/api/users/${id}`);
  assert.is(user.cache, "miss");
  assert.is(user.body.name, "Linus T");
  assert.is((await read(base, "/api/users")).cache, "miss");
  assert.is((await read(base, `/api/users/${id}/orders`)).cache, "miss");
});

routes(
  "an unreadable event on a table's subject invalidates that whole table and invalidation goes on",
  async () => {
    const a = await insertUser(sql, "Barbara");
    await read(base, `/api/users/${a}`);
    assert.is((await read(base, `/api/users/${a}`)).cache, "hit");
    const whole = invalidated((e) => e.op === "malformed" && e.scopes.includes("table:users"));
    await js.publish("cdc.public.users", "{ this is not json");
    await whole;
    assert.is((await read(base, `/api/users/${a}`)).cache, "miss");
    const schemaless = invalidated((e) => e.op === "malformed");
    await js.publish("cdc.public.users", JSON.stringify({ schema: {}, payload: { op: "u" } }));
    await schemaless;
    // The next real event is applied as usual.
    await read(base, `/api/users/${a}`);
    const next = invalidated((e) => e.op === "u" && e.ids.includes(a));
    await publishChange("users", "u", null, { id: a, name: "Barbara L", email: "b@example.com" });
    await next;
    assert.is((await read(base, `/api/users/${a}`)).cache, "miss");
    assert.ok((reader.invalidator?.status().malformed ?? 0) >= 2);
  },
);

routes("health, readiness and metrics answer", async () => {
  assert.is((await fetch(`${base}/healthz`)).status, 200);
  const ready = await fetch(`${base}/readyz`);
  const body = (await ready.json()) as { checks: Record<string, string> };
  assert.is(ready.status, 200, JSON.stringify(body));
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /jpw_reader_cache_requests_total\{result="hit",route="user"\} \d+/);
  assert.match(metrics, /jpw_reader_invalidations_total\{op="u",table="users"\} \d+/);
  // Every process metric under the service's own prefix, heap beside RSS (a leak shows in the heap).
  for (const name of [
    "uptime_seconds",
    "resident_memory_bytes",
    "heap_used_bytes",
    "external_memory_bytes",
  ]) {
    assert.match(metrics, new RegExp(`^jpw_reader_${name} \\d`, "m"));
  }
});

routes("/api/system shows the streams, the invalidator's consumer and the DLQ count", async () => {
  const got = await read(base, "/api/system");
  assert.is(got.status, 200);
  const js = got.body.jetstream as { streams: { name: string; consumers: { name: string }[] }[] };
  const cdc = js.streams.find((s) => s.name === "CDC");
  assert.ok(cdc, "CDC stream listed");
  assert.ok(cdc.consumers.some((c) => c.name === "cache-invalidator"));
  assert.is(got.body.writesDlqMessages, 0);
  const services = got.body.services as Record<string, { ready?: boolean }>;
  assert.is(services.reader?.ready, true);
  // Nothing runs on the producers' ports in this test; each replica is shown by its own name.
  assert.is(services.producer?.ready, false);
  assert.is(services["producer-2"]?.ready, false);
});

routes("/api/events streams each applied invalidation with its commit latency", async () => {
  const res = await fetch(`${base}/api/events`);
  assert.is(res.headers.get("content-type"), "text/event-stream");
  const reader2 = res.body!.getReader();
  const id = await insertUser(sql, "Edsger");
  await publishChange("users", "c", null, { id, name: "Edsger", email: "e@example.com" });
  let text = "";
  const decoder = new TextDecoder();
  while (!text.includes(id)) {
    const { value, done } = await reader2.read();
    if (done) break;
    text += decoder.decode(value);
  }
  await reader2.cancel();
  const line = text.split("\n").find((l) => l.startsWith("data:") && l.includes(id))!;
  const event = JSON.parse(line.slice(5)) as Record<string, unknown>;
  assert.is(event.table, "users");
  assert.is(event.op, "c");
  assert.ok((event.scopes as string[]).includes(`user:${id}`));
  assert.ok((event.scopes as string[]).includes("users"));
  assert.type(event.latencyMs, "number");
  assert.type(event.commitTs, "string");
  // The server noticed the disconnect.
  await until(() => reader.feed.size === 0, 5000, "the SSE client to be dropped");
});

routes(
  "with Redis down reads are answered from Postgres (bypass), and invalidations wait for it",
  async () => {
    const id = await insertUser(sql, "Margaret");
    await read(base, `/api/users/${id}`);
    await redisServer.stop();
    const during = await read(base, `/api/users/${id}`);
    assert.is(during.status, 200);
    assert.is(during.cache, "bypass");
    assert.is(during.body.name, "Margaret");
    assert.is((await read(base, "/api/orders?limit=5")).cache, "bypass");
    const failedBefore = reader.invalidator!.status().failed;
    const appliedBefore = reader.invalidator!.status().applied;
    await publishChange("users", "u", null, { id, name: "Margaret H", email: "m@example.com" });
    await until(
      () => reader.invalidator!.status().failed > failedBefore,
      30_000,
      "a nak while Redis is down",
    );
    await redisServer.start();
    await until(
      () => reader.invalidator!.status().applied > appliedBefore,
      30_000,
      "the redelivered invalidation to be applied",
    );
    const after = await readOnceRedisIsBack(base, `/api/users/${id}`);
    assert.is(after.status, 200);
  },
);

routes.run();

const entry = suite("reader entry point");

for (const runtime of ["node", "deno"] as Runtime[]) {
  entry(
    `services/reader/main.ts runs under ${runtime}: reads, invalidation and the event stream`,
    async () => {
      // A durable consumer of its own: on the shared one the in-process reader would take half the events.
      const durable = `entry-${runtime}`;
      const jsm = await jetstreamManager(nc);
      await jsm.consumers.add("CDC", {
        durable_name: durable,
        filter_subject: "cdc.public.>",
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.New,
      });
      const svc = await startService({
        entry: "services/reader/main.ts",
        runtime,
        name: `reader-${runtime}`,
        // As the admin users: this test's own durable and key prefix lie outside the reader's
        // permissions (services/infra/nats-auth.ts, redis-auth.ts), which the system tests use.
        env: {
          NATS_URL: nats.url,
          NATS_USER: "admin",
          NATS_PASSWORD: nats.auth().pass,
          DATABASE_URL: db.urlAs("jpw_reader"),
          REDIS_URL: redisServer.url,
          CACHE_KEY_PREFIX: `entry-${runtime}`,
          CDC_CONSUMER: durable,
          DEBEZIUM_HEALTH_URL: "none",
        },
      });
      try {
        const id = await insertUser(sql, `Entry ${runtime}`);
        assert.is((await read(svc.url, `/api/users/${id}`)).cache, "miss");
        // A fill can miss Redis's 250 ms command timeout on a loaded machine: read until cached.
        await until(
          async () => (await read(svc.url, `/api/users/${id}`)).cache === "hit",
          10_000,
          "the user to be cached",
        );
        const events = await fetch(`${svc.url}/api/events`);
        const stream = events.body!.getReader();
        await sql`update users set name = ${`Entry ${runtime} 2`} where id = ${id}`;
        await publishChange("users", "u", null, { id, name: "x", email: "x@example.com" });
        let text = "";
        const decoder = new TextDecoder();
        while (!text.includes(id)) {
          const { value, done } = await stream.read();
          if (done) break;
          text += decoder.decode(value);
        }
        await stream.cancel();
        assert.match(text, /event: invalidation/);
        const after = await read(svc.url, `/api/users/${id}`);
        assert.is(after.cache, "miss");
        assert.is(after.body.name, `Entry ${runtime} 2`);
        const t0 = Date.now();
        const code = await svc.stop();
        assert.is(code, 0, `exit ${code} after ${Date.now() - t0} ms:\n${svc.proc.tail(10)}`);
      } finally {
        await svc[Symbol.asyncDispose]();
      }
    },
  );
}

entry.run();

const teardown = suite("teardown");
teardown("every client and server closes", async () => {
  await server.close();
  await reader.close();
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
