// Runs one process of the local stack: forwards its output line by line, restarts it when its
// policy says so (Debezium exits whenever NATS restarts), and stops it with the signal it expects
// (Postgres shuts down fast on SIGINT; SIGTERM would wait for every client to leave).
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";

export interface ProcSpec {
  name: string;
  cmd: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
  stopSignal?: NodeJS.Signals;
  /** Restart after an unexpected exit, with a growing delay (1 s … 10 s). */
  restart?: boolean;
}

export class Supervisor {
  private child: ChildProcess | undefined;
  private stopping = false;
  private restarts = 0;
  readonly exited: Promise<void>;
  private resolveExited!: () => void;

  constructor(
    readonly spec: ProcSpec,
    private onLine: (line: string) => void,
  ) {
    this.exited = new Promise((r) => {
      this.resolveExited = r;
    });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    const { spec } = this;
    const child = spawn(spec.cmd, spec.args, {
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
      ...(spec.uid !== undefined ? { uid: spec.uid, gid: spec.gid } : {}),
    });
    this.child = child;
    createInterface({ input: child.stdout! }).on("line", this.onLine);
    createInterface({ input: child.stderr! }).on("line", this.onLine);
    const started = Date.now();
    child.once("error", (err) => this.onLine(`cannot start ${spec.cmd}: ${err.message}`));
    child.once("close", (code, signal) => {
      if (this.stopping || !spec.restart) {
        if (!this.stopping) this.onLine(`exited (${signal ?? `code ${code}`})`);
        this.resolveExited();
        return;
      }
      // A process that ran for a while earns a fresh start; a crash loop backs off to 10 s.
      if (Date.now() - started > 60_000) this.restarts = 0;
      const delay = Math.min(10_000, 1000 * 2 ** this.restarts++);
      this.onLine(`exited (${signal ?? `code ${code}`}), restarting in ${delay / 1000}s`);
      setTimeout(() => {
        if (!this.stopping) this.start();
        else this.resolveExited();
      }, delay);
    });
  }

  /** Stops it for good (no restart); `signal` SIGKILL makes the stop a crash. */
  async stop(graceMs = 15_000, signal: NodeJS.Signals = this.spec.stopSignal ?? "SIGTERM"): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      this.resolveExited();
      return;
    }
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
