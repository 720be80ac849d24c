// One reply subscription per process. Each write gets its own subject under the process's reply
// prefix (`_JPW_REPLY.<nuid>.<n>`: the one namespace the consumer may publish replies to, apart from
// every client's `_INBOX` API replies), named in the command's Reply-To header; the consumer publishes the
// outcome there after the commit. A subscription per request would cost two extra protocol messages
// and a server-side interest change for every write.
import { createInbox, type NatsConnection, type Subscription } from "@nats-io/nats-core";
import { type } from "arktype";
import type { Logger } from "../shared/log.ts";
import { writeReplyPrefix } from "../shared/nats.ts";
import { WriteReply } from "../shared/outcomes.ts";

export interface PendingReply {
  subject: string;
  /** Resolves with the reply, or undefined when `deadline` (performance.now() ms) passes first. */
  until(deadline: number): Promise<WriteReply | undefined>;
  cancel(): void;
}

export class ReplyInbox {
  readonly prefix = createInbox(writeReplyPrefix);
  private readonly waiting = new Map<string, (reply: WriteReply) => void>();
  private readonly sub: Subscription;
  private next = 0;

  constructor(nc: NatsConnection, log: Logger) {
    this.sub = nc.subscribe(`${this.prefix}.*`, {
      callback: (err, msg) => {
        if (err) {
          log.warn("reply subscription error", { err });
          return;
        }
        const token = msg.subject.slice(this.prefix.length + 1);
        const resolve = this.waiting.get(token);
        // A late reply (the request already answered 202) finds nobody: the client polls its operation.
        if (!resolve) return;
        let reply: unknown;
        try {
          reply = msg.json();
        } catch {
          reply = undefined;
        }
        const parsed = WriteReply(reply);
        if (parsed instanceof type.errors) {
          log.warn("ignored a malformed reply", { subject: msg.subject, problem: parsed.summary });
          return;
        }
        this.waiting.delete(token);
        resolve(parsed);
      },
    });
  }

  get size(): number {
    return this.waiting.size;
  }

  expect(): PendingReply {
    const token = (++this.next).toString(36);
    let resolve: (r: WriteReply | undefined) => void = () => {};
    const reply = new Promise<WriteReply | undefined>((r) => {
      resolve = r;
    });
    this.waiting.set(token, resolve);
    const cancel = () => {
      if (this.waiting.delete(token)) resolve(undefined);
    };
    return {
      subject: `${this.prefix}.${token}`,
      cancel,
      until: (deadline) => {
        const timer = setTimeout(cancel, Math.max(0, deadline - performance.now()));
        return reply.finally(() => clearTimeout(timer));
      },
    };
  }

  close(): void {
    this.sub.unsubscribe();
    for (const resolve of this.waiting.values()) resolve(undefined as never);
    this.waiting.clear();
  }
}
