import { cpSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import postgres, { type Sql } from "postgres";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { type PostgresServer, startPostgres } from "../testing/postgres.ts";
import { makeTempDir, removeTempDir } from "../testing/process.ts";
import { MigrationError, migrate, migrationsDir } from "./migrate.ts";

// One cluster for the file; the last suite's after hook stops it.
const server: PostgresServer = await startPostgres();
const test = suite("migrations");

async function withEmptyDb<T>(fn: (sql: Sql, url: string) => Promise<T>): Promise<T> {
  await using db = await server.createDatabase("mig", { migrated: false });
  const sql = postgres(db.url, { max: 2, onnotice: () => {} });
  try {
    return await fn(sql, db.url);
  } finally {
    await sql.end();
  }
}

/** A copy of the real migrations folder plus extra files, removed afterwards. */
function migrationsWith(extra: Record<string, string>): { dir: string; [Symbol.dispose](): void } {
  const dir = makeTempDir("migrations");
  cpSync(migrationsDir, dir, { recursive: true });
  for (const [name, body] of Object.entries(extra)) writeFileSync(join(dir, name), body);
  return { dir, [Symbol.dispose]: () => removeTempDir(dir) };
}

/** The migrations the repository ships, in order. */
const shipped = () =>
  readdirSync(migrationsDir)
    .filter((f) => f.endsWith(".sql"))
    .sort();

const errorOf = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: Error) => e,
  );

test("apply every file in order on an empty database and record each", async () => {
  await withEmptyDb(async (sql) => {
    const files = shipped();
    assert.equal(files.slice(0, 2), ["0001_init.sql", "0002_producer_role.sql"]);
    const { applied } = await migrate(sql);
    assert.equal(applied, files);
    const rows = await sql`select version, file from schema_migrations order by version`;
    assert.equal(
      rows.map((r) => [r.version, r.file]),
      files.map((f) => [f.slice(0, 4), f]),
    );
  });
});

test("a re-run applies nothing", async () => {
  await withEmptyDb(async (sql) => {
    await migrate(sql);
    const again = await migrate(sql);
    assert.equal(again.applied, []);
  });
});

test("a re-run on an existing database applies only the new file", async () => {
  using m = migrationsWith({ "9001_add_nickname.sql": "alter table users add column nickname text;" });
  await withEmptyDb(async (sql) => {
    await migrate(sql);
    const { applied } = await migrate(sql, { dir: m.dir });
    assert.equal(applied, ["9001_add_nickname.sql"]);
    const [col] =
      await sql`select column_name from information_schema.columns where table_name = 'users' and column_name = 'nickname'`;
    assert.ok(col);
  });
});

test("a failing migration leaves nothing half-applied and names the file", async () => {
  using m = migrationsWith({
    "9001_broken.sql": "create table half_done (id int);\nselect * from no_such_table;",
  });
  await withEmptyDb(async (sql) => {
    const err = await errorOf(migrate(sql, { dir: m.dir }));
    assert.instance(err, MigrationError);
    assert.match(err!.message, /9001_broken\.sql failed/);
    assert.match(err!.message, /no_such_table/);
    const [t] = await sql`select to_regclass('half_done') as t`;
    assert.is(t!.t, null, "the first statement of the failed file was rolled back");
    const rows = await sql`select file from schema_migrations order by version`;
    assert.equal(
      rows.map((r) => r.file),
      shipped(),
      "the files before it stay applied",
    );
  });
});

test("an applied file that was edited afterwards is refused", async () => {
  using m = migrationsWith({});
  await withEmptyDb(async (sql) => {
    await migrate(sql, { dir: m.dir });
    writeFileSync(join(m.dir, "0001_init.sql"), "-- edited\n");
    const err = await errorOf(migrate(sql, { dir: m.dir }));
    assert.match(err?.message ?? "", /0001_init\.sql was changed after it was applied/);
  });
});

test("a file not named NNNN_name.sql is refused before anything runs", async () => {
  using m = migrationsWith({ "2_oops.sql": "select 1;" });
  await withEmptyDb(async (sql) => {
    const err = await errorOf(migrate(sql, { dir: m.dir }));
    assert.match(err?.message ?? "", /2_oops\.sql does not match NNNN_name\.sql/);
  });
});

test("two migrators started together apply each file once", async () => {
  await withEmptyDb(async (_sql, url) => {
    const a = postgres(url, { max: 1, onnotice: () => {} });
    const b = postgres(url, { max: 1, onnotice: () => {} });
    const [ra, rb] = await Promise.all([migrate(a), migrate(b)]);
    assert.equal([...ra.applied, ...rb.applied].sort(), shipped());
    await a.end();
    await b.end();
  });
});

test.run();

const schema = suite("schema");
let db: Awaited<ReturnType<PostgresServer["createDatabase"]>>;
schema.before(async () => {
  db = await server.createDatabase("schema");
});
schema.after(async () => {
  await db.drop();
  await server[Symbol.asyncDispose]();
});

const as = async <T>(role: string, fn: (sql: Sql) => Promise<T>) => {
  const sql = postgres(db.urlAs(role), { max: 1, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end();
  }
};

schema("emails are unique whatever their case", async () => {
  await as("postgres", async (sql) => {
    await sql`insert into users (id, name, email) values (gen_random_uuid(), 'Ada', 'ada@example.com')`;
    const err = await errorOf(
      sql`insert into users (id, name, email) values (gen_random_uuid(), 'Ada', 'ADA@Example.com')`.execute(),
    );
    assert.match(err?.message ?? "", /users_email_key/);
  });
});

schema("the writer may insert and select but not update or delete", async () => {
  await as("jpw_writer", async (sql) => {
    const [u] =
      await sql`insert into users (id, name, email) values (gen_random_uuid(), 'Bob', 'bob@example.com') returning id`;
    await sql`insert into orders (id, user_id, items, total) values (gen_random_uuid(), ${u!.id}, '[]', 0)`;
    const err = await errorOf(sql`update users set name = 'x'`.execute());
    assert.match(err?.message ?? "", /permission denied/);
    const del = await errorOf(sql`delete from orders`.execute());
    assert.match(del?.message ?? "", /permission denied/);
  });
});

schema("the reader and the producer may only select", async () => {
  for (const role of ["jpw_reader", "jpw_producer"]) {
    await as(role, async (sql) => {
      await sql`select count(*) from users`;
      await sql`select count(*) from orders`;
      const err = await errorOf(
        sql`insert into users (id, name, email) values (gen_random_uuid(), 'Eve', 'eve@example.com')`.execute(),
      );
      assert.match(err?.message ?? "", /permission denied/, role);
    });
  }
});

schema("the CDC role may replicate, and the publication covers users and orders with truncate", async () => {
  await as("postgres", async (sql) => {
    const [role] = await sql`select rolreplication from pg_roles where rolname = 'jpw_cdc'`;
    assert.is(role!.rolreplication, true);
    const tables =
      await sql`select tablename from pg_publication_tables where pubname = 'jpw_cdc' order by 1`;
    assert.equal(
      tables.map((t) => t.tablename),
      ["orders", "users"],
    );
    const [pub] = await sql`select pubtruncate from pg_publication where pubname = 'jpw_cdc'`;
    assert.is(pub!.pubtruncate, true);
    const [ident] = await sql`select relreplident from pg_class where relname = 'orders'`;
    assert.is(ident!.relreplident, "f", "orders log their whole old row");
  });
});

schema.run();
