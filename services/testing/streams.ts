// Gives a test's nats-server every object of streams.yaml, through the real reconciler.
import { connect } from "@nats-io/transport-node";
import { applyStreamsFile } from "../infra/reconcile/apply.ts";
import { natsServers } from "../shared/nats.ts";
import { natsAuthFor } from "./nats.ts";

/**
 * As the admin user of a server this test process started (or reuses). `env` adds to the process
 * environment for the file's ${NAME:-default} values (tiny limits).
 */
export async function applyStreams(
  natsUrl: string,
  file?: string,
  env?: Record<string, string>,
): Promise<void> {
  const nc = await connect({ servers: natsServers(natsUrl), ...natsAuthFor(natsUrl) });
  try {
    await applyStreamsFile(nc, file, env ? { env: { ...process.env, ...env } } : {});
  } finally {
    await nc.close();
  }
}
