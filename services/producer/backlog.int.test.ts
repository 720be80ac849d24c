// Backpressure on the backlog: with the writers stopped, writes queue up to each writer's declared
// bound (jpw.backlog.max_msgs), then answer 503 backlog-full with Retry-After before anything is
// published; every accepted write lands once the writers are back. With several producers the
// bound is overshot by at most what the others publish within one refresh interval.

import { setTimeout as sleep } from "node:timers/promises";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import postgres from "postgres";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { until } from "../infra/until.ts";
import { UnavailableError } from "../shared/errors.ts";
import { createLogger } from "../shared/log.ts";
import { startNats } from "../testing/nats.ts";
import { startPostgres } from "../testing/postgres.ts";
import { startService } from "../testing/service.ts";
import { applyStreams } from "../testing/streams.ts";
import { type Answer, postJson, startWritePath } from "../testing/write-path.ts";
import { Backlog } from "./backlog.ts";

const bound = 20;
const nats = await startNats({ own: true });
const pg = await startPostgres();
const db = await pg.createDatabase("backlog");
const sql = postgres(db.url, { max: 1, onnotice: () => {} });
const nc = await connect({ servers: nats.url, ...nats.auth() });

let serial = 0;
const someone = () => {
  serial++;
  return { name: `Queued ${serial}`, email: `queued${serial}.${process.pid}@example.com` };
};
const rows = async (keys: string[]) =>
  (await sql`select count(*)::int as n from users where id = any(${keys}::uuid[])`)[0]!.n as number;

/** POSTs users one at a time until the first refusal; resolves with the accepted keys and it. */
async function untilRefused(api: string, max: number): Promise<{ accepted: string[]; refusal: Answer }> {
  const accepted: string[] = [];
  for (let i = 0; i < max; i++) {
    const r = await postJson(api, "/api/users", someone());
    if (r.status !== 202) return { accepted, refusal: r };
    accepted.push(r.body.operationId as string);
  }
  throw new Error(`no refusal after ${max} writes`);
}

const backlog = suite("the backlog bound");

backlog.before(async () => {
  await applyStreams(nats.url, undefined, { JPW_BACKLOG_MAX_MSGS: String(bound) });
});

backlog(
  "with the writer stopped, writes queue up to the bound, then 503 backlog-full with Retry-After; all land after a restart",
  async () => {
    // WRITE_TIMEOUT_MS 0: an accepted write answers 202 at once.
    await using stack = await startWritePath({
      natsUrl: nats.url,
      databaseUrl: db.urlAs("jpw_writer"),
      producerEnv: { WRITE_TIMEOUT_MS: "0" },
    });
    const api = stack.producer.url;
    assert.is(await stack.consumer.stop(), 0);
    const { accepted, refusal } = await untilRefused(api, 3 * bound);
    assert.is(accepted.length, bound);
    assert.is(refusal.status, 503);
    assert.is(refusal.headers.get("content-type"), "application/problem+json");
    assert.is(refusal.body.type, "/problems/backlog-full");
    assert.ok(Number(refusal.headers.get("retry-after")) >= 1);
    assert.match(refusal.body.detail as string, new RegExp(`jpw.backlog.max_msgs = ${bound}`));
    assert.ok(refusal.body.operationId);
    const info = await (await jetstreamManager(nc)).consumers.info("WRITES", "users-writer");
    assert.is(info.num_pending, bound, "the refused write was not published");
    // The other writer has a bound of its own.
    const order = await postJson(api, "/api/orders", {
      userId: accepted[0],
      items: [{ productId: "p", quantity: 1, price: "1.00" }],
      total: "1.00",
    });
    assert.is(order.status, 202);

    await stack.restartConsumer();
    await until(async () => (await rows(accepted)) === bound, 30_000, "every accepted write to land");
    await until(
      async () => (await postJson(api, "/api/users", someone())).status === 201,
      10_000,
      "writes to be taken again",
    );
  },
);

backlog(
  "two producers overshoot the bound by at most what the other publishes between its reads, and every accepted write lands",
  async () => {
    // One read of the backlog each for the whole test: each producer sees only its own publishes.
    const env = { WRITE_TIMEOUT_MS: "0", BACKLOG_REFRESH_MS: "600000" };
    await using stack = await startWritePath({
      natsUrl: nats.url,
      databaseUrl: db.urlAs("jpw_writer"),
      producerEnv: env,
    });
    await using second = await startService({
      entry: "services/producer/main.ts",
      name: "producer-2",
      env: { ...nats.env("producer"), DATABASE_URL: db.urlAs("jpw_producer"), ...env },
    });
    await until(async () => (await fetch(`${second.url}/readyz`)).ok, 20_000, "the second producer");
    assert.is(await stack.consumer.stop(), 0);
    const producers = [stack.producer.url, second.url];
    const accepted: string[][] = [[], []];
    const refused = [false, false];
    // Alternate between the producers, each until it refuses.
    while (refused.includes(false)) {
      for (const p of [0, 1]) {
        if (refused[p]) continue;
        const r = await postJson(producers[p]!, "/api/users", someone());
        if (r.status === 202) accepted[p]!.push(r.body.operationId as string);
        else {
          assert.is(r.body.type, "/problems/backlog-full");
          refused[p] = true;
        }
      }
    }
    // The first producer read an empty backlog, the second one write: each stopped at the bound
    // by its own count, so together they overshot by what the other published meanwhile.
    assert.equal(
      accepted.map((a) => a.length),
      [bound, bound - 1],
    );
    const all = accepted.flat();
    assert.ok(all.length <= 2 * bound);
    await stack.restartConsumer();
    await until(async () => (await rows(all)) === all.length, 30_000, "every accepted write to land");
  },
);

backlog(
  "without the writer's consumer a write is 503 naming just streams apply, and nothing is published",
  async () => {
    await using stack = await startWritePath({
      natsUrl: nats.url,
      databaseUrl: db.urlAs("jpw_writer"),
      producerEnv: { BACKLOG_REFRESH_MS: "50" },
    });
    const jsm = await jetstreamManager(nc);
    await jsm.consumers.delete("WRITES", "users-writer");
    await until(
      async () => (await postJson(stack.producer.url, "/api/users", someone())).status === 503,
      10_000,
      "the producer to notice",
    );
    const before = (await jsm.streams.info("WRITES")).state.last_seq;
    const r = await postJson(stack.producer.url, "/api/users", someone());
    assert.is(r.status, 503);
    assert.is(r.body.type, "/problems/unavailable");
    assert.match(r.body.detail as string, /consumer WRITES\/users-writer not found: run just streams apply/);
    assert.is((await jsm.streams.info("WRITES")).state.last_seq, before, "nothing was published");
    await applyStreams(nats.url, undefined, { JPW_BACKLOG_MAX_MSGS: String(bound) });
  },
);

backlog(
  "a reading that goes unanswered (a consumer's leader being elected) admits on the last reading for a while, then refuses",
  async () => {
    // The default bound: what the tests above left queued stays well below it.
    await applyStreams(nats.url);
    const log = createLogger("backlog-test", "error");
    const stale = 1500;
    const jsm = await jetstreamManager(nc, { timeout: 300 });
    const b = new Backlog(async () => jsm, log, {
      refreshMs: 10,
      staleMs: stale,
    });
    await b.admit("users");
    // SIGSTOP: the server holds the connection and answers nothing, as a dead leader does.
    const pid = nats.pid ?? 0;
    process.kill(pid, "SIGSTOP");
    try {
      await sleep(50);
      await b.admit("users");
      await sleep(stale);
      const refused = await b.admit("users").then(
        () => undefined,
        (err: Error) => err,
      );
      assert.instance(refused, UnavailableError);
      assert.match(refused?.message ?? "", /cannot read the backlog of users-writer/);
    } finally {
      process.kill(pid, "SIGCONT");
    }
    await until(() => b.admit("users").then(() => true), 10_000, "a fresh reading");
  },
);

backlog.after(async () => {
  await nc.close();
  await sql.end();
  await db.drop();
  await pg[Symbol.asyncDispose]();
  await nats[Symbol.asyncDispose]();
});

backlog.run();
