// The pool every service uses, against a real Postgres behind a link that keeps breaking: every
// statement settles (answered or failed), and the pool answers again once the link holds.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { until } from "../infra/until.ts";
import { startPostgres } from "../testing/postgres.ts";
import { startTcpProxy } from "../testing/tcp-proxy.ts";
import { StatementDeadlineError, settlingPool } from "./pg.ts";

test("statements on a pool whose connections are reset again and again all settle, and it answers afterwards", async () => {
  await using pg = await startPostgres({ own: true });
  const db = await pg.createDatabase("settling");
  const url = new URL(db.url);
  await using link = await startTcpProxy({ target: { port: Number(url.port) } });
  url.port = String(link.port);
  let replaced = 0;
  const sql = settlingPool(
    url.toString(),
    { max: 8, connect_timeout: 2, onnotice: () => {} },
    { deadlineMs: 4000, onReplace: () => replaced++ },
  );
  const pending = new Set<number>();
  let answered = 0;
  let failed = 0;
  let stop = false;
  // Eight clients with a statement always in flight, as the consumer's writers have.
  const clients = Array.from({ length: 8 }, async (_, c) => {
    for (let i = 0; !stop; i++) {
      const id = c * 1_000_000 + i;
      pending.add(id);
      try {
        await sql`select pg_sleep(0.01), ${id}::int as id`;
        answered++;
      } catch {
        failed++;
      } finally {
        pending.delete(id);
      }
    }
  });
  // postgres.js 3.4.9 wedged a connection after one such reset (a statement that never settled).
  for (let round = 0; round < 6; round++) {
    await new Promise((r) => setTimeout(r, 600));
    link.setMode({ kind: "reset" });
    await new Promise((r) => setTimeout(r, 150));
    link.setMode({ kind: "pass" });
  }
  stop = true;
  await until(() => pending.size === 0, 60_000, "every statement to settle").catch(() => {});
  assert.is(pending.size, 0, `statements that never settled: ${pending.size}`);
  await Promise.all(clients);
  assert.ok(answered > 0 && failed > 0, `answered ${answered}, failed ${failed}`);
  const [row] = await until(
    async () => await sql<{ n: number }[]>`select 42 as n`,
    30_000,
    "the pool to answer",
  );
  assert.is(row?.n, 42);
  await sql.end({ timeout: 1 });
  await db.drop();
  void replaced;
});

test("a statement past its deadline fails as a lost connection, and the next goes to a new pool", async () => {
  await using pg = await startPostgres({ own: true });
  const db = await pg.createDatabase("deadline");
  const url = new URL(db.url);
  await using link = await startTcpProxy({ target: { port: Number(url.port) } });
  url.port = String(link.port);
  const reasons: string[] = [];
  const sql = settlingPool(
    url.toString(),
    { max: 2, connect_timeout: 2, onnotice: () => {} },
    { deadlineMs: 1500, onReplace: (r) => reasons.push(r) },
  );
  assert.is((await sql`select 1 as n`)[0]?.n, 1);
  // A link that holds every byte: the statement is sent and nothing ever comes back.
  link.setMode({ kind: "blackhole" });
  const err = await sql`select 2 as n`.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(err, StatementDeadlineError);
  assert.is((err as StatementDeadlineError).code, "CONNECTION_DESTROYED");
  assert.is(reasons.length, 1);
  link.setMode({ kind: "pass" });
  assert.is((await sql.unsafe("select 3 as n"))[0]?.n, 3);
  await sql.end({ timeout: 1 });
  await db.drop();
});

test.run();
