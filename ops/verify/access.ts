// How the checker reaches the servers as an operator would: NATS as the admin user (garbage
// published by hand, consumer and DLQ inspection), Postgres as the superuser (manual SQL, the final
// snapshot). The one file that knows the stack's credentials: when they change, only this changes.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import postgres, { type Sql } from "postgres";
import { loadSecrets } from "../../services/infra/secrets.ts";
import { natsServers } from "../../services/shared/nats.ts";
import { localUrls, stackDirs } from "../lib/stack-config.ts";

/** The checker's stack's credentials (its own data folder, generated when it first started). */
const secrets = () => loadSecrets(stackDirs().secrets);

/** The admin NATS connection; it outlives any outage the fault schedule makes. */
export function operatorNats(): Promise<NatsConnection> {
  return connect({
    servers: natsServers(localUrls().natsUrl),
    user: "admin",
    pass: secrets().nats.admin,
    name: "jpw-verify",
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: true,
    pingInterval: 5000,
    maxPingOut: 2,
  });
}

/** The superuser on the stack's database, with timeouts: Postgres may be paused under it. */
export function operatorSql(max = 2): Sql {
  return postgres(localUrls(secrets()).adminDatabaseUrl, {
    max,
    connect_timeout: 3,
    idle_timeout: 10,
    onnotice: () => {},
    connection: { application_name: "jpw-verify", statement_timeout: 5000 },
  });
}
