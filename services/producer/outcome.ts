// Where a write's outcome comes from when the consumer will not answer this request itself: a
// publish that JetStream deduplicated (an identical retry) never reaches the consumer. If this
// process has the original in flight, the retry waits on the same answer; otherwise it looks the
// outcome up where it is durable (the row, else the operations record: outcome-lookup.ts), polling
// with backoff until the deadline. No KV watch and no consumer per request: a replay leaves no
// state on any server.
import { setTimeout as sleep } from "node:timers/promises";
import type { KV } from "@nats-io/kv";
import type { Sql } from "postgres";
import type { Logger } from "../shared/log.ts";
import { answerRetry, lookupOutcome } from "../shared/outcome-lookup.ts";
import type { WriteReply } from "../shared/outcomes.ts";
import type { Table } from "../shared/writes.ts";

/** Answers of the writes this process is waiting for, by Nats-Msg-Id (key and payload). */
export class Originals {
  private readonly waiting = new Map<string, Promise<WriteReply | undefined>>();

  /** Registers the original's answer for the time it is awaited. */
  track(msgId: string, answer: Promise<WriteReply | undefined>): void {
    this.waiting.set(msgId, answer);
    void answer.finally(() => {
      if (this.waiting.get(msgId) === answer) this.waiting.delete(msgId);
    });
  }

  get(msgId: string): Promise<WriteReply | undefined> | undefined {
    return this.waiting.get(msgId);
  }

  get size(): number {
    return this.waiting.size;
  }
}

const firstPollMs = 10;
const maxPollMs = 250;

/**
 * The outcome of a retry of (`table`, payload `hash`) under `operationId`, or undefined at the
 * deadline. A lookup that fails (Postgres or NATS down) is simply tried again: at the deadline the
 * write answers 202, never an error.
 */
export async function lookUpUntil(
  deps: { sql: Sql; kv: KV; log: Logger },
  operationId: string,
  table: Table,
  hash: string,
  deadline: number,
): Promise<WriteReply | undefined> {
  let wait = firstPollMs;
  let warned = false;
  for (;;) {
    try {
      const answer = answerRetry(
        await lookupOutcome(deps.sql, deps.kv, operationId),
        operationId,
        table,
        hash,
      );
      if (answer) return answer;
    } catch (err) {
      if (!warned) deps.log.warn("cannot look up the outcome yet; retrying", { operationId, err });
      warned = true;
    }
    const left = deadline - performance.now();
    if (left <= 0) return undefined;
    await sleep(Math.min(wait, left));
    wait = Math.min(maxPollMs, wait * 2);
  }
}
