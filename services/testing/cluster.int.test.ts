// The write path on a three-node NATS cluster with R3 streams, two producers and two consumers: the
// node that leads WRITES is killed while clients write and started again a few seconds later.
// Nothing confirmed is lost, nothing is applied twice, and writes succeed again without a hand.
// No timing is asserted (the figures are `just verify --cluster`'s): only generous deadlines.
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { jetstreamManager } from "@nats-io/jetstream";
import postgres from "postgres";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { until } from "../infra/until.ts";
import { startNatsCluster } from "./nats.ts";
import { startPostgres } from "./postgres.ts";
import { applyStreams } from "./streams.ts";
import { postJson, startWritePath } from "./write-path.ts";

const cluster = await startNatsCluster(3);
const pg = await startPostgres();
const db = await pg.createDatabase("cluster");
const sql = postgres(db.url, { max: 2, onnotice: () => {} });
const admin = await cluster.connect();

const test = suite("the write path on a NATS cluster");

test.before(async () => {
  await applyStreams(cluster.url, undefined, { JPW_REPLICAS: "3", JPW_CDC_PERSIST_MODE: "default" });
});

interface Sent {
  key: string;
  name: string;
  statuses: number[];
}

test("killing the WRITES leader's node loses no confirmed write, applies none twice, and writes flow again", async () => {
  const paths = [
    await startWritePath({ natsUrl: cluster.url, databaseUrl: db.urlAs("jpw_writer") }),
    await startWritePath({ natsUrl: cluster.url, databaseUrl: db.urlAs("jpw_writer") }),
  ];
  try {
    const producers = paths.map((p) => p.producer.url);
    const tag = randomUUID().slice(0, 8);
    const sent: Sent[] = [];
    let phase: "before" | "after" = "before";
    let afterOk = 0;
    let stop = false;
    // A client: one write at a time, alternating producers; what it could not tell (503, 202 and
    // no answer) it retries once with the same key, as the API tells clients to.
    const client = async (c: number) => {
      for (let i = 0; !stop; i++) {
        const w: Sent = { key: randomUUID(), name: `Cluster ${tag} ${c}.${i}`, statuses: [] };
        sent.push(w);
        const body = { name: w.name, email: `c${c}.${i}.${tag}@example.com` };
        for (let attempt = 0; attempt < 2; attempt++) {
          const api = producers[(i + attempt + c) % producers.length]!;
          const r = await postJson(api, "/api/users", body, w.key).catch(() => ({ status: 0 }));
          w.statuses.push(r.status);
          if (r.status === 201) {
            if (phase === "after") afterOk++;
            break;
          }
          await sleep(200);
        }
      }
    };
    const clients = [0, 1, 2, 3].map(client);

    await until(
      () => sent.filter((w) => w.statuses.includes(201)).length >= 20,
      30_000,
      "writes before the kill",
    );
    const jsm = await jetstreamManager(admin);
    const leader = (await jsm.streams.info("WRITES")).cluster?.leader ?? "";
    const node = cluster.node(leader);
    await node.kill();
    await sleep(3000);
    await node.start();
    phase = "after";
    await until(() => afterOk >= 20, 60_000, "writes to succeed again after the leader's node came back");
    stop = true;
    await Promise.all(clients);

    // Every accepted command settles: nothing pending once the writers drain.
    await until(
      async () => {
        for (const c of ["users-writer", "orders-writer"]) {
          const i = await jsm.consumers.info("WRITES", c);
          if (i.num_pending + i.num_ack_pending > 0) return false;
        }
        return true;
      },
      60_000,
      "the writers to drain",
    );
    const rows = await sql<{ id: string; name: string }[]>`
      select id::text, name from users where name like ${`Cluster ${tag} %`}`;
    const byId = new Map(rows.map((r) => [r.id, r.name]));
    const confirmed = sent.filter((w) => w.statuses.includes(201));
    for (const w of confirmed) assert.is(byId.get(w.key), w.name, `the 201 for ${w.key} has its row`);
    // One row per key at most, and no row that no write asked for: nothing applied twice.
    assert.is(new Set(rows.map((r) => r.name)).size, rows.length, "no name was applied twice");
    const keys = new Set(sent.map((w) => w.key));
    for (const r of rows) assert.ok(keys.has(r.id), `row ${r.id} belongs to a write`);
    assert.ok(afterOk >= 20, "writes succeed after the kill");
  } finally {
    for (const p of paths) await p[Symbol.asyncDispose]();
  }
});

test.after(async () => {
  await admin.close();
  await sql.end();
  await db.drop();
  await pg[Symbol.asyncDispose]();
  await cluster[Symbol.asyncDispose]();
});

test.run();
