// Debezium Server runs: one function fills debezium/application.properties into a run folder and
// says how to start java there, one probe says whether that run is streaming. The local stack and
// the test harness both use them, so tests run the configuration people run.
//
// Debezium reads `config/application.properties` relative to its working directory, so every run
// gets its own folder (config, offsets) and several can run at once from one unpacked dist.
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import type { Sql } from "postgres";
import { cdcHeartbeatSubject, cdcStream, debeziumDefaults, debeziumHealthUrl } from "../shared/cdc.ts";
import { natsServers } from "../shared/nats.ts";
import { debeziumSinkJar } from "./debezium-sink.ts";
import { root } from "./paths.ts";
import { debeziumHome, tools } from "./tools.ts";

export const debeziumTemplate = join(root, "debezium", "application.properties");

export interface DebeziumRunOptions {
  /** Folder of this run: config/, offsets.dat and nothing else. Created when missing; kept across restarts. */
  runDir: string;
  natsUrl: string;
  /** Debezium's NATS user (publish cdc.> only) and its password. */
  natsUser: string;
  natsPassword: string;
  /** Postgres URL of the role Debezium connects as (jpw_cdc: LOGIN REPLICATION + SELECT), password inside. */
  databaseUrl: string;
  /** Replication slot; unique per database that Debezium streams from. */
  slot: string;
  /** Quarkus HTTP port (/q/health). 0 is not allowed by Quarkus here: pick a free one. */
  httpPort: number;
  /** Where /q/health listens: loopback, unless other hosts (containers) must reach it. */
  httpHost?: string;
  /** Latency knob: how long an idle reader loop and the batch queue wait (ms). */
  pollMs?: number;
  heartbeatMs?: number;
  logLevel?: "DEBUG" | "INFO" | "WARN" | "ERROR";
  /** The unpacked distribution (default: the tools folder's). */
  home?: string;
  javaHome?: string;
  /** Extra JVM options, e.g. a smaller heap on a crowded machine. */
  jvmOptions?: string[];
}

export interface DebeziumRun {
  cmd: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  configFile: string;
  offsetsFile: string;
  healthUrl: string;
}

/** Fills every `{{name}}` of the template; an unknown or unfilled placeholder is a bug, not a blank. */
export function fillTemplate(template: string, values: Record<string, string | number>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`debezium/application.properties: no value for {{${name}}}`);
    // Properties files treat backslashes as escapes; none of our values need one.
    if (/[\\\n]/.test(String(v)))
      throw new Error(`debezium: value of ${name} contains a backslash or newline`);
    return String(v);
  });
}

/** The filled configuration of one Debezium Server run (the local stack, tests, docker compose). */
export function debeziumConfig(
  o: Omit<DebeziumRunOptions, "runDir" | "home" | "javaHome" | "jvmOptions"> & { offsetsFile: string },
): string {
  const db = new URL(o.databaseUrl);
  return fillTemplate(readFileSync(debeziumTemplate, "utf8"), {
    natsUrl: o.natsUrl,
    natsUser: o.natsUser,
    natsPassword: o.natsPassword,
    pgHost: db.hostname,
    pgPort: db.port || "5432",
    pgUser: decodeURIComponent(db.username),
    pgPassword: decodeURIComponent(db.password),
    pgDatabase: db.pathname.slice(1),
    slot: o.slot,
    heartbeatMs: o.heartbeatMs ?? debeziumDefaults.heartbeatMs,
    pollMs: o.pollMs ?? debeziumDefaults.pollMs,
    offsetsFile: o.offsetsFile,
    httpPort: o.httpPort,
    httpHost: o.httpHost ?? "127.0.0.1",
    logLevel: o.logLevel ?? "INFO",
  });
}

/**
 * Writes `<runDir>/config/application.properties` for this run and returns how to start it: java
 * directly (run.sh would need the dist as its working directory), our sink's jar first on the class
 * path (it replaces the distribution's class of the same name), then the runner jar.
 */
export function prepareDebeziumRun(o: DebeziumRunOptions, opts: { writeConfig?: boolean } = {}): DebeziumRun {
  const home = o.home ?? debeziumHome();
  tools.debezium();
  const runner = readdirSync(home).find((f) => /^debezium-server-.*-runner\.jar$/.test(f));
  if (!runner) throw new Error(`no debezium-server-*-runner.jar in ${home}: run just setup`);
  const configDir = join(o.runDir, "config");
  const offsetsFile = join(o.runDir, "offsets.dat");
  const configFile = join(configDir, "application.properties");
  if (opts.writeConfig !== false) {
    mkdirSync(configDir, { recursive: true });
    // Passwords inside: owner-only, like the secrets folder it was filled from.
    writeFileSync(configFile, debeziumConfig({ ...o, offsetsFile }), { mode: 0o600 });
    chmodSync(configFile, 0o600);
  }
  const javaHome = o.javaHome ?? tools.javaHome();
  const sink = debeziumSinkJar({ home, javaHome });
  const classPath = [sink, join(home, runner), join(home, "config", "lib"), join(home, "lib", "*")].join(":");
  return {
    cmd: join(javaHome, "bin", "java"),
    args: [
      // Two cores shared with everything else: a serial collector and a bounded heap keep the JVM
      // from competing with Postgres and NATS for CPU.
      "-XX:+UseSerialGC",
      "-Xms64m",
      "-Xmx512m",
      "-XX:TieredStopAtLevel=1",
      ...(o.jvmOptions ?? []),
      "-cp",
      classPath,
      "io.debezium.server.Main",
    ],
    cwd: o.runDir,
    env: { ...process.env, JAVA_HOME: javaHome },
    configFile,
    offsetsFile,
    healthUrl: debeziumHealthUrl(o.httpPort),
  };
}

/** Whether a run folder already has offsets (a restart resumes from them). */
export const hasOffsets = (runDir: string) => existsSync(join(runDir, "offsets.dat"));

export interface DebeziumReadiness {
  ready: boolean;
  slotActive: boolean;
  /** When the newest heartbeat or change event reached the CDC stream, if any. */
  lastEventAt?: Date;
  detail: string;
}

/**
 * Streaming, not merely alive (Quarkus /q/health says only the latter): the slot has an active
 * walsender, and a heartbeat reached the CDC stream since `since` (the run's start), which proves
 * the sink publishes into a stream that captures its subjects.
 */
export async function debeziumReady(o: {
  sql: Sql;
  slot: string;
  nc?: NatsConnection;
  natsUrl?: string;
  /** Credentials for `natsUrl` (a user that may read the CDC stream: admin). */
  natsAuth?: { user: string; pass: string };
  since?: Date;
}): Promise<DebeziumReadiness> {
  const [row] = await o.sql<{ active: boolean }[]>`
    select active from pg_replication_slots where slot_name = ${o.slot}`;
  const slotActive = row?.active === true;
  if (!slotActive) {
    return {
      ready: false,
      slotActive,
      detail: row ? `slot ${o.slot} exists but no walsender streams it` : `slot ${o.slot} does not exist yet`,
    };
  }
  let nc = o.nc;
  const own = !nc;
  if (!nc) {
    if (!o.natsUrl) throw new Error("debeziumReady needs nc or natsUrl");
    nc = await connect({ servers: natsServers(o.natsUrl), timeout: 2000, ...o.natsAuth });
  }
  try {
    const jsm = await jetstreamManager(nc, { timeout: 2000 });
    const last = await jsm.streams.getMessage(cdcStream, { last_by_subj: cdcHeartbeatSubject });
    const lastEventAt = last ? new Date(last.time) : undefined;
    const fresh = lastEventAt !== undefined && (!o.since || lastEventAt >= o.since);
    return {
      ready: fresh,
      slotActive,
      ...(lastEventAt ? { lastEventAt } : {}),
      detail: fresh
        ? `slot ${o.slot} active, heartbeat at ${lastEventAt!.toISOString()}`
        : `slot ${o.slot} active, no heartbeat on ${cdcHeartbeatSubject} yet`,
    };
  } catch (err) {
    return { ready: false, slotActive, detail: `cannot read stream ${cdcStream}: ${(err as Error).message}` };
  } finally {
    if (own) await nc.close();
  }
}
