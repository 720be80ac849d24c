// The local stack, native (no Docker needed): NATS, Postgres and Redis, then Debezium, the services
// and the edge. Data, logs and pid files live under .data/ (JPW_DATA_DIR).
//
//   tsx ops/stack.ts dev        infrastructure only, migrated and reconciled; left running
//   tsx ops/stack.ts up         everything in the foreground, prefixed logs; Ctrl-C stops what it started
//   tsx ops/stack.ts up -d      everything, left running in the background
//   tsx ops/stack.ts down       stop everything the stack started
//   tsx ops/stack.ts clean      down, then delete .data/
//   tsx ops/stack.ts status     what runs where, with NATS_URL=, DATABASE_URL=, REDIS_URL= lines
//   tsx ops/stack.ts logs [name ...]
import { spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { root } from "../services/infra/paths.ts";
import { portInUse } from "../services/infra/probe.ts";
import { run } from "../services/infra/proc.ts";
import { loadSecrets, type Secrets } from "../services/infra/secrets.ts";
import { color, fail, say, seconds, warn } from "../services/infra/term.ts";
import { natsCliPath } from "../services/infra/tools.ts";
import { DeadlineError, until } from "../services/infra/until.ts";
import { writeComposeEnv } from "./docker/env.ts";
import { stackSecrets } from "./lib/admin.ts";
import { parseCommandLine } from "./lib/args.ts";
import { localUrls, stackDirs, stackPorts, stackProfile, standardPorts } from "./lib/stack-config.ts";
import { type Group, type StackProc, stackProcs } from "./lib/stack-procs.ts";
import { afterGroup, StackError } from "./lib/stack-setup.ts";
import { Supervisor } from "./lib/supervisor.ts";

const dirs = stackDirs();
/** The stack's credentials, generated on its first start (owner-only): for commands that start things. */
const secrets = (): Secrets => loadSecrets(dirs.secrets);
const pidFile = (name: string) => join(dirs.run, `${name}.pid`);
const logFile = (name: string) => join(dirs.logs, `${name}.log`);

function livePid(name: string): number | undefined {
  if (!existsSync(pidFile(name))) return undefined;
  const pid = Number(readFileSync(pidFile(name), "utf8").trim());
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    unlinkSync(pidFile(name));
    return undefined;
  }
}

const portVariable: Record<string, string> = {
  nats: "JPW_NATS_PORT",
  postgres: "JPW_PG_PORT",
  redis: "JPW_REDIS_PORT",
  producer: "JPW_PRODUCER_PORT",
  reader: "JPW_READER_PORT",
  consumer: "JPW_CONSUMER_PORT",
  debezium: "JPW_DEBEZIUM_PORT",
  edge: "JPW_HTTP_PORT",
};

async function waitReady(p: StackProc, exited: () => boolean): Promise<void> {
  const started = performance.now();
  let lastNote = started;
  const ready = async () => {
    if (await p.ready()) return true;
    if (performance.now() - lastNote > 3000) {
      say("stack", `waiting for ${p.name} ${color.dim(seconds(started))}`);
      lastNote = performance.now();
    }
    return false;
  };
  const gone = () =>
    exited()
      ? new StackError(`${p.name} exited during start-up: see ${logFile(p.name)} (or the lines above)`)
      : undefined;
  try {
    await until(ready, p.readyTimeoutMs, p.name, { intervalMs: 100, giveUp: gone });
  } catch (err) {
    if (!(err instanceof DeadlineError)) throw err;
    throw new StackError(`${p.name} not ready after ${p.readyTimeoutMs / 1000}s: see ${logFile(p.name)}`);
  }
  say("stack", `${color.green("ready")} ${p.name} ${color.dim(seconds(started))}`);
}

async function checkPort(p: StackProc): Promise<void> {
  if (await portInUse(p.port)) {
    throw new StackError(
      `port ${p.port} (${p.name}) is already in use by a program this stack did not start: ` +
        `stop it, or choose another port with ${portVariable[p.name] ?? "its JPW_*_PORT variable"}=<port>`,
    );
  }
}

async function noteStandardPorts(): Promise<void> {
  const ours = stackPorts();
  const pairs: [string, number, number, string][] = [
    ["NATS", standardPorts.nats, ours.nats, "JPW_NATS_PORT"],
    ["PostgreSQL", standardPorts.postgres, ours.postgres, "JPW_PG_PORT"],
    ["Redis", standardPorts.redis, ours.redis, "JPW_REDIS_PORT"],
  ];
  for (const [what, std, port, variable] of pairs) {
    if (std !== port && (await portInUse(std))) {
      say(
        "stack",
        `note: a server already listens on ${std} (the standard ${what} port); this stack uses ${port} (${variable}), so they do not collide`,
      );
    }
  }
}

function buildWebIfPresent(): Promise<unknown> | undefined {
  // A deployed server gets the UI built by the deployer (it has no dev dependencies such as vite).
  if (stackProfile().server || !existsSync(join(root, "web", "vite.config.ts"))) return undefined;
  say("web", "building the UI (vite)");
  return run(join(root, "node_modules", ".bin", "vite"), ["build", "--logLevel", "warn"], {
    cwd: join(root, "web"),
    prefix: "vite",
  });
}

/**
 * Starts, group by group, every process not already running: `launch` starts one and returns
 * whether it has exited for good; each must be ready before the next starts, and each group is
 * followed by what the next one needs (database, migrations, streams).
 */
async function startAll(
  procs: StackProc[],
  launch: (p: StackProc, index: number) => () => boolean,
  alreadyRunning: string,
): Promise<void> {
  let group: Group | undefined;
  for (const [i, p] of procs.entries()) {
    if (group && group !== p.group) await afterGroup(group, secrets());
    group = p.group;
    if (livePid(p.name)) {
      say("stack", `${p.name} ${alreadyRunning}`);
      continue;
    }
    await checkPort(p);
    if (p.group === "edge") await buildWebIfPresent();
    await p.prepare?.();
    await waitReady(p, launch(p, i));
  }
  if (group) await afterGroup(group, secrets());
}

/** Starts every process not already running, detached (supervisor per process, logs in .data/logs). */
async function startDetached(procs: StackProc[]): Promise<void> {
  mkdirSync(dirs.run, { recursive: true });
  mkdirSync(dirs.logs, { recursive: true });
  const launch = (p: StackProc) => {
    const log = openSync(logFile(p.name), "a");
    const child = spawn(
      process.execPath,
      ["--import", "tsx", join(root, "ops", "stack.ts"), "supervise", p.name],
      {
        cwd: root,
        detached: true,
        stdio: ["ignore", log, log],
      },
    );
    child.unref();
    say("stack", `started ${p.name} ${color.dim(`(log ${logFile(p.name)})`)}`);
    return () => child.exitCode !== null;
  };
  await startAll(procs, launch, "already running");
}

/** `supervise <name>`: the detached parent of one process; SIGTERM stops it and removes the pid file. */
async function supervise(name: string): Promise<void> {
  const p = (await stackProcs(secrets())).find((x) => x.name === name);
  if (!p) throw new StackError(`unknown process ${name}`);
  const sup = new Supervisor(p, (line) => process.stdout.write(`${line}\n`));
  writeFileSync(pidFile(name), String(process.pid));
  sup.start();
  const stop = async () => {
    await sup.stop();
    if (existsSync(pidFile(name))) unlinkSync(pidFile(name));
    process.exit(0);
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  await sup.exited;
  if (existsSync(pidFile(name))) unlinkSync(pidFile(name));
}

const palette = [color.cyan, color.magenta, color.yellow, color.blue, color.green];

/** Foreground: like `docker compose up`. Reuses what already runs; Ctrl-C stops only what it started. */
async function upForeground(procs: StackProc[]): Promise<void> {
  const started: Supervisor[] = [];
  const width = Math.max(...procs.map((p) => p.name.length));
  let stopping = false;
  const stopAll = async (code = 0) => {
    if (stopping) return;
    stopping = true;
    say("stack", "stopping (Ctrl-C again does not speed this up)");
    for (const s of [...started].reverse()) await s.stop();
    say("stack", "stopped");
    process.exit(code);
  };
  process.on("SIGINT", () => stopAll());
  process.on("SIGTERM", () => stopAll());
  const launch = (p: StackProc, i: number) => {
    const paint = palette[i % palette.length]!;
    const sup = new Supervisor(p, (line) => console.log(`${paint(p.name.padEnd(width))} | ${line}`));
    sup.start();
    started.push(sup);
    let exited = false;
    sup.exited.then(() => {
      exited = true;
    });
    return () => exited && !p.restart;
  };
  try {
    await startAll(procs, launch, "already running (detached); using it");
  } catch (err) {
    fail("stack", (err as Error).message);
    // Non-zero, so a service manager (systemd on a deployed server) sees a failed start.
    await stopAll(1);
    return;
  }
  say("stack", `${color.green("up")}: ${localUrls().edgeUrl} (Ctrl-C stops everything this command started)`);
  await new Promise(() => {});
}

async function down(): Promise<void> {
  const listed = (await stackProcs()).map((p) => p.name).reverse();
  // Whatever else has a pid file too: a stack started with another JPW_REPLICAS (a cluster's
  // nats-1..3, producer-2, ...) stops without the person repeating the variable.
  const others = existsSync(dirs.run)
    ? readdirSync(dirs.run)
        .filter((f) => f.endsWith(".pid"))
        .map((f) => f.slice(0, -".pid".length))
        .filter((n) => !listed.includes(n))
    : [];
  let stopped = 0;
  for (const name of [...others, ...listed]) {
    const pid = livePid(name);
    if (!pid) continue;
    process.kill(pid, "SIGTERM");
    await until(() => !livePid(name), 20_000, `${name} to stop`, { intervalMs: 100 }).catch(() => {});
    if (livePid(name)) {
      warn("stack", `${name} did not stop in 20s; killing it`);
      process.kill(-pid, "SIGKILL");
    }
    say("stack", `stopped ${name}`);
    stopped++;
  }
  if (!stopped) say("stack", "nothing was running");
}

async function status(): Promise<void> {
  const procs = await stackProcs();
  const width = Math.max(...procs.map((p) => p.name.length));
  for (const p of procs) {
    const pid = livePid(p.name);
    const ready = await p.ready();
    const state = pid
      ? ready
        ? color.green("ready   ")
        : color.yellow("starting")
      : ready
        ? // On a server the unit runs the stack without pid files: ready is simply ready there.
          stackProfile().server
          ? color.green("ready   ")
          : color.yellow("foreign ")
        : color.dim("stopped ");
    console.log(
      `${p.name.padEnd(width)}  ${state}  ${pid ? `pid ${pid}` : "".padEnd(9)}  ${p.reach.join("  ")}`,
    );
  }
  const owned = stackSecrets();
  const u = localUrls(owned);
  console.log(`
Reach the servers as their administrators (credentials from ${dirs.secrets}):
  just nats stream ls      just psql      just redis-cli      (logs: ${stackProfile().server ? "journalctl -u jpw" : "just logs [name]"})`);
  if (!owned) {
    console.log(`  (${dirs.secrets} does not exist yet or is not readable by this user: it belongs to the stack's owner)
NATS_URL=${u.natsUrl}  DATABASE_URL=${u.adminDatabaseUrl}  REDIS_URL=${u.redisUrl}`);
    return;
  }
  console.log(`
${color.yellow("SECRET")}: admin credentials of this stack, printed because you own it. Paste into a shell:
NATS_URL=${u.natsUrl} NATS_USER=admin NATS_PASSWORD=${owned.nats.admin}
DATABASE_URL=${u.adminDatabaseUrl}
REDIS_URL=${u.redisUrl}

  nats stream ls      psql "$DATABASE_URL"      redis-cli -u "$REDIS_URL"
  (the nats CLI reads NATS_URL, NATS_USER and NATS_PASSWORD; it is ${natsCliPath()})`);
}

function dockerAvailable(): boolean {
  const r = spawnSync("docker", ["info", "--format", "{{.ServerVersion}}"], { timeout: 5000, stdio: "pipe" });
  return r.status === 0;
}

async function main(): Promise<void> {
  const { values, positionals } = parseCommandLine(
    { allowPositionals: true, options: { detach: { type: "boolean", short: "d" } } },
    "usage: tsx ops/stack.ts dev | up [-d] | down | clean | status | logs [name ...]",
  );
  const [command = "status", ...rest] = positionals;
  const t = performance.now();
  switch (command) {
    case "dev": {
      await noteStandardPorts();
      await startDetached((await stackProcs(secrets())).filter((p) => p.group === "infra"));
      say(
        "stack",
        `infrastructure up in ${seconds(t)}; \`just status\` shows how to reach it, \`just down\` stops it`,
      );
      await status();
      return;
    }
    case "up": {
      const detached = values.detach === true;
      if (process.env.JPW_NATIVE !== "1" && dockerAvailable()) {
        say(
          "stack",
          "a Docker engine is reachable: running docker compose (set JPW_NATIVE=1 for the native stack)",
        );
        say("stack", `secrets for compose: ${writeComposeEnv()} (owner-only, from ${dirs.secrets})`);
        await run("docker", ["compose", "up", "--build", ...(detached ? ["-d"] : [])], { prefix: "compose" });
        return;
      }
      say("stack", "no Docker engine reachable: running the native stack");
      await noteStandardPorts();
      const procs = await stackProcs(secrets());
      if (detached) {
        await startDetached(procs);
        say(
          "stack",
          `${color.green("up")} in ${seconds(t)}: ${localUrls().edgeUrl} (\`just down\` stops it)`,
        );
        await status();
      } else {
        await upForeground(procs);
      }
      return;
    }
    case "down":
      return down();
    case "clean":
      await down();
      rmSync(dirs.data, { recursive: true, force: true });
      say("stack", `removed ${dirs.data}`);
      return;
    case "status":
      return status();
    case "logs": {
      const names = rest.length ? rest : (await stackProcs()).map((p) => p.name);
      const files = names.map(logFile).filter((f) => existsSync(f));
      if (!files.length) throw new StackError("no logs yet: start the stack with `just up -d` or `just dev`");
      spawnSync("tail", ["-n", "50", "-F", ...files], { stdio: "inherit" });
      return;
    }
    case "supervise":
      return supervise(rest[0] ?? "");
    default:
      throw new StackError(`unknown command ${command}: use dev, up [-d], down, clean, status or logs`);
  }
}

main().catch((err) => {
  fail("stack", err instanceof StackError ? err.message : ((err as Error).stack ?? String(err)));
  process.exit(1);
});
