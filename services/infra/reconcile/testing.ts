// Test helpers for the reconciler: the real nats CLI, a watcher of JetStream API requests, and a
// nats-server with a hand-written config (no JetStream, restricted users, lazy fsync) for the
// cases the shared harness does not start.
import { execFile } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { natsAuthFor } from "../../testing/nats.ts";
import { makeTempDir, removeTempDir, ServerProcess, waitReady } from "../../testing/process.ts";
import { tools } from "../tools.ts";
import { DestructiveChangeError } from "./errors.ts";

/**
 * Runs the nats CLI against `url` as its admin user (credentials through the environment, never on
 * the command line); resolves with stdout, rejects with its stderr.
 */
export function natsCli(url: string, ...args: string[]): Promise<string> {
  const { user, pass } = natsAuthFor(url);
  const env = { ...process.env, NATS_USER: user, NATS_PASSWORD: pass };
  return new Promise((resolve, reject) => {
    execFile(tools.nats(), ["--server", url, "--no-context", ...args], { env }, (err, stdout, stderr) => {
      if (err) reject(new Error(`nats ${args.join(" ")} failed: ${stderr || err.message}`, { cause: err }));
      else resolve(stdout);
    });
  });
}

const mutating = /^\$JS\.API\.(STREAM\.(CREATE|UPDATE|DELETE)|CONSUMER\.(CREATE|DURABLE\.CREATE|DELETE))\./;

/**
 * Records every request that would change JetStream, seen from a second connection: a core
 * subscription on $JS.API.> gets a copy of each request the server handles.
 */
export async function watchMutations(
  url: string,
): Promise<{ seen(): Promise<string[]>; close(): Promise<void> }> {
  const nc = await connect({ servers: url, ...natsAuthFor(url) });
  const subjects: string[] = [];
  nc.subscribe("$JS.API.>", {
    callback: (_err, msg) => {
      if (mutating.test(msg.subject)) subjects.push(msg.subject);
    },
  });
  await nc.flush();
  return {
    // A flush returns after the server sent us everything before it: every copy is in.
    seen: async () => {
      await nc.flush();
      return [...subjects];
    },
    close: () => nc.close(),
  };
}

export interface CustomNats extends AsyncDisposable {
  url: string;
  monitorUrl: string;
}

/** A nats-server from a config body; `listen`, `http` and the ports file are added here. */
export async function startCustomNats(body: (dir: string) => string): Promise<CustomNats> {
  const dir = makeTempDir("nats-custom");
  const conf = join(dir, "nats.conf");
  writeFileSync(
    conf,
    `listen: "127.0.0.1:-1"\nhttp: "127.0.0.1:-1"\nports_file_dir: ${JSON.stringify(dir)}\n${body(dir)}\n`,
  );
  const proc = new ServerProcess({ name: "nats", cmd: tools.natsServer(), args: ["-c", conf] });
  let ports: { nats: string[]; monitoring: string[] } | undefined;
  await waitReady(proc, "nats-server", async () => {
    const file = join(dir, `nats-server_${proc.pid}.ports`);
    if (!existsSync(file)) return false;
    const text = readFileSync(file, "utf8");
    if (!text.trim()) return false;
    ports = JSON.parse(text);
    return (await fetch(`${ports!.monitoring[0]}/healthz`)).ok;
  });
  return {
    url: ports!.nats[0]!,
    monitorUrl: ports!.monitoring[0]!,
    async [Symbol.asyncDispose]() {
      await proc.stop();
      removeTempDir(dir);
    },
  };
}

/** A connection closed with `await using`. */
export async function connected(url: string): Promise<NatsConnection & AsyncDisposable> {
  return (await connect({ servers: url, ...natsAuthFor(url) })) as NatsConnection & AsyncDisposable;
}

/** The DestructiveChangeError `fn` (an apply without allowDestructive) throws; anything else fails. */
export async function refusal(fn: () => Promise<unknown>): Promise<DestructiveChangeError> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof DestructiveChangeError) return err;
    throw err;
  }
  throw new Error("expected apply to refuse a destructive change");
}
