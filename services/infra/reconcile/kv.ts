// A KV bucket is the stream KV_<bucket> with the invariants of ADR-8 (rev. 9): one subject space
// per bucket, history as max_msgs_per_subject, rollups, direct gets, and by default discard new so
// a full bucket refuses a put instead of dropping another key's last value. A bucket may declare
// discard old: nats-server checks no KV invariant, and nats.js `Kvm.open` binds by name without
// reading the config (3.4.0 `Bucket.bind`), so such a bucket works like any other.
import type { Config } from "./model.ts";

export const kvStreamPrefix = "KV_";

export const kvStreamName = (bucket: string) => `${kvStreamPrefix}${bucket}`;

export interface KvOptions {
  description?: string | undefined;
  history: number;
  /** Nanoseconds; 0 keeps values forever. */
  ttl: number;
  maxBytes: number;
  maxValueSize: number;
  storage: "file" | "memory";
  replicas: number;
  compression: boolean;
  discard: "old" | "new";
  metadata: Record<string, string>;
}

export function kvStreamConfig(bucket: string, o: KvOptions): Config {
  return {
    name: kvStreamName(bucket),
    ...(o.description ? { description: o.description } : {}),
    subjects: [`$KV.${bucket}.>`],
    retention: "limits",
    max_msgs_per_subject: o.history,
    max_bytes: o.maxBytes,
    max_msg_size: o.maxValueSize,
    max_age: o.ttl,
    storage: o.storage,
    num_replicas: o.replicas,
    discard: o.discard,
    allow_rollup_hdrs: true,
    allow_direct: true,
    // ADR-8 turns deny_delete on; nats.js 3.4 `Kvm.create` leaves it off. Either is a valid bucket
    // and the flag can never be turned off again, so the plan accepts whichever the bucket has.
    deny_delete: true,
    compression: o.compression ? "s2" : "none",
    metadata: o.metadata,
  };
}
