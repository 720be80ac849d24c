// An ephemeral nats-server per test file: JetStream on a temp store, the same settings and the same
// users and permissions as the local stack (services/infra/nats-auth.ts), a free port chosen by the
// server itself (reported through its ports file).

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type ConnectionOptions, connect, type NatsConnection } from "@nats-io/transport-node";
import { natsAuthorizationFor } from "../infra/nats-auth.ts";
import { httpOk, metaLeader } from "../infra/probe.ts";
import type { NatsUser } from "../infra/secrets.ts";
import { type NatsClusterOptions, natsConfig } from "../infra/server-config.ts";
import { tools } from "../infra/tools.ts";
import { until } from "../infra/until.ts";
import { inboxPrefixOf, natsServers } from "../shared/nats.ts";
import { lastingFreePort } from "./ports.ts";
import { makeTempDir, removeTempDir, ServerProcess, waitReady } from "./process.ts";
import { reusedSecrets, splitCredentials, testSecrets } from "./secrets.ts";

export interface NatsCredentials {
  user: string;
  pass: string;
}

export interface NatsServer extends AsyncDisposable {
  /** The client URL, without credentials (nats.js ignores them in URLs). */
  url: string;
  monitorUrl: string;
  /** A user's credentials (admin by default), for `connect({ servers: url, ...auth(user) })`. */
  auth(user?: NatsUser): NatsCredentials;
  /** A connection as `user` (admin by default) with that user's own inbox prefix. */
  connect(user?: NatsUser, opts?: ConnectionOptions): Promise<NatsConnection>;
  /** NATS_URL, NATS_USER and NATS_PASSWORD of a service that connects as `user`. */
  env(user: Exclude<NatsUser, "admin">): Record<string, string>;
  /** Lines the server logged about permission violations (a denied publish or subscribe). */
  violations(): string[];
  /** True when NATS_URL pointed at a server we did not start (stop and restart are then refused). */
  reused: boolean;
  pid: number | undefined;
  stop(): Promise<void>;
  /** Stops and starts the same server: same port, same store, so clients can reconnect. */
  restart(): Promise<void>;
  /** SIGKILL, as a crash. Call start() to bring it back. */
  kill(): Promise<void>;
  start(): Promise<void>;
}

/**
 * Credentials of every server this process started or was given, by client URL: harness helpers
 * that take a bare `natsUrl` (applyStreams, startWritePath, startDebezium) find them here.
 */
const known = new Map<string, (user?: NatsUser) => NatsCredentials>();

/** The credentials of `user` on the server at `url` (one this test process started or reuses). */
export function natsAuthFor(url: string, user: NatsUser = "admin"): NatsCredentials {
  const auth = known.get(url);
  if (!auth) throw new Error(`no nats-server at ${url} was started or reused by this test process`);
  return auth(user);
}

export interface StartNatsOptions {
  /** Ignore NATS_URL and start our own server (tests that stop or restart it). */
  own?: boolean;
  /** A node of a cluster (startNatsCluster): its name and route ports. */
  serverName?: string;
  cluster?: NatsClusterOptions;
}

export async function startNats(opts: StartNatsOptions = {}): Promise<NatsServer> {
  const given = process.env.NATS_URL;
  if (given && !opts.own && !opts.cluster) return reusedServer(given);

  const bin = tools.natsServer();
  const passwords = testSecrets().nats;
  const authorization = natsAuthorizationFor(passwords);
  const dir = makeTempDir("nats");
  const storeDir = join(dir, "jetstream");
  let port = -1;
  let httpPort = -1;
  let proc: ServerProcess | undefined;
  const logged: string[] = [];

  const boot = async () => {
    const conf = join(dir, "nats.conf");
    writeFileSync(
      conf,
      natsConfig({
        port,
        httpPort,
        storeDir,
        portsFileDir: dir,
        serverName: opts.serverName ?? "jpw-test",
        authorization,
        ...(opts.cluster ? { cluster: opts.cluster } : {}),
      }),
    );
    const p = new ServerProcess({
      name: "nats",
      cmd: bin,
      args: ["-c", conf],
      onLine: (l) => /Violation/.test(l) && logged.push(l),
    });
    proc = p;
    await waitReady(p, "nats-server", async () => {
      const ports = readPorts(dir, p.pid);
      if (!ports) return false;
      port = ports.client;
      httpPort = ports.monitoring;
      const res = await fetch(`http://127.0.0.1:${httpPort}/healthz?js-enabled-only=true`);
      return res.ok;
    });
  };
  await boot();

  const auth = (user: NatsUser = "admin") => ({ user, pass: passwords[user] });
  const server: NatsServer = {
    get url() {
      return `nats://127.0.0.1:${port}`;
    },
    get monitorUrl() {
      return `http://127.0.0.1:${httpPort}`;
    },
    auth,
    connect: (user, opts) => connectAs(server.url, auth(user), opts),
    env: (user) => ({ NATS_URL: server.url, NATS_USER: user, NATS_PASSWORD: passwords[user] }),
    // Every process of this server (restarts included) logs into the ServerProcess it runs in.
    violations: () => [...logged],
    get pid() {
      return proc?.pid;
    },
    reused: false,
    start: boot,
    async stop() {
      await proc?.stop();
    },
    async restart() {
      await proc?.stop();
      await boot();
    },
    async kill() {
      proc?.killNow();
      await proc?.exited;
    },
    async [Symbol.asyncDispose]() {
      await proc?.stop();
      removeTempDir(dir);
    },
  };
  known.set(server.url, auth);
  return server;
}

export interface NatsCluster extends AsyncDisposable {
  /** Every node's client URL, comma-separated: what services get as NATS_URL. */
  url: string;
  nodes: NatsServer[];
  auth(user?: NatsUser): NatsCredentials;
  connect(user?: NatsUser, opts?: ConnectionOptions): Promise<NatsConnection>;
  env(user: Exclude<NatsUser, "admin">): Record<string, string>;
  /** The node whose server name the cluster reports (a stream's `cluster.leader`). */
  node(serverName: string): NatsServer;
  /** Resolves once a meta leader is elected and every node has caught up (full /healthz). */
  ready(timeoutMs?: number): Promise<void>;
}

/**
 * A cluster of `size` nodes on loopback, each its own ephemeral nats-server (startNats) with the
 * same users and permissions, routed to the others. Route ports are chosen below the ephemeral
 * range so that a node killed and started again finds its own still free.
 */
export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  const routePorts: number[] = [];
  while (routePorts.length < size) {
    const p = await lastingFreePort();
    if (!routePorts.includes(p)) routePorts.push(p);
  }
  const nodes: NatsServer[] = [];
  try {
    for (const [i, port] of routePorts.entries()) {
      nodes.push(
        await startNats({
          own: true,
          serverName: `jpw-test-${i + 1}`,
          cluster: { name: "jpw-test", port, routes: routePorts.filter((p) => p !== port) },
        }),
      );
    }
  } catch (err) {
    for (const n of nodes) await n[Symbol.asyncDispose]();
    throw err;
  }
  const url = nodes.map((n) => n.url).join(",");
  const auth = (user: NatsUser = "admin") => nodes[0]!.auth(user);
  known.set(url, auth);
  const cluster: NatsCluster = {
    url,
    nodes,
    auth,
    connect: (user, opts) => connectAs(url, auth(user), opts),
    env: (user) => ({ ...nodes[0]!.env(user), NATS_URL: url }),
    node(serverName) {
      const i = Number(/-(\d+)$/.exec(serverName)?.[1] ?? 0) - 1;
      const n = nodes[i];
      if (!n) throw new Error(`no node ${serverName} in this cluster`);
      return n;
    },
    async ready(timeoutMs = 60_000) {
      await until(
        async () => {
          const ok = await Promise.all(nodes.map((n) => httpOk(`${n.monitorUrl}/healthz`)));
          return ok.every(Boolean) && (await metaLeader(nodes[0]!.monitorUrl));
        },
        timeoutMs,
        "the NATS cluster to elect a meta leader and catch up",
        { intervalMs: 200 },
      );
    },
    async [Symbol.asyncDispose]() {
      for (const n of nodes) await n[Symbol.asyncDispose]();
    },
  };
  await cluster.ready();
  return cluster;
}

function readPorts(dir: string, pid: number | undefined): { client: number; monitoring: number } | undefined {
  const file = join(dir, `nats-server_${pid}.ports`);
  if (!existsSync(file)) return undefined;
  const text = readFileSync(file, "utf8");
  if (!text.trim()) return undefined;
  const ports = JSON.parse(text) as { nats: string[]; monitoring: string[] };
  const port = (u: string | undefined) => Number(new URL(u ?? "").port);
  return { client: port(ports.nats[0]), monitoring: port(ports.monitoring[0]) };
}

/** A connection with what a test wants: the user's credentials and its own inbox prefix. */
function connectAs(
  url: string,
  auth: NatsCredentials,
  opts: ConnectionOptions = {},
): Promise<NatsConnection> {
  return connect({ servers: natsServers(url), ...auth, inboxPrefix: inboxPrefixOf(auth.user), ...opts });
}

/**
 * A server given by NATS_URL: its admin credentials come in the URL (nats://admin:<pw>@host:port,
 * as `just status` prints it), the services' from that stack's secrets folder (secrets.ts).
 */
function reusedServer(given: string): NatsServer {
  const { url, user = "admin", pass = "" } = splitCredentials(given);
  const refuse = async () => {
    throw new Error(
      `cannot stop or restart the nats-server at NATS_URL=${url}: unset NATS_URL to let the test start its own`,
    );
  };
  const auth = (u: NatsUser = "admin") =>
    u === user ? { user, pass } : { user: u, pass: reusedSecrets("NATS_URL").nats[u] };
  known.set(url, auth);
  return {
    url,
    monitorUrl: process.env.NATS_MONITOR_URL ?? "",
    auth,
    connect: (u, opts) => connectAs(url, auth(u), opts),
    env: (u) => ({ NATS_URL: url, NATS_USER: u, NATS_PASSWORD: auth(u).pass }),
    violations: () => [],
    reused: true,
    pid: undefined,
    start: refuse,
    stop: async () => {},
    restart: refuse,
    kill: refuse,
    async [Symbol.asyncDispose]() {},
  };
}
