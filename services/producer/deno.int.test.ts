// The same producer and consumer sources under Deno: a user and an order through the whole path,
// a replay, and a clean SIGTERM.
import postgres from "postgres";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { startNats } from "../testing/nats.ts";
import { startPostgres } from "../testing/postgres.ts";
import { applyStreams } from "../testing/streams.ts";
import { postJson, startWritePath } from "../testing/write-path.ts";

test("under Deno, producer and consumer create a user and an order, replay a retry, and stop cleanly", async () => {
  await using nats = await startNats({ own: true });
  await using pg = await startPostgres();
  await using db = await pg.createDatabase("deno");
  await applyStreams(nats.url);
  const stack = await startWritePath({
    natsUrl: nats.url,
    databaseUrl: db.urlAs("jpw_writer"),
    runtime: "deno",
  });
  try {
    const runtime = stack.producer.logs().find((l) => l.msg === "listening")?.runtime as string;
    assert.match(runtime, /^deno /);
    const key = crypto.randomUUID();
    const body = { name: "Deno", email: "deno@example.com" };
    const created = await postJson(stack.producer.url, "/api/users", body, key);
    assert.is(created.status, 201);
    const replay = await postJson(stack.producer.url, "/api/users", body, key);
    assert.is(replay.status, 200);
    assert.equal(replay.body, created.body);
    const order = await postJson(stack.producer.url, "/api/orders", {
      userId: key,
      items: [{ productId: "dino", quantity: 3, price: "3.33" }],
      total: "9.99",
    });
    assert.is(order.status, 201);
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    const [row] = await sql`select total::text as total from orders where user_id = ${key}`;
    await sql.end();
    assert.is(row?.total, "9.99");
  } finally {
    assert.is(await stack.producer.stop(), 0);
    assert.is(await stack.consumer.stop(), 0);
  }
});

test.run();
