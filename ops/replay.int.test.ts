// `just replay` and `just snapshot` against a real write path (NATS, Postgres, the consumer and the
// producer as processes): one history, told as a story. Faithful replay first (the order-before-
// user cases, key reuse across tables, email-taken, dead letters, duplicates, a create pulled
// forward across the cut), then verify (under concurrent writes, manual SQL listed, an edit with
// the audit disabled failing), then history that no longer reaches back (refused, then rebuilt from
// a snapshot), and last the failures made by tampering with history itself.
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { promisify } from "node:util";
import { type JetStreamManager, jetstream, jetstreamManager, type StoredMsg } from "@nats-io/jetstream";
import postgres, { type Sql } from "postgres";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { until } from "../services/infra/until.ts";
import { startNats } from "../services/testing/nats.ts";
import { startPostgres } from "../services/testing/postgres.ts";
import { makeTempDir, removeTempDir } from "../services/testing/process.ts";
import { applyStreams } from "../services/testing/streams.ts";
import { postJson, startWritePath } from "../services/testing/write-path.ts";

const nats = await startNats({ own: true });
const pg = await startPostgres();
const db = await pg.createDatabase("replay");
await applyStreams(nats.url);
const nc = await nats.connect();
const js = jetstream(nc);
const jsm: JetStreamManager = await jetstreamManager(nc);
const sql = postgres(db.url, { max: 2, onnotice: () => {} });
const stack = await startWritePath({
  natsUrl: nats.url,
  databaseUrl: db.urlAs("jpw_writer"),
  // An order for an unknown user is decided at its first delivery; the tests trim history themselves.
  consumerEnv: { CONSUMER_FK_RETRIES: "1", KEEPER_INTERVAL_MS: "3600000" },
  producerEnv: { WRITE_TIMEOUT_MS: "1500" },
});
const api = stack.producer.url;
const snapshots = makeTempDir("snapshots");
const empty = makeTempDir("no-snapshots");
const rebuilt: string[] = [];

interface Run {
  code: number;
  out: string;
}

/** The command line, as an operator runs it, against this file's servers. */
async function cli(script: "replay" | "snapshot", ...args: string[]): Promise<Run> {
  const common = ["--server", nats.url, "--database", db.url];
  const extra = script === "replay" && !args.includes("--snapshots") ? ["--snapshots", empty] : [];
  return promisify(execFile)(
    process.execPath,
    ["--import", "tsx", `ops/${script}.ts`, ...args, ...common, ...extra],
    // As the admin user, its credentials in the environment (as `just status` prints them).
    {
      env: { ...process.env, NO_COLOR: "1", NATS_USER: "admin", NATS_PASSWORD: nats.auth().pass },
      maxBuffer: 16 << 20,
    },
  ).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
  );
}

async function replayInto(name: string, ...args: string[]): Promise<Run> {
  rebuilt.push(name);
  return cli("replay", "--into", name, ...args);
}

const expectCode = (r: Run, code: number) => assert.is(r.code, code, `exit ${r.code}, output:\n${r.out}`);
const expectOut = (r: Run, pattern: RegExp) => assert.match(r.out, pattern, `${pattern} in:\n${r.out}`);

let n = 0;
const someone = (label = "Replayed") => {
  n++;
  return { name: `${label} ${n}`, email: `replayed${n}.${process.pid}@example.com` };
};
const order = (userId: string, price = "1.00") => ({
  userId,
  items: [{ productId: "p", quantity: 1, price }],
  total: price,
});
const command = (operationId: string, table: string, data: unknown) =>
  JSON.stringify({ operationId, table, op: "create", data, requestedAt: new Date().toISOString() });

/** Both writers have settled everything stored (their ack floor is the stream's end). */
async function settled(): Promise<void> {
  await until(
    async () => {
      for (const name of ["users-writer", "orders-writer"]) {
        const c = await jsm.consumers.info("WRITES", name);
        if (c.num_pending > 0 || c.num_ack_pending > 0) return false;
      }
      return true;
    },
    20_000,
    "the writers to settle",
  );
}

async function stored(filter: (m: StoredMsg) => boolean): Promise<StoredMsg[]> {
  const { first_seq, last_seq } = (await jsm.streams.info("WRITES")).state;
  const out: StoredMsg[] = [];
  for (let seq = Math.max(1, first_seq); seq <= last_seq; seq++) {
    const m = await jsm.streams.getMessage("WRITES", { seq }).catch(() => null);
    if (m && filter(m)) out.push(m);
  }
  return out;
}

/** A stored message's operationId (garbage has none). */
function idOf(m: StoredMsg): string | undefined {
  try {
    return m.json<{ operationId?: string }>().operationId;
  } catch {
    return undefined;
  }
}

/** The sequence of the (last) command of `operationId`. */
async function commandSeq(operationId: string): Promise<number> {
  const ms = await stored((m) => /^writes\.(users|orders)$/.test(m.subject) && idOf(m) === operationId);
  assert.ok(ms.length > 0, `a command of ${operationId}`);
  return ms[ms.length - 1]!.seq;
}

const rowsOf = (s: Sql, table: string) =>
  s
    .unsafe(`select id::text, to_jsonb(t)::text as row from ${table} t order by id`)
    .then((rs) => rs.map((r) => `${r.id} ${r.row}`));

async function sameRows(name: string): Promise<void> {
  const other = postgres(new URL(`/${name}`, db.url).toString(), { max: 1, onnotice: () => {} });
  try {
    for (const table of ["users", "orders"]) {
      assert.equal(await rowsOf(other, table), await rowsOf(sql, table), `${table} of ${name}`);
    }
  } finally {
    await other.end();
  }
}

async function rowIn(name: string, table: string, id: string): Promise<boolean> {
  const other = postgres(new URL(`/${name}`, db.url).toString(), { max: 1, onnotice: () => {} });
  try {
    return (await other.unsafe(`select 1 from ${table} where id = $1`, [id])).length === 1;
  } finally {
    await other.end();
  }
}

const faithful = suite("replay is faithful to what happened");
/** The operationIds the story refers back to. */
const ids = {} as Record<
  | "a"
  | "after"
  | "b"
  | "early"
  | "forward"
  | "forwardOrder"
  | "late"
  | "manual"
  | "orderA"
  | "poison"
  | "rejected"
  | "removed"
  | "slow"
  | "taken",
  string
>;

faithful(
  "a rebuild commits every command without a decision and answers the others with their logged one",
  async () => {
    const a = someone();
    ids.a = randomUUID();
    assert.is((await postJson(api, "/api/users", a, ids.a)).status, 201);
    ids.b = randomUUID();
    assert.is((await postJson(api, "/api/users", someone(), ids.b)).status, 201);
    ids.orderA = randomUUID();
    assert.is((await postJson(api, "/api/orders", order(ids.a), ids.orderA)).status, 201);

    // email-taken, and one key reused in both tables: an order under a user's key, a user under an order's.
    ids.taken = randomUUID();
    assert.is(
      (await postJson(api, "/api/users", { name: "Taken", email: a.email.toUpperCase() }, ids.taken)).status,
      409,
    );
    assert.is((await postJson(api, "/api/orders", order(ids.b), ids.a)).status, 422);
    assert.is((await postJson(api, "/api/users", someone(), ids.orderA)).status, 422);

    // Order before its user, in time: rejected live, though replay applies users first.
    ids.late = randomUUID();
    ids.early = randomUUID();
    assert.is((await postJson(api, "/api/orders", order(ids.late), ids.early)).status, 422);
    assert.is((await postJson(api, "/api/users", someone(), ids.late)).status, 201);

    // Order after its user in the stream, still rejected live: the users' writer had not applied it.
    await jsm.consumers.pause("WRITES", "users-writer", new Date(Date.now() + 60_000));
    ids.slow = randomUUID();
    assert.is((await postJson(api, "/api/users", someone(), ids.slow)).status, 202);
    ids.rejected = randomUUID();
    assert.is((await postJson(api, "/api/orders", order(ids.slow), ids.rejected)).status, 422);
    await jsm.consumers.resume("WRITES", "users-writer");

    // Dead letters: garbage, and a command whose data does not parse.
    await js.publish("writes.users", "not json at all");
    ids.poison = randomUUID();
    await js.publish(
      "writes.orders",
      command(ids.poison, "orders", { userId: ids.a, items: [], total: "0" }),
    );

    // The same command again after the dedup window (here: another message id) comes back duplicate.
    const again = await stored((m) => m.subject === "writes.users" && idOf(m) === ids.b);
    await js.publish("writes.users", again[0]!.data, { msgID: "after-the-dedup-window" });
    await settled();
    assert.ok((await sql`select 1 from users where id = ${ids.slow}`).length === 1, "the slow user landed");

    const r = await replayInto("replay_faithful");
    expectCode(r, 0);
    expectOut(r, /window: seq 1 \(/);
    expectOut(r, /users: 4 committed, 1 duplicate; not applied, decided live: .*1 email-taken/);
    expectOut(r, /users: .*1 key-reused/);
    expectOut(r, /users: .*1 failed/);
    expectOut(r, /orders: 1 committed, 0 duplicate; not applied, decided live: .*1 key-reused/);
    expectOut(r, /orders: .*2 user-not-found/);
    expectOut(r, /orders: .*1 failed/);
    expectOut(r, /faithful: every command without a decision committed/);
    await sameRows("replay_faithful");
    assert.not.ok(
      await rowIn("replay_faithful", "orders", ids.rejected),
      "the order told user-not-found stays rejected",
    );
    assert.not.ok(await rowIn("replay_faithful", "orders", ids.early));
  },
);

faithful(
  "a database that holds rows is refused, and --force answers every command there duplicate",
  async () => {
    const refused = await replayInto("replay_faithful");
    expectCode(refused, 2);
    expectOut(refused, /replay_faithful already holds 4 users and 1 orders/);
    const forced = await replayInto("replay_faithful", "--force");
    expectCode(forced, 0);
    expectOut(forced, /users: 0 committed, 5 duplicate/);
    await sameRows("replay_faithful");
  },
);

faithful("the live database itself is never a target", async () => {
  const r = await cli("replay", "--into", db.name);
  expectCode(r, 2);
  expectOut(r, /is the live database/);
});

faithful(
  "an order within the window whose user was created after the cut pulls that create forward",
  async () => {
    // Live: the order is stored first but waits (its writer paused); the user commits; the order commits.
    await jsm.consumers.pause("WRITES", "orders-writer", new Date(Date.now() + 60_000));
    ids.forward = randomUUID();
    ids.forwardOrder = randomUUID();
    await js.publish("writes.orders", command(ids.forwardOrder, "orders", order(ids.forward)));
    assert.is((await postJson(api, "/api/users", someone(), ids.forward)).status, 201);
    await jsm.consumers.resume("WRITES", "orders-writer");
    await settled();
    assert.ok((await sql`select 1 from orders where id = ${ids.forwardOrder}`).length === 1);

    const cut = await commandSeq(ids.forwardOrder);
    const r = await replayInto("replay_until", "--until", String(cut));
    expectCode(r, 0);
    expectOut(r, new RegExp(`to the cut at seq ${cut} \\(\\S+\\), --until`));
    expectOut(r, new RegExp(`pulled forward: the create of user ${ids.forward}`));
    assert.ok(await rowIn("replay_until", "orders", ids.forwardOrder));
    assert.ok(await rowIn("replay_until", "users", ids.forward));
  },
);

faithful.run();

const verify = suite("verify");

verify("clients writing through the producer while verify runs: exit 0, no differences", async () => {
  let writing = true;
  const answers: number[] = [];
  const client = async () => {
    while (writing) {
      const id = randomUUID();
      const u = await postJson(api, "/api/users", someone("Concurrent"), id);
      answers.push(u.status);
      answers.push((await postJson(api, "/api/orders", order(id, "2.50"))).status);
    }
  };
  const clients = [client(), client(), client()];
  const r = await cli("replay", "--verify");
  writing = false;
  await Promise.all(clients);
  expectCode(r, 0);
  expectOut(r, /the log and the database agree \(/);
  assert.not.match(r.out, /changed outside the log/);
  assert.ok(answers.length > 0, "clients wrote while verify ran");
  assert.ok(
    answers.every((s) => s === 201 || s === 202),
    `every write was accepted: ${answers.join(",")}`,
  );
  const scratch = await sql`select datname from pg_database where datname like 'jpw_verify_%'`;
  assert.is(scratch.length, 0, "the scratch database is dropped");
});

verify(
  "rows changed by manual SQL are listed as changed outside the log, with who and when: exit 0",
  async () => {
    await settled();
    await sql`update users set name = 'Changed by hand' where id = ${ids.a}`;
    ids.manual = randomUUID();
    await sql`insert into users (id, name, email) values (${ids.manual}, 'Typed in psql', ${`manual.${process.pid}@example.com`})`;
    await sql`delete from orders where id = ${ids.forwardOrder}`;
    const r = await cli("replay", "--verify");
    expectCode(r, 0);
    expectOut(r, /changed outside the log \(listed, not failures\): 3/);
    expectOut(
      r,
      new RegExp(
        `users ${ids.a}: changed outside the log: updated by postgres \\(postgres\\.js\\) at \\S+: name "Replayed \\d+" → "Changed by hand"`,
      ),
    );
    expectOut(r, new RegExp(`users ${ids.manual}: changed outside the log: inserted by postgres`));
    expectOut(r, new RegExp(`orders ${ids.forwardOrder}: changed outside the log: deleted by postgres`));
    expectOut(r, /the log and the database agree, except 3 row\(s\) changed outside the log/);
  },
);

verify("a row edited with the audit disabled is a failure the log does not explain: exit 1", async () => {
  const [before] = await sql`select name from users where id = ${ids.b}`;
  await sql.begin(async (tx) => {
    await tx`set local session_replication_role = replica`;
    await tx`update users set name = 'Nobody saw this' where id = ${ids.b}`;
  });
  const r = await cli("replay", "--verify");
  expectCode(r, 1);
  expectOut(r, /failures: 1 difference\(s\) the log does not explain/);
  expectOut(
    r,
    new RegExp(
      `users ${ids.b}: differs from what its command made, and no change outside the log was recorded: name "[^"]+" → "Nobody saw this"`,
    ),
  );
  expectOut(r, /the log and the database disagree: 1 failure\(s\)/);
  await sql.begin(async (tx) => {
    await tx`set local session_replication_role = replica`;
    await tx`update users set name = ${before!.name} where id = ${ids.b}`;
  });
});

verify.run();

const aged = suite("history that no longer reaches back");

aged("trimmed history is refused, naming the oldest retained command", async () => {
  const snap = await cli("snapshot", "--dir", snapshots);
  expectCode(snap, 0);
  expectOut(snap, /users, \d+ orders at the writers' ack floor \d+/);
  // History the snapshot holds ages out, as the history keeper trims it, with newer commands kept.
  ids.after = randomUUID();
  assert.is((await postJson(api, "/api/users", someone(), ids.after)).status, 201);
  await settled();
  const floor = Number(/at the writers' ack floor (\d+)/.exec(snap.out)![1]);
  await jsm.streams.purge("WRITES", { seq: floor + 1 });
  const first = await stored((m) => /^writes\.(users|orders)$/.test(m.subject));

  const r = await replayInto("replay_aged");
  expectCode(r, 2);
  expectOut(
    r,
    new RegExp(
      `refused: history no longer reaches back: WRITES was trimmed \\(it starts at seq ${floor + 1}\\)`,
    ),
  );
  expectOut(r, /the database holds \d+ row\(s\) made before the oldest retained command/);
  expectOut(
    r,
    new RegExp(
      `The oldest retained command is seq ${first[0]!.seq} \\(stored \\S+, operationId ${idOf(first[0]!)}\\)`,
    ),
  );
  expectOut(r, /There is no snapshot in .* to start from: take them with just snapshot/);
});

aged(
  "with a snapshot, the database is rebuilt from it plus the history after its floor, and verifies",
  async () => {
    const r = await replayInto("replay_aged", "--snapshots", snapshots);
    expectCode(r, 0);
    expectOut(r, /starting from the snapshot .* because WRITES was trimmed/);
    assert.ok(await rowIn("replay_aged", "users", ids.after), "the command after the snapshot is applied");
    assert.ok(await rowIn("replay_aged", "users", ids.a), "rows from before come from the snapshot");
    const v = await cli("replay", "--verify", "--snapshots", snapshots);
    expectCode(v, 0);
    // The manual changes were made before the snapshot: it holds them, so nothing differs.
    expectOut(v, /the log and the database agree \(/);
    const list = await cli("snapshot", "list", "--dir", snapshots);
    expectOut(list, /1 snapshot\(s\) in /);
  },
);

aged.run();

const tampered = suite("history tampered with");

tampered("a command removed from history leaves its row without a command: a failure, exit 1", async () => {
  ids.removed = randomUUID();
  assert.is((await postJson(api, "/api/users", someone(), ids.removed)).status, 201);
  await settled();
  const seq = await commandSeq(ids.removed);
  await jsm.streams.deleteMessage("WRITES", seq);
  const r = await cli("replay", "--verify", "--snapshots", snapshots);
  expectCode(r, 1);
  expectOut(r, new RegExp(`removed from history: seq ${seq} `));
  expectOut(
    r,
    new RegExp(
      `users ${ids.removed}: no command in the window made it, and no change outside the log was recorded`,
    ),
  );
});

tampered(
  "a command whose decision was removed does not commit in the rebuild: a fidelity failure with its seq and operationId",
  async () => {
    const taken = randomUUID();
    const [b] = await sql`select email from users where id = ${ids.b}`;
    assert.is(
      (await postJson(api, "/api/users", { name: "Taken again", email: b!.email }, taken)).status,
      409,
    );
    await settled();
    const seq = await commandSeq(taken);
    const [decision] = await stored(
      (m) => m.subject === "writes.outcomes.users" && m.json<{ commandSeq: number }>().commandSeq === seq,
    );
    await jsm.streams.deleteMessage("WRITES", decision!.seq);
    const r = await replayInto("replay_tampered", "--snapshots", snapshots);
    expectCode(r, 1);
    expectOut(r, /fidelity failures: 1 command\(s\) without a decision did not commit/);
    expectOut(
      r,
      new RegExp(
        `seq ${seq} users ${taken}: comes back email-taken in the rebuild, yet no decision was logged for it`,
      ),
    );
  },
);

tampered.after(async () => {
  for (const name of rebuilt) await sql.unsafe(`drop database if exists ${name} with (force)`);
  await sql.end();
  await stack[Symbol.asyncDispose]();
  await nc.close();
  removeTempDir(snapshots);
  removeTempDir(empty);
  await db.drop();
  await pg[Symbol.asyncDispose]();
  await nats[Symbol.asyncDispose]();
});

tampered.run();
