// Ports for a stack of its own. Imports nothing that reads the environment when loaded: the checker
// and the system benchmark set JPW_DATA_DIR and these ports before they load the stack's modules
// (services/infra/paths.ts reads JPW_DATA_DIR once, at import).
import { lastingFreePort } from "../../services/testing/ports.ts";

/** The port variables of one stack (stack-config.ts stackPorts reads them). */
const stackPortVariables = [
  "JPW_NATS_PORT",
  "JPW_NATS_MONITOR_PORT",
  "JPW_PG_PORT",
  "JPW_REDIS_PORT",
  "JPW_HTTP_PORT",
  "JPW_PRODUCER_PORT",
  "JPW_READER_PORT",
  "JPW_CONSUMER_PORT",
  "JPW_DEBEZIUM_PORT",
];

/** A cluster's further ports (stack-config.ts stackReplicaPorts reads them). */
const clusterPortVariables = [
  "JPW_NATS_PORT_2",
  "JPW_NATS_PORT_3",
  "JPW_NATS_MONITOR_PORT_2",
  "JPW_NATS_MONITOR_PORT_3",
  "JPW_NATS_CLUSTER_PORT",
  "JPW_NATS_CLUSTER_PORT_2",
  "JPW_NATS_CLUSTER_PORT_3",
  "JPW_PRODUCER_PORT_2",
  "JPW_CONSUMER_PORT_2",
];

/**
 * Ports for a stack of its own beside others (the checker's, the system benchmark's), each distinct
 * and below the ephemeral range: the stack binds them a minute later (after the UI build and a JVM
 * start), or again when a fault restarts a server, and no client's ephemeral port can take one.
 */
export async function lastingStackPorts(o: { cluster?: boolean } = {}): Promise<Record<string, string>> {
  const variables = o.cluster ? [...stackPortVariables, ...clusterPortVariables] : stackPortVariables;
  const ports = new Set<number>();
  while (ports.size < variables.length) ports.add(await lastingFreePort());
  return Object.fromEntries(variables.map((v, i) => [v, String([...ports][i])]));
}
