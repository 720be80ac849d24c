// Dead-lettering: the original message goes to WRITES_DLQ with the reason in its headers, and its
// PubAck is awaited before anything else happens. WRITES_DLQ is `discard: new` (it never drops a
// dead letter); while it refuses, the command is held, not naked (hold.ts).
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/nats-core";
import { dlqHeaders, dlqSubject, type Table, writesStream } from "../shared/writes.ts";
import { type HoldContext, holding } from "./hold.ts";

export async function publishDeadLetter(
  ctx: HoldContext & { js: JetStreamClient; table: Table },
  m: JsMsg,
  reason: string,
  operationId: string | undefined,
): Promise<void> {
  const h = natsHeaders();
  for (const [k, v] of [...(m.headers ?? [])] as [string, string[]][]) {
    if (k.toLowerCase() !== "nats-msg-id") for (const value of v) h.append(k, value);
  }
  h.set(dlqHeaders.reason, reason.slice(0, 1000).replace(/[\r\n]+/g, " "));
  h.set(dlqHeaders.subject, m.subject);
  h.set(dlqHeaders.sequence, String(m.seq));
  h.set(dlqHeaders.deliveries, String(m.info.deliveryCount));
  if (operationId) h.set(dlqHeaders.operationId, operationId);
  // The original's stream sequence dedups a dead letter published twice (a crash before the ack).
  await holding(ctx, m, "dead-letter-queue", () =>
    ctx.js.publish(dlqSubject(ctx.table), m.data, { msgID: `${writesStream}:${m.seq}`, headers: h }),
  );
}
