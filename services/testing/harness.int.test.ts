import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import postgres from "postgres";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { migrationsDir } from "../infra/migrate.ts";
import { startNats } from "./nats.ts";
import { startPostgres } from "./postgres.ts";
import { ServerProcess, waitReady } from "./process.ts";
import { ping, startRedis } from "./redis.ts";
import { testSecrets } from "./secrets.ts";

const isAlive = (pid: number | undefined) => {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const nats = suite("startNats");

nats("gives a JetStream-enabled server a client can reach, with fsync on every write", async () => {
  await using server = await startNats({ own: true });
  const nc = await connect({ servers: server.url, ...server.auth() });
  const jsm = await jetstreamManager(nc);
  const info = await jsm.getAccountInfo();
  assert.ok((info.api.level ?? 0) >= 2, "nats-server 2.12+ (API level 2+)");
  const varz = (await (await fetch(`${server.monitorUrl}/varz`)).json()) as {
    jetstream: { config: { sync_always?: boolean } };
  };
  assert.is(varz.jetstream.config.sync_always, true);
  await nc.close();
});

nats("two servers run side by side on their own ports", async () => {
  await using a = await startNats({ own: true });
  await using b = await startNats({ own: true });
  assert.is.not(a.url, b.url);
});

nats("restart keeps the port and the stored messages", async () => {
  await using server = await startNats({ own: true });
  const url = server.url;
  let nc = await connect({ servers: url, ...server.auth() });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "KEEP", subjects: ["keep.>"] });
  await nc.publish("keep.a", "x");
  await nc.flush();
  await nc.close();
  await server.restart();
  assert.is(server.url, url);
  nc = await connect({ servers: server.url, ...server.auth() });
  const info = await (await jetstreamManager(nc)).streams.info("KEEP");
  assert.is(info.state.messages, 1);
  await nc.close();
});

nats("stop leaves no process and no temp folder behind", async () => {
  const server = await startNats({ own: true });
  const pid = server.pid;
  assert.ok(isAlive(pid));
  await server[Symbol.asyncDispose]();
  assert.not.ok(isAlive(pid));
});

nats("NATS_URL makes it reuse a running server instead of starting one", async () => {
  await using real = await startNats({ own: true });
  process.env.NATS_URL = real.url;
  try {
    await using reused = await startNats();
    assert.ok(reused.reused);
    assert.is(reused.url, real.url);
    const refused = await reused.restart().then(
      () => undefined,
      (err: Error) => err,
    );
    assert.match(refused?.message ?? "", /unset NATS_URL/);
  } finally {
    delete process.env.NATS_URL;
  }
});

nats.run();

const pg = suite("startPostgres");

pg("runs as the postgres user with logical WAL and a migrated template", async () => {
  await using server = await startPostgres({ own: true });
  const uid = readFileSync(`/proc/${server.pid}/status`, "utf8").match(/^Uid:\s+(\d+)/m)?.[1];
  if (process.getuid?.() === 0) assert.is.not(uid, "0", "postgres must not run as root");
  await using db = await server.createDatabase();
  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  const [setting] = await sql`show wal_level`;
  assert.is(setting?.wal_level, "logical");
  const migrations = await sql`select file from schema_migrations order by version`;
  assert.equal(
    migrations.map((r) => r.file),
    readdirSync(migrationsDir)
      .filter((f) => f.endsWith(".sql"))
      .sort(),
  );
  await sql.end();
});

pg("each suite gets a fresh, isolated database", async () => {
  await using server = await startPostgres({ own: true });
  await using a = await server.createDatabase();
  await using b = await server.createDatabase();
  assert.is.not(a.name, b.name);
  const sa = postgres(a.url, { max: 1, onnotice: () => {} });
  const sb = postgres(b.url, { max: 1, onnotice: () => {} });
  await sa`insert into users (id, name, email) values (gen_random_uuid(), 'Ada', 'ada@example.com')`;
  const [inA] = await sa`select count(*)::int as n from users`;
  const [inB] = await sb`select count(*)::int as n from users`;
  assert.is(inA!.n, 1);
  assert.is(inB!.n, 0);
  await sa.end();
  await sb.end();
});

pg("stop and start keep the port and the data", async () => {
  await using server = await startPostgres({ own: true });
  await using db = await server.createDatabase();
  let sql = postgres(db.url, { max: 1, onnotice: () => {} });
  await sql`insert into users (id, name, email) values (gen_random_uuid(), 'Ada', 'ada@example.com')`;
  await sql.end();
  const port = server.port;
  await server.stop();
  await server.start();
  assert.is(server.port, port);
  sql = postgres(db.url, { max: 1, onnotice: () => {} });
  const [row] = await sql`select count(*)::int as n from users`;
  assert.is(row!.n, 1);
  await sql.end();
});

pg(
  "DATABASE_URL makes it reuse a running server: fresh migrated databases on it, nothing left behind",
  async () => {
    await using real = await startPostgres({ own: true });
    // The superuser comes in the URL; the services' roles from the stack's secrets folder.
    process.env.DATABASE_URL = real.url;
    process.env.JPW_SECRETS_DIR = testSecrets().dir;
    try {
      const reused = await startPostgres();
      assert.ok(reused.reused);
      const db = await reused.createDatabase();
      const sql = postgres(db.url, { max: 1, onnotice: () => {} });
      const [row] = await sql`select count(*)::int as n from schema_migrations`;
      assert.ok(row!.n >= 1, "the database is migrated");
      await sql.end();
      const reader = postgres(db.urlAs("jpw_reader"), { max: 1, onnotice: () => {} });
      assert.is((await reader`select count(*)::int as n from users`)[0]!.n, 0, "the reader's role logs in");
      await reader.end();
      await db.drop();
      await reused[Symbol.asyncDispose]();
      const admin = postgres(real.url, { max: 1, onnotice: () => {} });
      const left =
        await admin`select datname from pg_database where datname like 'jpw_template_%' or datname = ${db.name}`;
      await admin.end();
      assert.equal(
        left.map((r) => r.datname),
        [],
        "its template and test database are gone",
      );
    } finally {
      delete process.env.DATABASE_URL;
      delete process.env.JPW_SECRETS_DIR;
    }
  },
);

pg.run();

const redis = suite("startRedis");

redis("answers PING, and two run side by side", async () => {
  await using a = await startRedis({ own: true });
  await using b = await startRedis({ own: true });
  assert.is.not(a.port, b.port);
  assert.ok(await ping(a.port));
  assert.ok(await ping(b.port));
});

redis("stop closes the port; start brings it back on the same one", async () => {
  await using server = await startRedis({ own: true });
  await server.stop();
  assert.not.ok(await ping(server.port));
  await server.start();
  assert.ok(await ping(server.port));
});

redis("REDIS_URL makes it reuse a running server, on a database index of its own", async () => {
  await using real = await startRedis({ own: true });
  process.env.REDIS_URL = real.url;
  try {
    await using reused = await startRedis();
    assert.ok(reused.reused);
    assert.is(reused.port, real.port);
    // As admin, as given (REDIS_URL carries the password).
    assert.match(reused.url, /^redis:\/\/admin:[\w-]+@127\.0\.0\.1:\d+\/([1-9]|1[0-5])$/);
  } finally {
    delete process.env.REDIS_URL;
  }
});

redis.run();

const lifecycle = suite("harness lifecycle");

lifecycle("a server that never gets ready fails within its deadline and is stopped", async () => {
  const proc = new ServerProcess({ name: "sleeper", cmd: "sleep", args: ["60"] });
  const started = Date.now();
  try {
    await waitReady(proc, "sleeper", async () => false, 500);
    assert.unreachable("waitReady should have thrown");
  } catch (err) {
    assert.match((err as Error).message, /sleeper not ready after 500 ms/);
  }
  assert.ok(Date.now() - started < 5000);
  assert.not.ok(proc.running);
});

lifecycle("a test process that exits without cleaning up leaves no processes or temp folders", async () => {
  // A child starts all three servers and exits abruptly; the harness's exit handler must reap them.
  const script = `
    import { startNats } from "./services/testing/nats.ts";
    import { startPostgres } from "./services/testing/postgres.ts";
    import { startRedis } from "./services/testing/redis.ts";
    const { readdirSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const before = new Set(readdirSync(tmpdir()));
    const n = await startNats({ own: true });
    const p = await startPostgres({ own: true });
    const r = await startRedis({ own: true });
    const dirs = readdirSync(tmpdir()).filter((d) => d.startsWith("jpw-") && !before.has(d)).map((d) => tmpdir() + "/" + d);
    console.log(JSON.stringify({ pids: [n.pid, p.pid, r.pid], dirs }));
    process.exit(3);
  `;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  const code = await new Promise((r) => child.on("exit", r));
  assert.is(code, 3);
  const { pids, dirs } = JSON.parse(out.trim().split("\n").pop()!) as { pids: number[]; dirs: string[] };
  assert.is(pids.length, 3);
  assert.ok(dirs.length >= 3, "each server had a temp folder");
  // Killed orphans are reaped by init, which takes a moment.
  for (let i = 0; i < 50 && pids.some(isAlive); i++) await new Promise((r) => setTimeout(r, 100));
  for (const pid of pids) assert.not.ok(isAlive(pid), `process ${pid} is still running`);
  for (const dir of dirs) assert.not.ok(existsSync(dir), `${dir} is still there`);
});

lifecycle.run();
