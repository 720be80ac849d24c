// Ports and folders of the local stack. Defaults sit away from the standard ports (4222, 5432,
// 6379, ...) so the stack runs beside servers a person already has; every value can be overridden
// with the JPW_* variable of the same name.
import { join } from "node:path";
import { dataDir } from "../../services/infra/paths.ts";
import { postgresUrl } from "../../services/infra/postgres-auth.ts";
import { redisUrl } from "../../services/infra/redis-auth.ts";
import { type PostgresRole, type Secrets, secretsDirOf } from "../../services/infra/secrets.ts";

const num = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new Error(`${name}=${raw} is not a TCP port (1-65535)`);
  }
  return n;
};

/**
 * Where the stack runs. `local` (the default): a person's machine, everything on loopback, the UI
 * built at start. `server` (JPW_PROFILE=server, what ops/deploy installs): the edge listens publicly on
 * :80, and with JPW_DOMAIN also on :443 with automatic HTTPS; the UI arrives prebuilt; every process is
 * restarted when it exits, since nobody is watching a terminal.
 */
export function stackProfile() {
  const profile = process.env.JPW_PROFILE || "local";
  if (profile !== "local" && profile !== "server") {
    throw new Error(`JPW_PROFILE=${profile} is not a profile: use local or server`);
  }
  const domain = process.env.JPW_DOMAIN || undefined;
  if (
    domain !== undefined &&
    !/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i.test(domain)
  ) {
    throw new Error(`JPW_DOMAIN=${domain} is not a domain name (e.g. shop.example.com)`);
  }
  if (domain && profile !== "server") throw new Error("JPW_DOMAIN needs JPW_PROFILE=server");
  return { server: profile === "server", domain, acmeEmail: process.env.JPW_ACME_EMAIL || undefined };
}

export function stackPorts() {
  const { server } = stackProfile();
  return {
    nats: num("JPW_NATS_PORT", 14222),
    natsMonitor: num("JPW_NATS_MONITOR_PORT", 18222),
    postgres: num("JPW_PG_PORT", 15432),
    redis: num("JPW_REDIS_PORT", 16379),
    edge: num("JPW_HTTP_PORT", server ? 80 : 8080),
    /** Only used with a domain (server profile): Caddy's automatic HTTPS. */
    https: num("JPW_HTTPS_PORT", 443),
    producer: num("JPW_PRODUCER_PORT", 13001),
    reader: num("JPW_READER_PORT", 13002),
    consumer: num("JPW_CONSUMER_PORT", 13003),
    debezium: num("JPW_DEBEZIUM_PORT", 13080),
  };
}

/**
 * JPW_REPLICAS: 1 (the default) runs one of everything; 3 runs a NATS cluster of three nodes with
 * R3 streams, two producers and two consumers behind the edge (README: Cluster).
 */
export function stackReplicas(): 1 | 3 {
  const raw = process.env.JPW_REPLICAS || "1";
  if (raw !== "1" && raw !== "3") {
    throw new Error(`JPW_REPLICAS=${raw}: use 1 (one node) or 3 (a NATS cluster of three)`);
  }
  return raw === "3" ? 3 : 1;
}

export interface NatsNode {
  /** `nats` alone; `nats-1`..`nats-3` in a cluster. */
  name: string;
  port: number;
  monitorPort: number;
  /** The route port (a cluster only). */
  clusterPort?: number;
}

/**
 * The NATS nodes, producers and consumers of the stack. A cluster's second and third of each take
 * JPW_<NAME>_PORT_<n> when set, else the first one's port plus an offset: nats-2 at JPW_NATS_PORT+1,
 * producer-2 at JPW_PRODUCER_PORT+10 (the services' ports sit one apart).
 */
export function stackReplicaPorts() {
  const p = stackPorts();
  const n = stackReplicas();
  const nth = (name: string, first: number, i: number, step: number) =>
    i === 1 ? first : num(`${name}_${i}`, first + step * (i - 1));
  const range = (count: number) => Array.from({ length: count }, (_, i) => i + 1);
  const named = (base: string, i: number) => (n === 1 ? base : `${base}-${i}`);
  const nats: NatsNode[] = range(n).map((i) => ({
    name: named("nats", i),
    port: nth("JPW_NATS_PORT", p.nats, i, 1),
    monitorPort: nth("JPW_NATS_MONITOR_PORT", p.natsMonitor, i, 1),
    ...(n > 1
      ? { clusterPort: nth("JPW_NATS_CLUSTER_PORT", num("JPW_NATS_CLUSTER_PORT", 16248), i, 1) }
      : {}),
  }));
  const services = (base: "producer" | "consumer", first: number, variable: string) =>
    range(n === 1 ? 1 : 2).map((i) => ({ name: named(base, i), port: nth(variable, first, i, 10) }));
  return {
    nats,
    producers: services("producer", p.producer, "JPW_PRODUCER_PORT"),
    consumers: services("consumer", p.consumer, "JPW_CONSUMER_PORT"),
  };
}

/** The standard port of each server, to tell a person when one already runs there. */
export const standardPorts = { nats: 4222, natsMonitor: 8222, postgres: 5432, redis: 6379 } as const;

export const databaseName = "jpw";

export function stackDirs() {
  return {
    data: dataDir,
    nats: join(dataDir, "nats"),
    postgres: join(dataDir, "postgres"),
    redis: join(dataDir, "redis"),
    debezium: join(dataDir, "debezium"),
    run: join(dataDir, "run"),
    logs: join(dataDir, "logs"),
    /** `just snapshot`'s copies of the database, for replay once history no longer reaches back. */
    snapshots: join(dataDir, "snapshots"),
    /** Every credential of the stack, owner-only (services/infra/secrets.ts). */
    secrets: secretsDirOf(dataDir),
  };
}

/**
 * How to reach each server of the local stack. With `secrets` the database and Redis URLs carry
 * their passwords (what services and people's clients are given); without, they are safe to print.
 * NATS credentials never go in a URL (nats.js ignores them there): NATS_USER and NATS_PASSWORD.
 */
export function localUrls(secrets?: Secrets) {
  const p = stackPorts();
  const nodes = stackReplicaPorts().nats;
  const db = (role: PostgresRole) =>
    secrets
      ? postgresUrl({
          host: "127.0.0.1",
          port: p.postgres,
          database: databaseName,
          role,
          password: secrets.postgres[role],
        })
      : `postgres://${role}@127.0.0.1:${p.postgres}/${databaseName}`;
  return {
    /** Every node of the cluster, comma-separated (services/shared/nats.ts: natsServers). */
    natsUrl: nodes.map((n) => `nats://127.0.0.1:${n.port}`).join(","),
    natsMonitorUrl: `http://127.0.0.1:${p.natsMonitor}`,
    adminDatabaseUrl: db("postgres"),
    writerDatabaseUrl: db("jpw_writer"),
    readerDatabaseUrl: db("jpw_reader"),
    producerDatabaseUrl: db("jpw_producer"),
    cdcDatabaseUrl: db("jpw_cdc"),
    redisUrl: secrets
      ? redisUrl({ host: "127.0.0.1", port: p.redis, user: "admin", password: secrets.redis.admin })
      : `redis://127.0.0.1:${p.redis}`,
    readerRedisUrl: secrets
      ? redisUrl({ host: "127.0.0.1", port: p.redis, user: "reader", password: secrets.redis.reader })
      : `redis://reader@127.0.0.1:${p.redis}`,
    edgeUrl: edgeUrl(p),
  };
}

function edgeUrl(p: { edge: number; https: number }): string {
  const { server, domain } = stackProfile();
  if (domain) return `https://${domain}${p.https === 443 ? "" : `:${p.https}`}`;
  return `http://${server ? "127.0.0.1" : "localhost"}${p.edge === 80 ? "" : `:${p.edge}`}`;
}
