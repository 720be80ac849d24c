// Where row changes travel: Debezium Server publishes them into the CDC stream (streams.yaml) and
// the reader's durable consumer turns them into cache invalidations. These are the defaults both
// sides share; debezium/application.properties says the same in Debezium's own terms.
import type { Table } from "./writes.ts";

export const cdcStream = "CDC";
export const cdcConsumer = "cache-invalidator";

/** Row changes of a table: Debezium's `topic.prefix` (cdc), the schema, the table. */
export const cdcTablePrefix = "cdc.public.";
export const cdcSubject = (table: Table) => `${cdcTablePrefix}${table}`;

/** Debezium's heartbeats: `topic.heartbeat.prefix` + `.` + `topic.prefix`. */
export const cdcHeartbeatPrefix = "cdc.heartbeat.";
export const cdcHeartbeatSubject = `${cdcHeartbeatPrefix}cdc`;

/** How Debezium Server runs unless told otherwise (ms): its idle poll, and its heartbeat interval. */
export const debeziumDefaults = { pollMs: 10, heartbeatMs: 1000 } as const;

/** Debezium Server's Quarkus liveness endpoint on its HTTP port. */
export const debeziumHealthUrl = (port: number, host = "127.0.0.1") => `http://${host}:${port}/q/health`;
