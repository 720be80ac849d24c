// Every write the UI sent, with its outcome as it evolves: 201/200/409/422/503 at once, or 202 and
// then the operation's final status polled from /api/operations/<id>.
import { signal } from "@preact/signals";
import { getJson, type Operation, postWrite, type WriteResult } from "../api.ts";

export type WriteKind = "user" | "order";

export interface WriteAttempt {
  seq: number;
  kind: WriteKind;
  body: unknown;
  key: string;
  /** Which earlier attempt this one repeats with the same key, if any. */
  repeatOf?: number;
  result?: WriteResult;
  /** The operation's status as last polled, after a 202. */
  operation?: Operation;
  networkError?: string;
  pending: boolean;
}

export const attempts = signal<WriteAttempt[]>([]);
let seq = 0;

const pathOf = (kind: WriteKind) => (kind === "user" ? "/api/users" : "/api/orders");

function update(s: number, patch: Partial<WriteAttempt>): void {
  attempts.value = attempts.value.map((a) => (a.seq === s ? { ...a, ...patch } : a));
}

/** Sends a write; resolves with its result once the first answer is in (polling continues after a 202). */
export async function send(
  kind: WriteKind,
  body: unknown,
  key: string = crypto.randomUUID(),
  repeatOf?: number,
): Promise<WriteResult | undefined> {
  const attempt: WriteAttempt = {
    seq: ++seq,
    kind,
    body,
    key,
    pending: true,
    ...(repeatOf ? { repeatOf } : {}),
  };
  attempts.value = [attempt, ...attempts.value].slice(0, 50);
  try {
    const result = await postWrite(pathOf(kind), body, key);
    update(attempt.seq, { result, pending: result.status === 202 });
    if (result.status === 202 && result.operationId) void poll(attempt.seq, result.operationId);
    return result;
  } catch (err) {
    update(attempt.seq, { networkError: (err as Error).message, pending: false });
    return undefined;
  }
}

/** The same payload with the same Idempotency-Key: the API must answer the first outcome again. */
export const sendAgain = (a: WriteAttempt) => send(a.kind, a.body, a.key, a.seq);

async function poll(s: number, operationId: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    try {
      const { data } = await getJson<Operation>(`/api/operations/${operationId}`);
      update(s, { operation: data });
      if (data.status !== "accepted") {
        update(s, { pending: false });
        return;
      }
    } catch {
      // Not recorded yet, or the reader is briefly unavailable: keep polling until the deadline.
    }
  }
  update(s, { pending: false });
}
