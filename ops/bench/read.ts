// Cached GET /api/users/:id throughput of the reader against a baseline that reads Postgres
// directly, both behind the same runtime adapter and router, measured with wrk in the same run.
// Rounds alternate reader and baseline so drift on a shared machine hits both alike; the ratio
// is the median of the per-round ratios.
//
//   tsx ops/bench/read.ts [--duration 8] [--rounds 3]
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { startNats } from "../../services/testing/nats.ts";
import { startPostgres } from "../../services/testing/postgres.ts";
import { makeTempDir } from "../../services/testing/process.ts";
import { startReader } from "../../services/testing/reader.ts";
import { startRedis } from "../../services/testing/redis.ts";
import { startService } from "../../services/testing/service.ts";
import { applyStreams } from "../../services/testing/streams.ts";
import { parseCommandLine } from "../lib/args.ts";
import { runWrk, socketErrors, type WrkResult } from "./lib.ts";
import { percentile, say, writeArtifact, wrkScript } from "./read-lib.ts";

const { values: opts } = parseCommandLine(
  { options: { duration: { type: "string" }, rounds: { type: "string" } } },
  "usage: tsx ops/bench/read.ts [--duration 8] [--rounds 3]",
);
const seconds = Number(opts.duration ?? 8);
const rounds = Number(opts.rounds ?? 3);
const users = 1000;
const connections = Number(process.env.JPW_BENCH_CONNECTIONS ?? 32);

say("starting nats, postgres, redis");
await using nats = await startNats({ own: true });
await applyStreams(nats.url);
await using pg = await startPostgres({ own: true });
await using redisServer = await startRedis({ own: true });
await using db = await pg.createDatabase("bench_read");
const sql = postgres(db.url, { max: 1, onnotice: () => {} });
const ids = Array.from({ length: users }, () => crypto.randomUUID());
await sql`insert into users ${sql(ids.map((id, i) => ({ id, name: `User ${i}`, email: `user${i}@example.com` })))}`;
await sql.end();

const env = { DATABASE_URL: db.urlAs("jpw_reader"), LOG_LEVEL: "warn" };
await using reader = await startReader({ nats, db, redis: redisServer });
await using baseline = await startService({
  entry: "ops/bench/read-baseline.ts",
  name: "read-baseline",
  env: { ...env, LOG_LEVEL: "info" },
});

const dir = makeTempDir("bench-read");
const script = join(dir, "users.lua");
writeFileSync(script, wrkScript(ids.map((id) => `/api/users/${id}`)));

say(`filling the cache with ${users} users`);
for (const id of ids) {
  const res = await fetch(`${reader.url}/api/users/${id}`);
  await res.text();
}
const check = await fetch(`${reader.url}/api/users/${ids[0]}`);
await check.text();
if (check.headers.get("x-cache") !== "hit")
  throw new Error(`expected a cache hit, got ${check.headers.get("x-cache")}`);

const run = (url: string, durationS = seconds) => runWrk({ url, script, connections, durationS });
say("warming up both services");
await run(reader.url, 2);
await run(baseline.url, 2);

const results: { reader: WrkResult; baseline: WrkResult; ratio: number }[] = [];
for (let r = 0; r < rounds; r++) {
  const cached = await run(reader.url);
  const direct = await run(baseline.url);
  for (const [name, w] of [
    ["reader", cached],
    ["baseline", direct],
  ] as const) {
    if (socketErrors(w) || w.errors.status)
      throw new Error(`${name}: ${socketErrors(w)} socket errors, ${w.errors.status} non-2xx answers`);
  }
  const ratio = cached.rps / direct.rps;
  results.push({ reader: cached, baseline: direct, ratio });
  say(
    `round ${r + 1}: reader ${cached.rps.toFixed(0)} req/s (p99 ${(cached.p99Us / 1000).toFixed(2)} ms), ` +
      `baseline ${direct.rps.toFixed(0)} req/s (p99 ${(direct.p99Us / 1000).toFixed(2)} ms), ratio ${ratio.toFixed(2)}`,
  );
}
const ratio = percentile(
  results.map((r) => r.ratio).sort((a, b) => a - b),
  50,
);
const hits = await (await fetch(`${reader.url}/metrics`)).text();
const file = writeArtifact("read", {
  at: new Date().toISOString(),
  route: "GET /api/users/:id (random among 1000 cached users)",
  wrk: { connections, threads: 1, secondsPerRun: seconds, rounds },
  rounds: results,
  ratio: Math.round(ratio * 100) / 100,
  target: 1.0,
  readerCacheCounters: hits.split("\n").filter((l) => l.startsWith("jpw_reader_cache_requests_total{")),
});
say(`wrote ${file}`);
console.log(`read: throughput ratio ${ratio.toFixed(2)}`);
