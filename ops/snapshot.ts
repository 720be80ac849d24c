// Snapshots of the database for replay once history no longer reaches back (services/replay/
// snapshot.ts): a consistent copy of users and orders taken after reading the writers' ack floor.
//
//   tsx ops/snapshot.ts [--dir <folder>] [--keep <n>]   take one, keep the newest n (default 3)
//   tsx ops/snapshot.ts list [--dir <folder>]           the snapshots, newest first
//   common: [--server nats://…] [--database postgres://…]
import { jetstreamManager } from "@nats-io/jetstream";
import { fail, say } from "../services/infra/term.ts";
import { listSnapshots, takeSnapshot } from "../services/replay/snapshot.ts";
import { databaseOf } from "../services/replay/target.ts";
import { parseCommandLine } from "./lib/args.ts";
import { adminEndpoints, adminNats, ownerConnection } from "./lib/operator.ts";
import { stackDirs } from "./lib/stack-config.ts";

const usage = `usage: just snapshot [--dir <folder>] [--keep <n>]
       just snapshot list [--dir <folder>]
  [--server nats://…] [--database postgres://…]   NATS as admin, the live database as its owner`;

async function main(): Promise<number> {
  const { values, positionals } = parseCommandLine(
    {
      allowPositionals: true,
      options: {
        dir: { type: "string" },
        keep: { type: "string" },
        server: { type: "string" },
        database: { type: "string" },
      },
    },
    usage,
  );
  const dir = values.dir ?? stackDirs().snapshots;
  if (positionals[0] === "list") {
    const all = await listSnapshots(dir);
    for (const s of all) {
      const m = s.manifest;
      say(
        "snapshot",
        `${s.path}: taken ${m.takenAt} at the writers' ack floor ${m.floor}, ${m.rows.users} users, ${m.rows.orders} orders (${m.database})`,
      );
    }
    say("snapshot", `${all.length} snapshot(s) in ${dir}`);
    return 0;
  }
  if (positionals.length > 0) {
    fail("snapshot", `unknown command ${positionals[0]}\n\n${usage}`);
    return 2;
  }
  const keep = Number(values.keep ?? 3);
  if (!Number.isInteger(keep) || keep < 1) {
    fail("snapshot", `--keep ${values.keep} is not a whole number ≥ 1`);
    return 2;
  }
  const { natsUrl, databaseUrl } = adminEndpoints(values);
  const live = ownerConnection(databaseUrl);
  const nc = await adminNats(natsUrl).catch((err) => {
    fail("snapshot", (err as Error).message);
    return undefined;
  });
  if (!nc) return 2;
  try {
    const started = performance.now();
    const s = await takeSnapshot(await jetstreamManager(nc), live, {
      dir,
      keep,
      database: databaseOf(databaseUrl),
    });
    const m = s.manifest;
    say(
      "snapshot",
      `${s.path}: ${m.rows.users} users, ${m.rows.orders} orders at the writers' ack floor ${m.floor} ` +
        `(${((performance.now() - started) / 1000).toFixed(1)}s; the newest ${keep} are kept)`,
    );
    return 0;
  } catch (err) {
    fail("snapshot", (err as Error).message);
    return 2;
  } finally {
    await nc.close().catch(() => {});
    await live.end({ timeout: 1 });
  }
}

process.exitCode = await main();
