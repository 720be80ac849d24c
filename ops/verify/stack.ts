// The system the checker drives: the processes `just up` runs (ops/lib/stack-procs.ts, in its order,
// with its configuration), in the checker's own data folder and ports, each owned here so the fault
// schedule can kill, pause, restart or stop it. Every process restarts when it exits (the server
// profile's policy), so recovering from a fault never needs a hand. Links the schedule can slow or
// cut run through TCP proxies: each service's connection to NATS and the consumer's to Postgres.
//
// Nothing here knows how many processes there are: a cluster is a longer list from stackProcs()
// (three nats-servers, two producers and consumers behind the edge), and every link is found by the
// URLs in the processes' environment.
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { join } from "node:path";
import { loadSecrets } from "../../services/infra/secrets.ts";
import { until } from "../../services/infra/until.ts";
import { startTcpProxy, type TcpProxy } from "../../services/testing/tcp-proxy.ts";
import { rssBytes, signalTree } from "../lib/procfs.ts";
import { stackDirs } from "../lib/stack-config.ts";
import { type StackProc, stackProcs } from "../lib/stack-procs.ts";
import { afterGroup } from "../lib/stack-setup.ts";
import { Supervisor } from "../lib/supervisor.ts";

/** A link the schedule can degrade: `<process>-<server>`, e.g. producer-nats, consumer-pg. */
export interface Link {
  name: string;
  proc: string;
  proxy: TcpProxy;
}

/** Which environment variables of which processes hold a server's URL, and what to call the link. */
const linkedUrls: { proc: RegExp; variable: string; server: string }[] = [
  { proc: /^(producer|consumer|reader)(-\d+)?$/, variable: "NATS_URL", server: "nats" },
  { proc: /^consumer(-\d+)?$/, variable: "DATABASE_URL", server: "pg" },
];

export interface Instance {
  pid: number;
  startedAt: number;
}

export class OwnedProc {
  private sup: Supervisor | undefined;
  private lastPid: number | undefined;
  /** Every process this one has been (a restart is a new instance), for the memory figures. */
  readonly instances: Instance[] = [];
  frozen = false;
  down = false;

  constructor(
    readonly spec: StackProc,
    private readonly log: WriteStream,
    private readonly onInstance: (p: OwnedProc, i: Instance) => void,
  ) {}

  get name(): string {
    return this.spec.name;
  }

  get pid(): number | undefined {
    return this.sup?.pid;
  }

  start(): void {
    this.down = false;
    const sup = new Supervisor(this.spec, (line) => {
      this.log.write(`${new Date().toISOString()} ${line}\n`);
      this.notice();
    });
    this.sup = sup;
    sup.start();
    this.notice();
  }

  /** Records a new instance when the supervisor has started another process. */
  notice(): void {
    const pid = this.sup?.pid;
    if (pid && pid !== this.lastPid) {
      this.lastPid = pid;
      const i = { pid, startedAt: performance.now() };
      this.instances.push(i);
      this.onInstance(this, i);
    }
  }

  ready(): Promise<boolean> {
    return this.spec.ready().catch(() => false);
  }

  signal(signal: NodeJS.Signals): boolean {
    const pid = this.pid;
    if (!pid) return false;
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  /** SIGSTOP of the process and its children (a Postgres with its backends). */
  freeze(): void {
    const pid = this.pid;
    if (pid) signalTree(pid, "SIGSTOP");
    this.frozen = true;
  }

  thaw(): void {
    const pid = this.pid;
    if (pid) signalTree(pid, "SIGCONT");
    this.frozen = false;
  }

  /** Stopped as `just down` stops it, and not restarted until `start()`. */
  async stop(): Promise<void> {
    if (this.frozen) this.thaw();
    this.down = true;
    await this.sup?.stop();
  }

  /** SIGKILL, and not restarted until `start()`: a crashed node kept down for a while. */
  async crash(): Promise<void> {
    if (this.frozen) this.thaw();
    this.down = true;
    await this.sup?.stop(15_000, "SIGKILL");
  }

  rss(): number | undefined {
    const pid = this.pid;
    return pid ? rssBytes(pid) : undefined;
  }
}

export interface OwnedStackOptions {
  /** A line for the person watching (start-up progress). */
  say(line: string): void;
  onInstance?(p: OwnedProc, i: Instance): void;
}

export class OwnedStack {
  readonly procs: OwnedProc[] = [];
  readonly links: Link[] = [];
  private readonly logs: WriteStream[] = [];

  private constructor(private readonly o: OwnedStackOptions) {}

  /** Starts every process group by group, as `just up` does, with the proxies in place. */
  static async start(o: OwnedStackOptions): Promise<OwnedStack> {
    const stack = new OwnedStack(o);
    try {
      await stack.boot();
      return stack;
    } catch (err) {
      await stack.stop();
      throw err;
    }
  }

  proc(name: string): OwnedProc {
    const p = this.procs.find((x) => x.name === name);
    if (!p) throw new Error(`no process ${name} in this stack`);
    return p;
  }

  link(name: string): Link {
    const l = this.links.find((x) => x.name === name);
    if (!l) throw new Error(`no link ${name} in this stack`);
    return l;
  }

  private async boot(): Promise<void> {
    const dirs = stackDirs();
    mkdirSync(dirs.logs, { recursive: true });
    const secrets = loadSecrets(dirs.secrets);
    const specs = await stackProcs(secrets);
    for (const spec of specs) {
      spec.restart = true;
      await this.insertLinks(spec);
      const log = createWriteStream(join(dirs.logs, `${spec.name}.log`), { flags: "a" });
      this.logs.push(log);
      this.procs.push(new OwnedProc(spec, log, (p, i) => this.o.onInstance?.(p, i)));
    }
    let group: StackProc["group"] | undefined;
    for (const p of this.procs) {
      if (group && group !== p.spec.group) await afterGroup(group, secrets, this.setupLog());
      group = p.spec.group;
      await p.spec.prepare?.();
      const started = performance.now();
      p.start();
      await until(() => p.ready(), p.spec.readyTimeoutMs, `${p.name} to be ready`, { intervalMs: 200 });
      this.o.say(`ready ${p.name} (${((performance.now() - started) / 1000).toFixed(1)}s)`);
    }
    if (group) await afterGroup(group, secrets, this.setupLog());
  }

  private setupLog() {
    return { say: () => {}, warn: (scope: string, line: string) => this.o.say(`${scope}: ${line}`) };
  }

  /** Points the process's server URLs at a proxy per link (several servers: several proxies). */
  private async insertLinks(spec: StackProc): Promise<void> {
    for (const l of linkedUrls) {
      const value = spec.env?.[l.variable];
      if (!l.proc.test(spec.name) || !value) continue;
      const urls = value.split(",");
      const proxied: string[] = [];
      for (const [i, raw] of urls.entries()) {
        const url = new URL(raw);
        const proxy = await startTcpProxy({ target: { host: url.hostname, port: Number(url.port) } });
        const name = `${spec.name}-${l.server}${urls.length > 1 ? `-${i + 1}` : ""}`;
        this.links.push({ name, proc: spec.name, proxy });
        url.host = `127.0.0.1:${proxy.port}`;
        proxied.push(url.toString().replace(/\/$/, ""));
      }
      spec.env = { ...spec.env, [l.variable]: proxied.join(",") };
    }
  }

  /** Undoes every fault: links pass, paused processes run, stopped ones start. */
  heal(): void {
    for (const l of this.links) l.proxy.setMode({ kind: "pass" });
    for (const p of this.procs) {
      if (p.frozen) p.thaw();
      if (p.down) p.start();
    }
  }

  /** Resolves when every process answers its readiness probe. */
  async untilReady(timeoutMs: number): Promise<void> {
    await until(
      async () => (await Promise.all(this.procs.map((p) => p.ready()))).every(Boolean),
      timeoutMs,
      "every process to be ready",
      { intervalMs: 500 },
    );
  }

  /** Names of the processes not ready now. */
  async notReady(): Promise<string[]> {
    const ready = await Promise.all(this.procs.map((p) => p.ready()));
    return this.procs.filter((_, i) => !ready[i]).map((p) => p.name);
  }

  /** Stops everything in reverse order, then the proxies. */
  async stop(): Promise<void> {
    for (const p of [...this.procs].reverse()) {
      if (p.frozen) p.thaw();
      await p.stop().catch(() => {});
    }
    for (const l of this.links) await l.proxy.close();
    for (const log of this.logs) log.end();
  }
}
