// Gives a test's nats-server every object of streams.yaml, through the real reconciler.
import { connect } from "@nats-io/transport-node";
import { applyStreamsFile } from "../infra/reconcile/apply.ts";
import { natsAuthFor } from "./nats.ts";

/** As the admin user of a server this test process started (or reuses). */
export async function applyStreams(natsUrl: string, file?: string): Promise<void> {
  const nc = await connect({ servers: natsUrl, ...natsAuthFor(natsUrl) });
  try {
    await applyStreamsFile(nc, file);
  } finally {
    await nc.close();
  }
}
