// The fault schedule: made in full from the seed before the run starts (so a seed names the same
// faults at the same offsets every time), then played against the owned stack. One fault at a time,
// each healed before the next begins; every process and link the stack has is a target.
import { setTimeout as sleep } from "node:timers/promises";
import { warmUpMs } from "./memory.ts";
import type { Rng } from "./rng.ts";
import type { OwnedStack } from "./stack.ts";

export const faultKinds = ["kill", "pause", "restart", "down", "slow", "cut", "reset", "leader"] as const;
export type FaultKind = (typeof faultKinds)[number];

export interface Fault {
  /** Offset from the start of the workload, ms. */
  at: number;
  kind: FaultKind;
  /** A process (kill, pause, restart, down) or a link (slow, cut, reset). */
  target: string;
  /** How long it lasts before it is healed (0 for kill, restart, reset: the system heals itself). */
  ms: number;
  /** slow: the delay added to every chunk. */
  delayMs?: number;
  /** leader: the node that led the stream when the fault began (found as it is injected). */
  node?: string;
}

/**
 * What a `leader` fault needs to know: the name of the server that leads a stream now (its
 * `cluster.leader`), asked over the checker's admin connection.
 */
export interface FaultContext {
  streamLeader(stream: string): Promise<string | undefined>;
}

/** The stream a `leader` fault aims at: the command log, where every write goes. */
export const leaderStreams = ["WRITES"];

/** Which targets each kind applies to, given the stack's process and link names. */
export function faultTargets(procs: string[], links: string[]): Record<FaultKind, string[]> {
  const servers = procs.filter((p) => /^(nats|postgres|redis|debezium)(-\d+)?$/.test(p));
  return {
    kill: procs,
    pause: procs,
    // Graceful restarts: the servers (NATS and Postgres restarts, Debezium restarts) and the services.
    restart: procs.filter((p) => p !== "edge"),
    // Down for a while, then started again: Redis above all; NATS, Postgres and Debezium too.
    down: servers,
    slow: links,
    cut: links,
    reset: links,
    // A cluster's stream leader: its node killed (SIGKILL) and started again a few seconds later.
    leader: procs.some((p) => /^nats-\d+$/.test(p)) ? leaderStreams : [],
  };
}

/** The processes a long run keeps alive for its last hour, so their memory can be held to a bound. */
export const memoryWitnesses = /^(producer|consumer|reader|edge)(-\d+)?$/;

/**
 * `--faults`: `all`, `none`, or a comma list of kinds (`kill,pause`) and kind:target pairs
 * (`down:redis,cut:consumer-pg`). Throws on an unknown kind or target.
 */
export function selectFaults(spec: string, targets: Record<FaultKind, string[]>): [FaultKind, string][] {
  const all = faultKinds.flatMap((k) => targets[k].map((t) => [k, t] as [FaultKind, string]));
  if (spec === "all") return all;
  if (spec === "none" || spec === "") return [];
  const chosen: [FaultKind, string][] = [];
  for (const item of spec.split(",").map((s) => s.trim())) {
    const [kind, target] = item.split(":") as [FaultKind, string | undefined];
    if (!faultKinds.includes(kind)) {
      throw new Error(`--faults: unknown kind "${kind}" (kinds: ${faultKinds.join(", ")})`);
    }
    if (target !== undefined && !targets[kind].includes(target)) {
      throw new Error(`--faults: ${kind} has no target "${target}" (targets: ${targets[kind].join(", ")})`);
    }
    for (const pair of all)
      if (pair[0] === kind && (target === undefined || pair[1] === target)) chosen.push(pair);
  }
  return chosen;
}

const lasting: Record<FaultKind, [number, number] | undefined> = {
  kill: undefined,
  restart: undefined,
  reset: undefined,
  pause: [1000, 12_000],
  down: [2000, 15_000],
  slow: [3000, 15_000],
  cut: [2000, 12_000],
  leader: [3000, 8000],
};

/**
 * How long before the end of a long run no service is killed, restarted or stopped: the hour the
 * memory bound is read over, its warm-up, and time for the last restart to come up. Shorter, the
 * last instance lives under an hour past warm-up and its growth is only reported.
 */
export const witnessMs = 3_600_000 + warmUpMs + 2 * 60_000;

/**
 * Faults from `startMs` to `endMs` (offsets in the run), separated by seeded gaps. In runs longer
 * than `witnessMs` the services are not killed, restarted or stopped during its last `witnessMs`,
 * so each has an instance that lived an hour past warm-up for the memory bound; every other fault
 * continues.
 */
export function makeSchedule(
  rng: Rng,
  pairs: [FaultKind, string][],
  o: { startMs: number; endMs: number; gapMs?: [number, number] },
): Fault[] {
  const out: Fault[] = [];
  if (pairs.length === 0) return out;
  const [gapMin, gapMax] = o.gapMs ?? [3000, 10_000];
  const witnessFrom = o.endMs >= witnessMs ? o.endMs - witnessMs : Number.POSITIVE_INFINITY;
  let at = o.startMs + rng.int(gapMin, gapMax);
  while (at < o.endMs) {
    const [kind, target] = rng.pick(pairs);
    const range = lasting[kind];
    const ms = range ? rng.int(range[0], range[1]) : 0;
    const delayMs = kind === "slow" ? rng.pick([20, 50, 100, 250, 500]) : undefined;
    const restarts = kind === "kill" || kind === "restart" || kind === "down" || kind === "leader";
    if (!(restarts && memoryWitnesses.test(target) && at >= witnessFrom) && at + ms < o.endMs) {
      out.push({ at, kind, target, ms, ...(delayMs ? { delayMs } : {}) });
    }
    at += ms + rng.int(gapMin, gapMax);
  }
  return out;
}

export const describeFault = (f: Fault): string =>
  f.kind === "leader"
    ? `kill the ${f.target} leader${f.node ? ` (${f.node})` : ""}, start it after ${(f.ms / 1000).toFixed(1)}s`
    : `${f.kind} ${f.target}${f.ms ? ` for ${(f.ms / 1000).toFixed(1)}s` : ""}${f.delayMs ? ` (+${f.delayMs} ms per chunk)` : ""}`;

/**
 * When writes are expected to flow again from: a fault's end, except a leader kill's start, since
 * a cluster that lost one node of three keeps (after an election) writing without it.
 */
export const healedAt = (f: Fault): number => (f.kind === "leader" ? f.at : f.at + f.ms);

/** Injects one fault and heals it after its time; resolves when it is healed (or stopped early). */
export async function inject(
  stack: OwnedStack,
  f: Fault,
  signal: AbortSignal,
  ctx?: FaultContext,
): Promise<void> {
  const wait = (ms: number) => sleep(ms, undefined, { signal }).catch(() => {});
  switch (f.kind) {
    case "leader": {
      // The server name is the stack's (jpw-local-nats-2); the process is its node (nats-2).
      const leader = await ctx?.streamLeader(f.target).catch(() => undefined);
      const p = stack.procs.find((x) => leader?.endsWith(`-${x.name}`));
      if (!p) return;
      f.node = p.name;
      await p.crash();
      await wait(f.ms);
      p.start();
      return;
    }
    case "kill":
      stack.proc(f.target).signal("SIGKILL");
      return;
    case "restart": {
      const p = stack.proc(f.target);
      p.signal(p.spec.stopSignal ?? "SIGTERM");
      return;
    }
    case "pause": {
      const p = stack.proc(f.target);
      p.freeze();
      await wait(f.ms);
      p.thaw();
      return;
    }
    case "down": {
      const p = stack.proc(f.target);
      await p.stop();
      await wait(f.ms);
      p.start();
      return;
    }
    case "slow":
    case "cut":
    case "reset": {
      const { proxy } = stack.link(f.target);
      proxy.setMode(
        f.kind === "slow"
          ? { kind: "delay", ms: f.delayMs ?? 100 }
          : f.kind === "cut"
            ? { kind: "blackhole" }
            : { kind: "reset" },
      );
      // A reset breaks what is open; new connections pass again a moment later.
      await wait(f.kind === "reset" ? 200 : f.ms);
      proxy.setMode({ kind: "pass" });
      return;
    }
  }
}
