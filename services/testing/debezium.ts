// A real Debezium Server per test file, configured exactly like the local stack's (services/infra/debezium.ts):
// Postgres → pgoutput → NATS JetStream stream CDC. Each run has its own folder and replication slot;
// dispose stops it and drops the slot so no WAL stays pinned.
import { connect } from "@nats-io/transport-node";
import postgres from "postgres";
import { debeziumReady, prepareDebeziumRun } from "../infra/debezium.ts";
import { DeadlineError, until } from "../infra/until.ts";
import { natsAuthFor } from "./nats.ts";
import { freePort } from "./ports.ts";
import type { TestDatabase } from "./postgres.ts";
import { makeTempDir, NotReadyError, removeTempDir, ServerProcess } from "./process.ts";

export interface DebeziumServer extends AsyncDisposable {
  slot: string;
  runDir: string;
  pid: number | undefined;
  running: boolean;
  /** Quarkus liveness (/q/health) of the current run. */
  healthUrl: string;
  /** Milliseconds the last start took until streaming (slot active and a heartbeat in CDC). */
  lastStartMs: number;
  /** SIGTERM: Debezium flushes its offsets and closes the slot. */
  stop(): Promise<void>;
  /** Starts again from the same folder: same offsets, same slot. Waits until streaming. */
  start(): Promise<void>;
  /** SIGKILL, as a crash. */
  kill(): Promise<void>;
  tail(lines?: number): string;
}

export interface StartDebeziumOptions {
  natsUrl: string;
  /** Debezium connects as jpw_cdc (db.urlAs("jpw_cdc")); readiness reads pg_replication_slots as db.url. */
  db: TestDatabase;
  pollMs?: number;
  heartbeatMs?: number;
  /** Deadline for a start, JVM cold start included (10-30 s on two busy cores). */
  timeoutMs?: number;
}

let counter = 0;

export async function startDebezium(o: StartDebeziumOptions): Promise<DebeziumServer> {
  const slot = `jpw_test_${process.pid}_${++counter}`;
  const runDir = makeTempDir("debezium");
  const timeoutMs = o.timeoutMs ?? 120_000;
  const sql = postgres(o.db.url, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  const nc = await connect({
    servers: o.natsUrl,
    ...natsAuthFor(o.natsUrl),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 200,
  });
  let proc: ServerProcess | undefined;
  let lastStartMs = 0;
  let healthUrl = "";

  const boot = async () => {
    const run = prepareDebeziumRun({
      runDir,
      natsUrl: o.natsUrl,
      natsUser: "debezium",
      natsPassword: natsAuthFor(o.natsUrl, "debezium").pass,
      databaseUrl: o.db.urlAs("jpw_cdc"),
      slot,
      httpPort: await freePort(),
      pollMs: o.pollMs,
      // Twice the stack's rate: a start is ready at the first heartbeat.
      heartbeatMs: o.heartbeatMs ?? 500,
    });
    healthUrl = run.healthUrl;
    const started = Date.now();
    const since = new Date(started);
    const p = new ServerProcess({
      name: "debezium",
      cmd: run.cmd,
      args: run.args,
      cwd: run.cwd,
      env: run.env,
    });
    proc = p;
    let detail = "";
    const streaming = async () => {
      try {
        const r = await debeziumReady({ sql, slot, nc, since });
        detail = r.detail;
        return r.ready;
      } catch (err) {
        detail = (err as Error).message;
        return false;
      }
    };
    const exited = () =>
      p.running ? undefined : new NotReadyError(`Debezium Server exited during start-up:\n${p.tail(60)}`);
    try {
      await until(streaming, timeoutMs, "Debezium Server", { intervalMs: 100, giveUp: exited });
    } catch (err) {
      if (!(err instanceof DeadlineError)) throw err;
      await p.stop(2000);
      throw new NotReadyError(
        `Debezium Server not streaming after ${timeoutMs} ms (${detail}):\n${p.tail(60)}`,
      );
    }
    lastStartMs = Date.now() - started;
  };

  const stop = async () => {
    await proc?.stop(15_000);
  };

  try {
    await boot();
  } catch (err) {
    await dropSlot(sql, slot).catch(() => {});
    await sql.end();
    await nc.close();
    removeTempDir(runDir);
    throw err;
  }

  return {
    slot,
    runDir,
    get pid() {
      return proc?.pid;
    },
    get running() {
      return proc?.running ?? false;
    },
    get lastStartMs() {
      return lastStartMs;
    },
    get healthUrl() {
      return healthUrl;
    },
    stop,
    start: boot,
    kill: async () => {
      proc?.killNow();
      await proc?.exited;
    },
    tail: (lines = 40) => proc?.tail(lines) ?? "",
    async [Symbol.asyncDispose]() {
      await stop();
      await dropSlot(sql, slot).catch(() => {});
      await sql.end();
      await nc.close();
      removeTempDir(runDir);
    },
  };
}

/** The walsender of a stopped Debezium lingers for a moment: retry until the slot is inactive. */
async function dropSlot(sql: postgres.Sql, slot: string): Promise<void> {
  // Only an active slot is worth waiting for: a failing query (Postgres stopped) ends the wait at once.
  const dropped = async (): Promise<boolean | Error> => {
    try {
      const [row] = await sql<
        { active: boolean }[]
      >`select active from pg_replication_slots where slot_name = ${slot}`;
      if (row?.active) return false;
      if (row) await sql`select pg_drop_replication_slot(${slot})`;
      return true;
    } catch (err) {
      return err as Error;
    }
  };
  const outcome = await until(dropped, 10_000, `replication slot ${slot} to be inactive`, {
    intervalMs: 100,
  });
  if (outcome instanceof Error) throw outcome;
}
