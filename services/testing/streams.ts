// Gives a test's nats-server every object of streams.yaml, through the real reconciler.
import { connect } from "@nats-io/transport-node";
import { applyStreamsFile } from "../infra/reconcile/apply.ts";

export async function applyStreams(natsUrl: string, file?: string): Promise<void> {
  const nc = await connect({ servers: natsUrl });
  try {
    await applyStreamsFile(nc, file);
  } finally {
    await nc.close();
  }
}
