// Commit → cache-invalidated latency through the real pipeline: Postgres WAL → Debezium Server →
// JetStream CDC → the reader (a separate process) → Redis. Each change is one committed UPDATE;
// its latency is the reader's own measure (source.ts_us, the commit time, to the moment Redis
// applied the invalidation), read from the reader's /api/events stream. One change at a time, so
// this is the latency of a change, not of a queue.
//
//   tsx ops/bench/cdc.ts [--changes 1000]        (JPW_BENCH_CDC_POLL_MS to try other poll intervals)
import postgres from "postgres";
import { versions } from "../../services/infra/versions.ts";
import { debeziumDefaults } from "../../services/shared/cdc.ts";
import { startDebezium } from "../../services/testing/debezium.ts";
import { startNats } from "../../services/testing/nats.ts";
import { startPostgres } from "../../services/testing/postgres.ts";
import { startReader } from "../../services/testing/reader.ts";
import { startRedis } from "../../services/testing/redis.ts";
import { applyStreams } from "../../services/testing/streams.ts";
import { parseCommandLine } from "../lib/args.ts";
import { readEvents, say, summarize, writeArtifact } from "./read-lib.ts";

const { values: opts } = parseCommandLine(
  { options: { changes: { type: "string" } } },
  "usage: tsx ops/bench/cdc.ts [--changes 1000]",
);
const changes = Number(opts.changes ?? 1000);
const warmup = 100;
const pollMs = Number(process.env.JPW_BENCH_CDC_POLL_MS ?? debeziumDefaults.pollMs);
const started = Date.now();

say("starting nats, postgres, redis");
await using nats = await startNats({ own: true });
await applyStreams(nats.url);
await using pg = await startPostgres({ own: true });
await using redisServer = await startRedis({ own: true });
await using db = await pg.createDatabase("bench_cdc");
say("starting Debezium Server (JVM cold start)");
await using debezium = await startDebezium({ natsUrl: nats.url, db, pollMs });
const coldStartMs = debezium.lastStartMs;
say(`Debezium streaming after ${coldStartMs} ms`);
await using reader = await startReader({ nats, db, redis: redisServer });

const sql = postgres(db.url, { max: 1, onnotice: () => {} });
const id = crypto.randomUUID();
await sql`insert into users (id, name, email) values (${id}, 'bench', 'bench@example.com')`;

// Changes go one at a time, so the next "u" event is the one for the change in flight.
let pending: ((latencyMs: number) => void) | undefined;
const abort = new AbortController();
await readEvents(
  `${reader.url}/api/events`,
  (e) => {
    if (e.op !== "u" || !pending) return;
    const done = pending;
    pending = undefined;
    done(Number(e.latencyMs));
  },
  abort.signal,
);

async function change(i: number): Promise<{ latencyMs: number; clientMs: number }> {
  const t0 = performance.now();
  const seen = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`change ${i} was not invalidated within 30 s`)), 30_000);
    pending = (ms) => {
      clearTimeout(timer);
      resolve(ms);
    };
  });
  await sql`update users set name = ${`bench ${i}`} where id = ${id}`;
  const latencyMs = await seen;
  return { latencyMs, clientMs: performance.now() - t0 };
}

say(`warming up with ${warmup} changes`);
for (let i = 0; i < warmup; i++) await change(i);
say(`measuring ${changes} changes, one at a time`);
const latencies: number[] = [];
const client: number[] = [];
for (let i = 0; i < changes; i++) {
  const r = await change(warmup + i);
  latencies.push(r.latencyMs);
  client.push(r.clientMs);
  if ((i + 1) % 250 === 0) say(`${i + 1}/${changes}`);
}
abort.abort();
await sql.end();

const commitToInvalidated = summarize(latencies);
const file = writeArtifact("cdc", {
  at: new Date().toISOString(),
  changes,
  warmup,
  debezium: { version: versions.debezium, pollIntervalMs: pollMs, coldStartMs },
  commitToInvalidatedMs: commitToInvalidated,
  // From the client's UPDATE call to the event arriving at the client: adds the commit round trip
  // and the SSE hop, an upper bound measured on one clock.
  clientRoundTripMs: summarize(client),
  targets: { p50Ms: 30, p99Ms: 100 },
  wallSeconds: (Date.now() - started) / 1000,
});
say(`wrote ${file}`);
console.log(`cdc: p50 ${commitToInvalidated.p50} ms, p99 ${commitToInvalidated.p99} ms`);
