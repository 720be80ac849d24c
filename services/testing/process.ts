// Child processes and temp folders owned by a test file. Every server the harness starts is
// registered here, so a test that throws, or a process that exits early, still leaves nothing
// running and no temp folder behind.
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, chownSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Owner } from "../infra/server-config.ts";
import { DeadlineError, until } from "../infra/until.ts";

const live = new Set<ServerProcess>();
const dirs = new Set<string>();

// Last-resort cleanup. Only synchronous work runs in an exit handler, hence SIGKILL and rmSync.
process.once("exit", () => {
  for (const p of live) p.killNow();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => process.exit(130));
}

/** A temp folder removed by `removeTempDir` or, at the latest, when the process exits. */
export function makeTempDir(prefix: string, owner?: Owner): string {
  const dir = mkdtempSync(join(tmpdir(), `jpw-${prefix}-`));
  dirs.add(dir);
  if (owner) {
    chmodSync(dir, 0o700);
    chownSync(dir, owner.uid, owner.gid);
  }
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
}

export interface SpawnSpec {
  name: string;
  cmd: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  owner?: Owner | undefined;
  /** Sees every line the process prints (the log keeps only the last 400). */
  onLine?: (line: string) => void;
}

export class ServerProcess {
  readonly log: string[] = [];
  readonly exited: Promise<number | null>;
  private child: ChildProcess;

  constructor(readonly spec: SpawnSpec) {
    this.child = spawn(spec.cmd, spec.args, {
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
      ...(spec.owner ?? {}),
    });
    live.add(this);
    const keep = (line: string) => {
      spec.onLine?.(line);
      this.log.push(line);
      if (this.log.length > 400) this.log.shift();
      if (process.env.JPW_SERVER_LOGS) console.error(`[${spec.name}] ${line}`);
    };
    createInterface({ input: this.child.stdout! }).on("line", keep);
    createInterface({ input: this.child.stderr! }).on("line", keep);
    this.exited = new Promise((resolve) => {
      this.child.once("error", (err) => {
        keep(`spawn failed: ${err.message}`);
        live.delete(this);
        resolve(null);
      });
      this.child.once("exit", (code) => {
        live.delete(this);
        resolve(code);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && live.has(this);
  }

  /** The last lines the server printed, for error messages. */
  tail(lines = 30): string {
    return this.log.slice(-lines).join("\n");
  }

  signal(sig: NodeJS.Signals): void {
    if (this.running) this.child.kill(sig);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.killNow(), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  killNow(): void {
    if (this.running) this.child.kill("SIGKILL");
  }
}

export class NotReadyError extends Error {
  override name = "NotReadyError";
}

/**
 * Polls `check` until it resolves truthy or the deadline passes. Fails fast, with the server's own
 * last lines, when the process exits first.
 */
export async function waitReady(
  server: ServerProcess,
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const exited = () =>
    server.running ? undefined : new NotReadyError(`${what} exited during start-up:\n${server.tail()}`);
  try {
    await until(check, timeoutMs, what, { giveUp: exited });
  } catch (err) {
    if (!(err instanceof DeadlineError)) throw err;
    await server.stop(1000);
    const cause = err.cause ? ` (${(err.cause as Error).message})` : "";
    throw new NotReadyError(`${what} not ready after ${timeoutMs} ms${cause}:\n${server.tail()}`);
  }
}
