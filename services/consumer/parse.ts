// Every message is re-validated: the producer's checks mean nothing to a command someone published
// with the nats CLI. A message that does not parse is data to dead-letter, never an exception.
import { type } from "arktype";
import { isWriteReply } from "../shared/nats.ts";
import { isUuid } from "../shared/uuid.ts";
import {
  type Command,
  inputs,
  replyToHeader,
  requestHash,
  type Table,
  WriteCommand,
  type WriteData,
} from "../shared/writes.ts";

export interface Incoming {
  subject: string;
  data: Uint8Array;
  headers?: { get(name: string): string } | undefined;
}

export type Parsed = (
  | { ok: true; command: Command; hash: string; replyTo: string | undefined }
  | { ok: false; reason: string; operationId: string | undefined; replyTo: string | undefined }
) & {
  /** A Reply-To outside the producer's write-reply prefix: never answered (the write still is applied). */
  refusedReplyTo?: string;
};

const decoder = new TextDecoder("utf-8", { fatal: true });

export function parseMessage(m: Incoming, table: Table): Parsed {
  const replyHeader = m.headers?.get(replyToHeader) || undefined;
  // Only the producer's reply namespace: a hand-published command must not make the consumer
  // publish, with its own rights, wherever the publisher likes (its permissions allow no other).
  const replyTo = replyHeader && isWriteReply(replyHeader) ? replyHeader : undefined;
  const refused = replyHeader && !replyTo ? { refusedReplyTo: replyHeader } : {};
  const poison = (reason: string, operationId?: string): Parsed => ({
    ok: false,
    reason,
    operationId,
    replyTo,
    ...refused,
  });

  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(m.data));
  } catch (err) {
    return poison(`not JSON: ${(err as Error).message}`);
  }
  const envelope = WriteCommand(value);
  if (envelope instanceof type.errors) {
    const id = (value as { operationId?: unknown } | null)?.operationId;
    const operationId = typeof id === "string" && isUuid(id) ? id.toLowerCase() : undefined;
    return poison(`not a write command: ${envelope.summary}`, operationId);
  }
  if (envelope.table !== table) {
    return poison(
      `table "${envelope.table}" does not match the subject ${m.subject}, which carries ${table} writes`,
      envelope.operationId,
    );
  }
  const data = inputs[table](envelope.data);
  if (data instanceof type.errors) {
    return poison(`invalid ${table} data: ${data.summary}`, envelope.operationId);
  }
  const command = { ...envelope, data } as Command;
  return { ok: true, command, hash: requestHash(table, data as WriteData), replyTo, ...refused };
}
