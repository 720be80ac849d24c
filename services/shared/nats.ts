// NATS connection defaults for long-running services, the subjects that keep one user's replies
// away from another's, and the start-up check that the JetStream objects a service uses exist.
// Services never create streams: streams.yaml and the reconciler do.
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "./log.ts";

/**
 * Where the producer's write replies go (`_JPW_REPLY.<nuid>.<n>`): a namespace of its own, apart
 * from the `_INBOX` replies of JetStream API calls, so the consumer may publish there and nowhere
 * else (services/infra/nats-auth.ts), and answers a command's Reply-To only when it lies inside.
 */
export const writeReplyPrefix = "_JPW_REPLY";

const writeReplySubject = new RegExp(`^${writeReplyPrefix}(\\.[^\\s*>.]+)+$`);

/** A subject under the write-reply prefix, with no wildcard or empty token: one the consumer may answer. */
export function isWriteReply(subject: string): boolean {
  return writeReplySubject.test(subject);
}

/**
 * Each NATS user's own inbox prefix (`_INBOX_producer`, ...): its JetStream API replies, PubAcks and
 * pulled messages arrive there, and its permissions let it subscribe there only, so no user can
 * read another's replies.
 */
export const inboxPrefixOf = (user: string) => `_INBOX_${user}`;

/**
 * NATS_URL as the client's server list: one URL, or a cluster's nodes separated by commas
 * (`nats://127.0.0.1:14222,nats://127.0.0.1:14223`). nats.js takes a string as one server, so a
 * list must reach it as an array; it then connects to any node and moves to another when one goes.
 */
export function natsServers(url: string): string[] {
  return url
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

export interface NatsAuth {
  user: string;
  /** Empty: connect without credentials (a server without authorization). */
  pass: string;
}

export async function connectNats(
  url: string,
  name: string,
  log: Logger,
  auth?: NatsAuth,
): Promise<NatsConnection> {
  const nc = await connect({
    servers: natsServers(url),
    name,
    // nats.js ignores credentials inside URLs: they come from NATS_USER and NATS_PASSWORD.
    ...(auth?.pass ? { user: auth.user, pass: auth.pass, inboxPrefix: inboxPrefixOf(auth.user) } : {}),
    // The client's defaults give up for good after ~20 s of outage; a service must outlive any.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    // Start before the server is up, and notice a stalled (not closed) server within ~15 s.
    waitOnFirstConnect: true,
    pingInterval: 5_000,
    maxPingOut: 3,
    // nats.js otherwise builds an Error (a stack capture) for every request, in case it fails: a
    // measurable share of the write path's CPU. Failures still carry their message and cause.
    noAsyncTraces: true,
  });
  (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect" || s.type === "reconnect" || s.type === "error") {
        log.warn(`nats ${s.type}`, {
          server: "server" in s ? s.server : undefined,
          ...(s.type === "error" ? { err: s.error.message } : {}),
        });
      }
    }
  })().catch(() => {});
  return nc;
}

/**
 * How long a pull lasts and how often an idle one hears from the server. When the consumer's leader
 * dies (its node is killed), the pull waiting there is lost without a word; nats.js pulls again only
 * after two missed heartbeats, which with its defaults (expires 30 s, heartbeat 15 s) stalled a
 * writer ~30 s after every leader change while the new leader held commands. A 1 s heartbeat finds
 * a lost pull within ~2 s of it (a small message a second per idle pull).
 */
export const pullTimers = { expires: 5000, idle_heartbeat: 1000 } as const;

export interface JetStreamNeeds {
  streams?: string[];
  consumers?: [stream: string, consumer: string][];
  kv?: string[];
}

/**
 * Resolves when every object exists; rejects with an actionable message naming the first missing
 * one (`stream WRITES not found: run just streams apply`).
 */
export async function requireJetStream(
  nc: NatsConnection,
  needs: JetStreamNeeds,
  jsm?: JetStreamManager,
): Promise<void> {
  const m = jsm ?? (await jetstreamManager(nc, { timeout: 2000 }));
  const missing = async (what: string, probe: () => Promise<unknown>) => {
    try {
      await probe();
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code === 10059 || code === 10014 || /not found/i.test((err as Error).message)) {
        throw new Error(`${what} not found: run just streams apply`);
      }
      throw err;
    }
  };
  for (const s of needs.streams ?? []) await missing(`stream ${s}`, () => m.streams.info(s));
  for (const [s, c] of needs.consumers ?? [])
    await missing(`consumer ${s}/${c}`, () => m.consumers.info(s, c));
  for (const b of needs.kv ?? []) await missing(`kv bucket ${b}`, () => m.streams.info(`KV_${b}`));
}

/**
 * Whether the connection is up right now (nats.js buffers publishes while it reconnects; a request
 * handler would rather refuse at once than wait for a timeout).
 */
export function connectionState(nc: NatsConnection): () => boolean {
  let up = !nc.isClosed();
  (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect" || s.type === "close") up = false;
      else if (s.type === "reconnect") up = true;
    }
  })().catch(() => {});
  return () => up && !nc.isClosed();
}
