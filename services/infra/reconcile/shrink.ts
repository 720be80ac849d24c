// A limit lowered on a stream that holds data is an update the server makes in place, and it
// destroys: nats-server (2.14, filestore/memstore UpdateConfig) deletes at once the messages over a
// lower max_msgs_per_subject, over a lower max_msgs or max_bytes when discard is old, and those older
// than a lower max_age at its next expiry pass. With discard new it deletes nothing over max_msgs or
// max_bytes but refuses every new message until enough are gone, which stops a stream as surely. A
// lower jpw.history.* limit makes the services' history keeper remove history it would have kept.
// Measured here, before apply, from the stream's state and a few reads; nothing is changed.
import type { NatsConnection } from "@nats-io/nats-core";
import { ApiError } from "./errors.ts";
import { jsApi } from "./js-api.ts";
import { historyLimits, historyMaxAgeKey, historyMaxBytesKey } from "./metadata.ts";
import type { Config } from "./model.ts";
import type { LiveStream } from "./server.ts";
import { formatDuration, roughSize } from "./units.ts";

export interface Shrink {
  /** The field as plans name it: "max_bytes", "metadata.jpw.history.max_age". */
  field: string;
  /**
   * deletes: the server removes them on apply. refuses: discard new keeps them and refuses every
   * new message until they are gone. keeper: the history keeper removes those of them its
   * consumers acknowledged.
   */
  effect: "deletes" | "refuses" | "keeper";
  /** How many messages go (or stand over the limit), as `count` qualifies it. */
  messages: number;
  count: "exact" | "about" | "at most";
  /** Bytes over a size limit; undefined for a count or age limit. */
  bytes?: number;
  /** For people: "deletes 3 messages older than 1s". */
  text: string;
}

/** Never-ending limits (0 or -1 on the wire) compare as infinite. */
const limit = (v: unknown) => (typeof v === "number" && v > 0 ? v : Number.POSITIVE_INFINITY);
const lowered = (old: unknown, next: unknown) => limit(next) < limit(old);
const plural = (n: number, what: string) => `${n.toLocaleString("en-US")} ${what}${n === 1 ? "" : "s"}`;

/** The server's limit on subject details in one stream info answer (JSMaxSubjectDetails). */
const subjectDetailsPerPage = 100_000;
/** JetStream's "no message found". */
const noMessage = 10037;

/**
 * What lowering `have`'s limits to `want`'s (canonical configs of `live`) destroys; empty when the
 * stream holds nothing over them, so an empty stream is always a plain update.
 */
export async function measureShrinks(
  nc: NatsConnection,
  live: LiveStream,
  have: Config,
  want: Config,
): Promise<Shrink[]> {
  const state = live.state;
  if (state.messages === 0) return [];
  const out: Shrink[] = [];
  const average = state.bytes / state.messages;
  const refuses = want.discard !== "old";
  // Turning discard to old makes the server enforce max_msgs and max_bytes by deleting.
  const toOld = have.discard !== "old" && want.discard === "old";

  if (lowered(have.max_msgs, want.max_msgs) || (toOld && limit(want.max_msgs) < state.messages)) {
    const over = state.messages - limit(want.max_msgs);
    if (over > 0) {
      out.push({
        field: "max_msgs",
        effect: refuses ? "refuses" : "deletes",
        messages: over,
        count: "exact",
        text: refuses
          ? `holds ${plural(state.messages, "message")}, ${over.toLocaleString("en-US")} over: the server keeps them but refuses every new message (discard: new) until ${over === 1 ? "it is" : "they are"} gone`
          : `deletes its oldest ${plural(over, "message")}`,
      });
    }
  }

  if (lowered(have.max_bytes, want.max_bytes) || (toOld && limit(want.max_bytes) < state.bytes)) {
    const over = state.bytes - limit(want.max_bytes);
    if (over > 0) {
      const messages = Math.min(state.messages, Math.ceil(over / average));
      out.push({
        field: "max_bytes",
        effect: refuses ? "refuses" : "deletes",
        messages,
        count: "about",
        bytes: over,
        text: refuses
          ? `holds ${roughSize(state.bytes)}, ${roughSize(over)} over: the server keeps it but refuses every new message (discard: new) until ${roughSize(over)} are gone`
          : `deletes its oldest ${roughSize(over)} (about ${plural(messages, "message")})`,
      });
    }
  }

  /** "deletes 3 messages older than 1h": what `c` counts, then `after`. */
  const deleted = (field: string, c: Counted, what: string, after: string) => {
    if (c.messages === 0) return;
    const counted = `${c.count === "exact" ? "" : `${c.count} `}${plural(c.messages, what)}`;
    out.push({ field, effect: "deletes", ...c, text: `deletes ${counted} ${after}` });
  };
  if (lowered(have.max_age, want.max_age)) {
    const age = want.max_age as number;
    deleted("max_age", await olderThan(nc, live, age), "message", `older than ${formatDuration(age)}`);
  }
  if (lowered(have.max_msgs_per_subject, want.max_msgs_per_subject)) {
    const max = want.max_msgs_per_subject as number;
    const over = await overPerSubject(nc, live, max);
    deleted("max_msgs_per_subject", over, "older message", `beyond ${max} per subject`);
  }

  const oldHistory = historyLimits(have.metadata as Record<string, string>);
  const newHistory = historyLimits(want.metadata as Record<string, string>);
  const byKeeper = "those its consumers acknowledged";
  if (lowered(oldHistory.maxAge, newHistory.maxAge)) {
    const older = await olderThan(nc, live, newHistory.maxAge);
    if (older.messages > 0) {
      out.push({
        field: `metadata.${historyMaxAgeKey}`,
        effect: "keeper",
        messages: older.messages,
        count: "at most",
        text: `the history keeper removes up to ${plural(older.messages, "message")} older than ${formatDuration(newHistory.maxAge)}, ${byKeeper}`,
      });
    }
  }
  if (lowered(oldHistory.maxBytes, newHistory.maxBytes)) {
    const over = state.bytes - newHistory.maxBytes;
    if (over > 0) {
      const messages = Math.min(state.messages, Math.ceil(over / average));
      out.push({
        field: `metadata.${historyMaxBytesKey}`,
        effect: "keeper",
        messages,
        count: "at most",
        bytes: over,
        text: `the history keeper removes up to its oldest ${roughSize(over)} (about ${plural(messages, "message")}), ${byKeeper}`,
      });
    }
  }
  return out;
}

type Counted = Pick<Shrink, "messages" | "count">;

/**
 * Messages older than `age` (nanoseconds): the first one at or after now - age, found by a message
 * get by start time (nats-server 2.11+: a binary search over its blocks), then counted by sequence.
 */
async function olderThan(nc: NatsConnection, live: LiveStream, age: number): Promise<Counted> {
  const { first_seq: first, messages, num_deleted } = live.state;
  const since = new Date(Date.now() - age / 1e6).toISOString();
  let seq: number;
  try {
    const got = await jsApi<{ message: { seq: number } }>(
      nc,
      `STREAM.MSG.GET.${live.name}`,
      { start_time: since, no_hdr: true },
      `read stream ${live.name} by time`,
    );
    seq = got.message.seq;
  } catch (err) {
    // Nothing at or after that time: every message is older.
    if (err instanceof ApiError && err.code === noMessage) return { messages, count: "exact" };
    throw err;
  }
  const span = Math.min(messages, Math.max(0, seq - first));
  // Interior deletes may lie inside the span: then it is a bound.
  return { messages: span, count: num_deleted === 0 ? "exact" : "at most" };
}

/**
 * Messages beyond `max` per subject. Exact when every subject's count is known: with one message
 * per subject kept, or from the per-subject counts when one stream info answer holds them all;
 * else bounded by keeping one message per subject.
 */
async function overPerSubject(nc: NatsConnection, live: LiveStream, max: number): Promise<Counted> {
  const { messages, num_subjects: subjects } = live.state;
  const atMost = messages - subjects;
  if (atMost <= 0 || max === 1) return { messages: Math.max(0, atMost), count: "exact" };
  if (subjects > subjectDetailsPerPage) return { messages: atMost, count: "at most" };
  const info = await jsApi<{ state: { subjects?: Record<string, number> } }>(
    nc,
    `STREAM.INFO.${live.name}`,
    { subjects_filter: ">" },
    `count the messages per subject of stream ${live.name}`,
  );
  let over = 0;
  for (const n of Object.values(info.state.subjects ?? {})) over += Math.max(0, n - max);
  return { messages: over, count: "exact" };
}
