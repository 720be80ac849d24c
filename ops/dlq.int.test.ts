import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { promisify } from "node:util";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { headers } from "@nats-io/nats-core";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import postgres from "postgres";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { until } from "../services/infra/until.ts";
import { dlqHeaders } from "../services/shared/writes.ts";
import { type NatsServer, startNats } from "../services/testing/nats.ts";
import { type PostgresServer, startPostgres, type TestDatabase } from "../services/testing/postgres.ts";
import { type RunningService, startService } from "../services/testing/service.ts";
import { applyStreams } from "../services/testing/streams.ts";
import { listDeadLetters, replayDeadLetter } from "./dlq.ts";

const test = suite("dead letters");
let nats: NatsServer;
let pg: PostgresServer;
let db: TestDatabase;
let consumer: RunningService;
let nc: NatsConnection;

test.before(async () => {
  [nats, pg] = await Promise.all([startNats({ own: true }), startPostgres({ own: true })]);
  db = await pg.createDatabase("dlq");
  await applyStreams(nats.url);
  consumer = await startService({
    entry: "services/consumer/main.ts",
    name: "consumer",
    env: { ...nats.env("consumer"), DATABASE_URL: db.urlAs("jpw_writer") },
  });
  nc = await connect({ servers: nats.url, ...nats.auth() });
});

test.after(async () => {
  await nc?.close();
  await consumer?.stop();
  await db?.drop();
  await pg?.[Symbol.asyncDispose]();
  await nats?.[Symbol.asyncDispose]();
});

const deadLetters = async () => listDeadLetters(await jetstreamManager(nc));

test("garbage on writes.users is listed with its reason and original subject", async () => {
  await nc.publish("writes.users", "definitely not json");
  await until(async () => (await deadLetters()).length === 1, 10_000, "the dead letter");
  const [letter] = await deadLetters();
  assert.is(letter!.originalSubject, "writes.users");
  assert.match(letter!.reason ?? "", /not JSON/);
});

test("a dead letter whose cause is fixed is applied on replay and leaves the DLQ", async () => {
  const jsm = await jetstreamManager(nc);
  for (const l of await deadLetters()) await jsm.streams.deleteMessage("WRITES_DLQ", l.seq);
  // As the writer leaves one after its last delivery (e.g. while its privileges were revoked).
  const operationId = randomUUID();
  const command = {
    operationId,
    table: "users",
    op: "create",
    data: { name: "Replayed", email: `replayed-${operationId}@example.com` },
    requestedAt: new Date().toISOString(),
  };
  const h = headers();
  h.set(dlqHeaders.subject, "writes.users");
  h.set(dlqHeaders.reason, "gave up after 19 deliveries: permission denied for table users");
  h.set(dlqHeaders.operationId, operationId);
  await jetstream(nc).publish("dlq.writes.users", JSON.stringify(command), { headers: h });
  const [letter] = await deadLetters();

  await replayDeadLetter(nc, jsm, letter!.seq);

  // The row is the committed outcome's record (GET /api/operations/:id reads it).
  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  try {
    await until(
      async () => (await sql`select 1 from users where id = ${operationId}`).length === 1,
      10_000,
      "the row",
    );
  } finally {
    await sql.end();
  }
  assert.equal(await deadLetters(), []);
});

test("a replayed command that still cannot be applied is dead-lettered again, not lost", async () => {
  await nc.publish("writes.users", "still not json");
  await until(async () => (await deadLetters()).length === 1, 10_000, "the dead letter");
  const [first] = await deadLetters();
  await replayDeadLetter(nc, await jetstreamManager(nc), first!.seq);
  await until(
    async () => {
      const now = await deadLetters();
      return now.length === 1 && now[0]!.seq !== first!.seq;
    },
    10_000,
    "the second dead letter",
  );
});

test("the CLI lists dead letters and refuses an unknown sequence with exit code 1", async () => {
  // As the admin user, its credentials in the environment (as `just dlq` gives them).
  const admin = { env: { ...process.env, NATS_USER: "admin", NATS_PASSWORD: nats.auth().pass } };
  const run = (cmd: string, args: string[]) => promisify(execFile)(cmd, args, admin);
  const list = await run(process.execPath, ["--import", "tsx", "ops/dlq.ts", "list", "--server", nats.url]);
  assert.match(list.stdout, /still not json|not JSON/);
  assert.match(list.stdout, /1 dead letter\(s\) in WRITES_DLQ/);
  const err = await run(process.execPath, [
    "--import",
    "tsx",
    "ops/dlq.ts",
    "replay",
    "99999",
    "--server",
    nats.url,
  ]).then(
    () => undefined,
    (e: { code: number; stderr: string }) => e,
  );
  assert.is(err?.code, 1);
  assert.match(err?.stderr ?? "", /WRITES_DLQ has no message 99999/);
});

test.run();
