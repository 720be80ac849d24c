// Whether history reaches back far enough to rebuild the database (window.ts), against a real
// WRITES and Postgres: no services run, so nothing is applied and the writers' floor stays at 0.
import { randomUUID } from "node:crypto";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import postgres from "postgres";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { startNats } from "../testing/nats.ts";
import { startPostgres, type TestDatabase } from "../testing/postgres.ts";
import { applyStreams } from "../testing/streams.ts";
import { ReplayRefused } from "./history.ts";
import { unusable } from "./snapshot.ts";
import { planReplay } from "./window.ts";

const nats = await startNats({ own: true });
const pg = await startPostgres();
await applyStreams(nats.url);
const nc = await nats.connect();
const jsm = await jetstreamManager(nc);
const first = randomUUID();
await jetstream(nc).publish(
  "writes.users",
  JSON.stringify({
    operationId: first,
    table: "users",
    op: "create",
    data: { name: "First", email: "first@example.com" },
    requestedAt: new Date().toISOString(),
  }),
);

/** A database with one user inserted as `role`, created at `createdAt`. */
async function withRow(role: string, createdAt: string, fn: (db: TestDatabase) => Promise<void>) {
  const db = await pg.createDatabase("window");
  const sql = postgres(role === "postgres" ? db.url : db.urlAs(role), { max: 1, onnotice: () => {} });
  try {
    await sql`insert into users (id, name, email, created_at) values (${randomUUID()}, 'Old', ${`${role}@example.com`}, ${createdAt})`;
    await fn(db);
  } finally {
    await sql.end();
    await db.drop();
  }
}

async function plan(db: TestDatabase) {
  const live = postgres(db.url, { max: 1, onnotice: () => {} });
  try {
    return await planReplay(jsm, live, {});
  } finally {
    await live.end();
  }
}

const refusal = (db: TestDatabase) =>
  plan(db).then(
    () => undefined,
    (err: Error) => err,
  );

test("an untrimmed WRITES whose rows all came after it reaches back", async () => {
  await withRow("jpw_writer", new Date().toISOString(), async (db) => {
    assert.is((await plan(db)).gap, undefined);
  });
});

test("rows older than WRITES itself were made by history it no longer has: refused, naming the oldest command", async () => {
  await withRow("jpw_writer", "2020-01-01T00:00:00Z", async (db) => {
    const err = await refusal(db);
    assert.instance(err, ReplayRefused);
    assert.match(
      err!.message,
      /history no longer reaches back: the database holds 1 row\(s\) made before WRITES was created/,
    );
    assert.match(
      err!.message,
      new RegExp(`The oldest retained command is seq 1 \\(stored \\S+, operationId ${first}\\)`),
    );
    assert.match(err!.message, /There is no snapshot to start from/);
  });
});

test("an old row inserted by hand is a change outside the log, not missing history", async () => {
  await withRow("postgres", "2020-01-01T00:00:00Z", async (db) => {
    assert.is((await plan(db)).gap, undefined);
  });
});

test("a snapshot serves only the WRITES it was taken with, while history after its floor is retained", () => {
  const snapshot = (floor: number, streamCreated = "2026-01-01T00:00:00Z") => ({
    path: "/snapshots/s",
    manifest: {
      version: 1 as const,
      takenAt: "2026-01-02T00:00:00Z",
      floor,
      streamCreated,
      database: "jpw",
      migrations: [],
      columns: { users: [], orders: [] },
      rows: { users: 0, orders: 0 },
    },
  });
  const history = { streamCreated: "2026-01-01T00:00:00Z", first: 101, cut: 500 };
  assert.is(unusable(snapshot(100), history), undefined);
  assert.match(unusable(snapshot(99), history) ?? "", /history after its floor 99 is no longer retained/);
  assert.match(unusable(snapshot(100, "2025-12-01T00:00:00Z"), history) ?? "", /taken with another WRITES/);
  assert.match(unusable(snapshot(501), history) ?? "", /past the cut 500/);
});

test.after(async () => {
  await nc.close();
  await pg[Symbol.asyncDispose]();
  await nats[Symbol.asyncDispose]();
});

test.run();
