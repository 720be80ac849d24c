// Rebuilds a database from the command log, or verifies the live one against it.
//
//   tsx ops/replay.ts --into <database|postgres://…> [--force]   rebuild into a fresh database
//   tsx ops/replay.ts --verify                                    rebuild into a scratch database,
//                                                                  compare, drop it
//   common: [--until <seq>] [--snapshot <folder>] [--snapshots <folder>] [--batch-size <n>]
//           [--server nats://…] [--database postgres://… (the live database, as its owner)]
//
// Exit codes: 0 faithful (verify: the log and the database agree, except what is listed as
// changed outside the log); 1 fidelity failures or differences the log does not explain;
// 2 refused (history no longer reaches back, a target with rows, a live database not migrated)
// or could not run.
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Sql } from "postgres";
import { color, fail, say, warn } from "../services/infra/term.ts";
import { ReplayRefused } from "../services/replay/history.ts";
import {
  describeApplying,
  describeComparison,
  describeHistory,
  describePlan,
  describeReading,
  describeReport,
} from "../services/replay/render.ts";
import { type Clients, type ReplayEvents, replayInto, verify } from "../services/replay/replay.ts";
import { dropDatabase, targetUrl } from "../services/replay/target.ts";
import { parseCommandLine } from "./lib/args.ts";
import { adminEndpoints, adminNats, ownerConnection } from "./lib/operator.ts";
import { stackDirs } from "./lib/stack-config.ts";

const usage = `usage: just replay --into <database|postgres://…> [--force]
       just replay --verify
  [--until <seq>]          stop at this sequence instead of the writers' ack floor
  [--snapshot <folder>]    start from this snapshot (just snapshot), then its history
  [--snapshots <folder>]   where to look for one when history no longer reaches back (default: the stack's)
  [--batch-size <n>]       commands per statement (default 1000)
  [--server nats://…] [--database postgres://…]   NATS as admin, the live database as its owner`;

/** A progress line at most every two seconds (and the last one). */
function throttled<T>(render: (p: T) => string, everyMs = 2000): (p: T, force?: boolean) => void {
  let last = 0;
  return (p, force) => {
    const now = performance.now();
    if (!force && now - last < everyMs) return;
    last = now;
    say("replay", color.dim(render(p)));
  };
}

function events(): ReplayEvents {
  let applyingSince = 0;
  const reading = throttled(describeReading);
  const applying = throttled((p: Parameters<typeof describeApplying>[0]) =>
    describeApplying(p, (performance.now() - applyingSince) / 1000),
  );
  return {
    planned: (plan) => {
      for (const l of describePlan(plan)) say("replay", l);
    },
    reading: (p) => reading(p, p.seq >= p.last),
    read: (h) => {
      for (const l of describeHistory(h)) say("replay", l);
      applyingSince = performance.now();
    },
    applying: (p) => applying(p, p.done >= p.total),
    line: (l) => say("replay", l),
  };
}

async function main(): Promise<number> {
  const { values } = parseCommandLine(
    {
      options: {
        into: { type: "string" },
        verify: { type: "boolean" },
        force: { type: "boolean" },
        until: { type: "string" },
        snapshot: { type: "string" },
        snapshots: { type: "string" },
        "batch-size": { type: "string" },
        server: { type: "string" },
        database: { type: "string" },
      },
    },
    usage,
  );
  if (!values.into === !values.verify) {
    fail("replay", `give either --into <database> or --verify\n\n${usage}`);
    return 2;
  }
  const number = (flag: string, v: string | undefined, min: number) => {
    if (v === undefined) return undefined;
    const x = Number(v);
    if (!Number.isInteger(x) || x < min)
      throw new ReplayRefused(`--${flag} ${v} is not a whole number ≥ ${min}`);
    return x;
  };
  const options = {
    until: number("until", values.until, 0),
    batchSize: number("batch-size", values["batch-size"], 1) ?? 1000,
    snapshot: values.snapshot,
    snapshotsDir: values.snapshots ?? stackDirs().snapshots,
  };

  const { natsUrl, databaseUrl } = adminEndpoints(values);
  let nc: NatsConnection | undefined;
  let live: Sql | undefined = ownerConnection(databaseUrl);
  let scratch: string | undefined;
  const stop = async () => {
    // A stopped verify leaves no scratch database behind.
    if (scratch) await dropDatabase(scratch).catch(() => {});
    process.exit(130);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    nc = await adminNats(natsUrl);
    const clients: Clients = {
      js: jetstream(nc),
      jsm: await jetstreamManager(nc),
      live,
      liveUrl: databaseUrl,
    };
    const ev = events();

    if (values.into) {
      try {
        await live`select 1`;
      } catch (err) {
        // Rebuilding after the live database was lost: the window is checked on the stream alone.
        warn(
          "replay",
          `cannot read the live database (${(err as Error).message}): history's reach is checked on WRITES alone`,
        );
        await live.end({ timeout: 1 });
        live = undefined;
        clients.live = undefined;
      }
      const url = targetUrl(databaseUrl, values.into);
      const { report } = await replayInto(clients, url, { ...options, force: values.force ?? false }, ev);
      for (const l of describeReport(report)) say("replay", l);
      say("replay", `rebuilt into ${new URL(url).pathname.slice(1)}`);
      return report.failures.length > 0 ? 1 : 0;
    }

    const result = await verify(clients, options, {
      ...ev,
      scratch: (url) => {
        scratch = url;
      },
    });
    scratch = undefined;
    for (const l of describeReport(result.report)) say("replay", l);
    for (const l of describeComparison(result.comparison)) say("verify", l);
    const failures = result.report.failures.length + result.comparison.failures.length;
    const listed = result.comparison.outOfLog.length;
    if (failures === 0) {
      say(
        "verify",
        color.green(
          `the log and the database agree${listed > 0 ? `, except ${listed} row(s) changed outside the log (listed)` : ""} (${result.seconds.toFixed(1)}s)`,
        ),
      );
      return 0;
    }
    fail(
      "verify",
      `the log and the database disagree: ${failures} failure(s) (${result.seconds.toFixed(1)}s)`,
    );
    return 1;
  } catch (err) {
    fail("replay", err instanceof ReplayRefused ? `refused: ${err.message}` : (err as Error).message);
    return 2;
  } finally {
    await nc?.close().catch(() => {});
    await live?.end({ timeout: 1 }).catch(() => {});
  }
}

process.exitCode = await main();
