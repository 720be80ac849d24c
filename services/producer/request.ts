// From an HTTP request to the command the producer publishes: the Idempotency-Key (or a new id),
// the body parsed to its canonical form, and the Nats-Msg-Id that makes an identical retry a
// JetStream duplicate. Everything a client can get wrong is answered here, before NATS is touched.
import { ValidationError } from "../shared/errors.ts";
import { parseWith, readJson } from "../shared/http.ts";
import { isUuid } from "../shared/uuid.ts";
import {
  type Command,
  inputs,
  maxBodyBytes,
  msgId,
  requestHash,
  type Table,
  type WriteData,
} from "../shared/writes.ts";

export interface WriteRequest {
  operationId: string;
  table: Table;
  data: WriteData;
  /** Identity of the canonical payload, recorded with the outcome. */
  hash: string;
  msgId: string;
  /** The JSON command, ready to publish. */
  body: string;
  /** W3C trace context, passed on when the client sent a well-formed one. */
  traceparent: string | undefined;
}

const traceparentFormat = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

export async function parseWriteRequest(req: Request, table: Table, now = new Date()): Promise<WriteRequest> {
  const key = req.headers.get("idempotency-key");
  if (key !== null && !isUuid(key.trim())) {
    throw new ValidationError(
      `Idempotency-Key must be a UUID such as ${crypto.randomUUID()} (got "${key.slice(0, 80)}")`,
      [{ path: "Idempotency-Key", message: "must be a UUID" }],
      "invalid-idempotency-key",
    );
  }
  // The key is the entity's primary key: one spelling per id, whatever case the client used.
  const operationId = key !== null ? key.trim().toLowerCase() : crypto.randomUUID();
  const data = parseWith(inputs[table], await readJson(req, maxBodyBytes)) as WriteData;
  const hash = requestHash(table, data);
  const command: Command = {
    operationId,
    table,
    op: "create",
    data: data as Command["data"],
    requestedAt: now.toISOString(),
  };
  const tp = req.headers.get("traceparent")?.trim().toLowerCase();
  return {
    operationId,
    table,
    data,
    hash,
    msgId: msgId(operationId, hash),
    body: JSON.stringify(command),
    traceparent: tp && traceparentFormat.test(tp) ? tp : undefined,
  };
}
