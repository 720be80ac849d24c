// The store's keyset pages against a real Postgres: positions are exact to the microsecond.
import postgres from "postgres";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { startPostgres } from "../testing/postgres.ts";
import { decodeCursor } from "./cursor.ts";
import { Store } from "./store.ts";

const pg = await startPostgres();
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

test.after(async () => {
  await sql.end();
  await db.drop();
  await pg[Symbol.asyncDispose]();
});

test.run();
