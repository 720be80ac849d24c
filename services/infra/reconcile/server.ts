// What the reconciler needs to know about a server before planning: who it is (version, JetStream
// API level, clustered or not, fsync policy) and what it holds (streams, their consumers).
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { natsServers } from "../../shared/nats.ts";
import { ApiError, connectionError, JetStreamDisabledError } from "./errors.ts";
import { jsApi, jsList } from "./js-api.ts";
import { apiLevelOf, type Config } from "./model.ts";

export interface ServerFacts {
  url: string;
  version: string;
  /** ADR-44 level from $JS.API.INFO: what the server accepts, even in a mixed-version cluster. */
  apiLevel: number;
  /** The cluster's name, when the server is part of one. */
  cluster: string | undefined;
  maxPayload: number;
  /** From /varz; undefined when no monitoring URL was given or it did not answer. */
  sync: { always: boolean; intervalNs: number } | undefined;
  /** Why `sync` is unknown. */
  syncUnknown?: string;
}

export interface LiveConsumer {
  name: string;
  config: Config;
}

export interface LiveStream {
  name: string;
  config: Config;
  /** What it holds, as the stream list reported it. */
  state: StreamState;
  consumers: Map<string, LiveConsumer>;
}

export interface StreamState {
  messages: number;
  bytes: number;
  first_seq: number;
  num_subjects: number;
  /** Interior deletes: sequences between first_seq and last_seq that hold no message. */
  num_deleted: number;
}

/**
 * Connects with what a short-lived tool wants: fail fast when the server is down, no reconnect
 * loop. `url` may carry credentials (nats://user:pass@host:4222, nats://token@host:4222); else
 * `fallback` gives them (the stack's admin user).
 */
export async function connectTo(
  url: string,
  fallback?: { user: string; pass: string },
): Promise<NatsConnection> {
  const auth: { user?: string; pass?: string; token?: string } = { ...fallback };
  // A cluster's nodes come as a comma list; credentials may sit in any of them.
  const servers = natsServers(url).map((one) => {
    try {
      const u = new URL(one.includes("://") ? one : `nats://${one}`);
      if (u.username) for (const k of ["user", "pass"] as const) delete auth[k];
      if (u.username && u.password)
        Object.assign(auth, { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) });
      else if (u.username) auth.token = decodeURIComponent(u.username);
      u.username = "";
      u.password = "";
      return u.toString().replace(/\/$/, "");
    } catch {
      // Not a URL: hand it to the client as it is.
      return one;
    }
  });
  try {
    return await connect({
      servers,
      name: "jpw-reconcile",
      timeout: 5_000,
      maxReconnectAttempts: 0,
      ...auth,
    });
  } catch (err) {
    throw connectionError(err, redact(url));
  }
}

/** The URL without its password or token, for messages. */
export function redact(url: string): string {
  return url.replace(/\/\/[^@/]+@/, "//***@");
}

export async function readServer(
  nc: NatsConnection,
  opts: { url: string; monitorUrl?: string | undefined },
): Promise<ServerFacts> {
  const info = nc.info;
  let account: { api?: { level?: number } };
  try {
    account = await jsApi(nc, "INFO", undefined, "read the JetStream account");
  } catch (err) {
    // Nobody answers $JS.API: the server runs without JetStream.
    if (err instanceof JetStreamDisabledError) {
      throw new JetStreamDisabledError(
        `JetStream is not enabled on nats-server at ${opts.url}: start it with -js or a jetstream {} block`,
        { cause: err },
      );
    }
    // 10039: the server runs JetStream but this account has none.
    if (err instanceof ApiError && err.code === 10039) {
      throw new JetStreamDisabledError(
        `JetStream is not enabled for this account on ${opts.url}: add "jetstream: enabled" to the account`,
        { cause: err },
      );
    }
    throw err;
  }
  const version = info?.version ?? "0.0.0";
  const facts: ServerFacts = {
    url: opts.url,
    version,
    apiLevel: account.api?.level ?? apiLevelOf(version),
    cluster: info?.cluster,
    maxPayload: info?.max_payload ?? 1024 * 1024,
    sync: undefined,
  };
  if (!opts.monitorUrl) {
    facts.syncUnknown = "no monitoring URL given (--monitor http://host:8222)";
    return facts;
  }
  try {
    const res = await fetch(`${opts.monitorUrl.replace(/\/$/, "")}/varz`, {
      signal: AbortSignal.timeout(3_000),
    });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const varz = (await res.json()) as {
      jetstream?: { config?: { sync_always?: boolean; sync_interval?: number } };
    };
    const config = varz.jetstream?.config;
    facts.sync = { always: config?.sync_always === true, intervalNs: config?.sync_interval ?? 120e9 };
  } catch (err) {
    facts.syncUnknown = `${opts.monitorUrl}/varz did not answer (${(err as Error).message})`;
  }
  return facts;
}

interface StreamInfoWire {
  config: Config & { name: string };
  state?: Partial<StreamState>;
}

interface ConsumerInfoWire {
  name: string;
  config: Config;
}

/**
 * Every stream on the server with its config; consumers only for the streams `withConsumers`
 * selects (declared or managed ones), so a big shared server costs one list per relevant stream.
 */
export async function readLive(
  nc: NatsConnection,
  withConsumers: (name: string, config: Config) => boolean,
): Promise<Map<string, LiveStream>> {
  const streams = await jsList<StreamInfoWire>(nc, "STREAM.LIST", "streams", "list streams");
  const live = new Map<string, LiveStream>();
  for (const s of streams) {
    const consumers = new Map<string, LiveConsumer>();
    if (withConsumers(s.config.name, s.config)) {
      const list = await jsList<ConsumerInfoWire>(
        nc,
        `CONSUMER.LIST.${s.config.name}`,
        "consumers",
        `list the consumers of stream ${s.config.name}`,
      );
      for (const c of list) consumers.set(c.name, { name: c.name, config: c.config });
    }
    live.set(s.config.name, {
      name: s.config.name,
      config: s.config,
      state: {
        messages: s.state?.messages ?? 0,
        bytes: s.state?.bytes ?? 0,
        first_seq: s.state?.first_seq ?? 0,
        num_subjects: s.state?.num_subjects ?? 0,
        num_deleted: s.state?.num_deleted ?? 0,
      },
      consumers,
    });
  }
  return live;
}
