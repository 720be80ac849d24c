// The store against a real Postgres: positions exact to the microsecond, outages answered as 503.
import postgres from "postgres";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { UnavailableError } from "../shared/errors.ts";
import { startPostgres } from "../testing/postgres.ts";
import { decodeCursor } from "./cursor.ts";
import { Store } from "./store.ts";

// Our own cluster: a test stops it.
const pg = await startPostgres({ own: true });
const db = await pg.createDatabase("store");
const sql = postgres(db.url, { max: 2, onnotice: () => {} });
const store = new Store(postgres(db.urlAs("jpw_reader"), { max: 2, onnotice: () => {} }));

test("pages of limit 1 walk every row created within one millisecond, newest first", async () => {
  const stamps = ["000100", "000200", "000300"].map((us) => `2026-01-01T00:00:00.${us}Z`);
  const ids: string[] = [];
  for (const at of stamps) {
    const id = crypto.randomUUID();
    // As text: a timestamptz parameter would pass through a JS Date and lose the microseconds.
    await sql`insert into users (id, name, email, created_at)
              values (${id}, 'Same Millisecond', ${`${id}@example.com`}, ${at}::text::timestamptz)`;
    ids.push(id);
  }
  const seen: string[] = [];
  let after: ReturnType<typeof decodeCursor> | undefined;
  for (let i = 0; i < 5; i++) {
    const page = JSON.parse(await store.users(1, after)) as { items: { id: string }[]; nextCursor: string };
    seen.push(...page.items.map((u) => u.id));
    if (!page.nextCursor) break;
    after = decodeCursor(page.nextCursor);
  }
  assert.equal(seen, [...ids].reverse());
});

test("a read that runs out of its statement time (a stalled Postgres) is a 503 to retry, not a 500", async () => {
  const hurried = postgres(db.urlAs("jpw_reader"), {
    max: 1,
    onnotice: () => {},
    connection: { statement_timeout: 200 },
  });
  const lock = sql.reserve();
  const held = await lock;
  try {
    await held`begin`;
    await held`lock table users in access exclusive mode`;
    const err = await new Store(hurried).users(10).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof UnavailableError, `a 503, not ${String(err)}`);
    assert.is(err.headers["retry-after"], "1");
  } finally {
    await held`rollback`;
    held.release();
    await hurried.end();
  }
});

test("with Postgres stopped a read is a 503 to retry after a second, and answers again once it is back", async () => {
  const id = crypto.randomUUID();
  await sql`insert into users (id, name, email) values (${id}, 'Outage', ${`${id}@example.com`})`;
  await pg.stop();
  try {
    for (const read of [() => store.user(id), () => store.users(5), () => store.userOrders(id, 5)]) {
      const err = await read().then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.instance(err, UnavailableError);
      assert.is((err as UnavailableError).headers["retry-after"], "1");
    }
  } finally {
    await pg.start();
  }
  assert.match(String(await store.user(id)), /"name" : "Outage"/);
});

test.after(async () => {
  await sql.end();
  await db.drop();
  await pg[Symbol.asyncDispose]();
});

test.run();
