// How the operator tools that read the command log and the database (replay, snapshot, dlq) reach the
// servers as their administrators: NATS as admin, Postgres as the databases' owner. One place for
// it: the flags, else the environment `just status` prints (NATS_URL, DATABASE_URL: the
// superuser's, with its password), else the local stack with its owner's secrets (ops/lib/admin.ts).
import type { NatsConnection } from "@nats-io/nats-core";
import postgres, { type Sql } from "postgres";
import { connectTo } from "../../services/infra/reconcile/mod.ts";
import { adminNatsAuth, stackSecrets } from "./admin.ts";
import { localUrls } from "./stack-config.ts";

/** The NATS server an operator tool talks to: its flag, else NATS_URL, else the local stack's. */
export const adminNatsUrl = (flag?: string): string => flag ?? process.env.NATS_URL ?? localUrls().natsUrl;

export function adminEndpoints(flags: { server?: string | undefined; database?: string | undefined }) {
  const local = localUrls(stackSecrets());
  return {
    natsUrl: adminNatsUrl(flags.server),
    databaseUrl: flags.database ?? process.env.DATABASE_URL ?? local.adminDatabaseUrl,
  };
}

/** NATS as admin: credentials in the URL, else NATS_USER/NATS_PASSWORD, else the stack's. */
export const adminNats = (url: string): Promise<NatsConnection> => connectTo(url, adminNatsAuth());

/** The live database as its owner; timestamps in UTC, so both sides of a comparison read alike. */
export const ownerConnection = (url: string): Sql =>
  postgres(url, {
    max: 2,
    connect_timeout: 5,
    onnotice: () => {},
    connection: { application_name: "jpw-replay", TimeZone: "UTC" } as Record<string, string>,
  });
