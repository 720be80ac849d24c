// The shape of streams.yaml, in NATS's own snake_case field names so a section reads like
// `nats stream info --json`. Unknown keys are rejected. Durations and sizes are converted here,
// once, to the nanoseconds and bytes of the API, so a bad one is reported with every other
// problem. Defaults that differ from the server's live here; every other omitted field takes the
// server's default (see model.ts).
import { type } from "arktype";
import { parseDuration, parseSize } from "./units.ts";

/** 30s, 7d, 1h30m, or 0. A bare 3600 would be 3.6 µs to the server, never what was meant. */
const duration = type("string | number").pipe((v, ctx) => {
  if (v === 0) return 0;
  if (typeof v === "number") {
    return ctx.error({
      problem: `has no unit: write ${v}s, ${v}ms or similar (a bare number would be nanoseconds)`,
    });
  }
  try {
    return parseDuration(v);
  } catch (err) {
    return ctx.error({ problem: `is not a duration: ${(err as Error).message}` });
  }
});

/** 1GiB, 512MB, 64KiB, whole bytes, or -1 for unlimited. */
const size = type("string | number").pipe((v, ctx) => {
  try {
    return parseSize(v);
  } catch (err) {
    return ctx.error({ problem: `is not a size: ${(err as Error).message}` });
  }
});

/**
 * NATS metadata is text. A plain YAML value such as 100000, or one a ${VAR:-100000} substitution
 * typed as a number, is taken as the text it was written as.
 */
const metadata = type("Record<string, string | number | boolean>").pipe((m) =>
  Object.fromEntries(Object.entries(m).map(([k, v]) => [k, String(v)])),
);

export const consumerShape = {
  "description?": "string",
  "filter_subject?": "string",
  "filter_subjects?": "string[]",
  "deliver_policy?": "'all' | 'last' | 'new' | 'last_per_subject' | 'by_start_sequence' | 'by_start_time'",
  "opt_start_seq?": "number.integer >= 1",
  "opt_start_time?": "string",
  // The server's default is "none", which loses messages a crashed worker never finished: a durable
  // declared here acknowledges explicitly unless it says otherwise.
  ack_policy: "'explicit' | 'all' | 'none' = 'explicit'",
  "ack_wait?": duration,
  "max_deliver?": "number.integer >= -1",
  "backoff?": duration.array(),
  "replay_policy?": "'instant' | 'original'",
  "sample_freq?": "string",
  "max_waiting?": "number.integer >= 1",
  "max_ack_pending?": "number.integer >= -1",
  "headers_only?": "boolean",
  "max_batch?": "number.integer >= 0",
  "max_expires?": duration,
  "max_bytes?": size,
  "inactive_threshold?": duration,
  "num_replicas?": "0 <= number.integer <= 5",
  "mem_storage?": "boolean",
  "metadata?": metadata,
} as const;

export const consumerLimitsShape = {
  "inactive_threshold?": duration,
  "max_ack_pending?": "number.integer >= 0",
} as const;

export const ConsumerDef = type({ "+": "reject", ...consumerShape });
export const ConsumerLimitsDef = type({ "+": "reject", ...consumerLimitsShape });

export const streamShape = {
  "description?": "string",
  subjects: "string[] > 0",
  "storage?": "'file' | 'memory'",
  "retention?": "'limits' | 'interest' | 'workqueue'",
  "max_consumers?": "number.integer >= -1",
  "max_msgs?": "number.integer >= -1",
  "max_bytes?": size,
  "max_age?": duration,
  "max_msgs_per_subject?": "number.integer >= -1",
  "max_msg_size?": size,
  "discard?": "'old' | 'new'",
  "discard_new_per_subject?": "boolean",
  "num_replicas?": "1 <= number.integer <= 5",
  "duplicate_window?": duration,
  "compression?": "'none' | 's2'",
  "no_ack?": "boolean",
  "allow_rollup_hdrs?": "boolean",
  "deny_delete?": "boolean",
  "deny_purge?": "boolean",
  "allow_direct?": "boolean",
  "allow_msg_ttl?": "boolean",
  "subject_delete_marker_ttl?": duration,
  "persist_mode?": "'default' | 'async'",
  "allow_atomic?": "boolean",
  "allow_batched?": "boolean",
  "consumer_limits?": ConsumerLimitsDef,
  "metadata?": metadata,
  "consumers?": type({ "[string]": ConsumerDef }),
} as const;

export const StreamDef = type({ "+": "reject", ...streamShape });

export const kvShape = {
  "description?": "string",
  history: "1 <= number.integer <= 64 = 1",
  "ttl?": duration,
  "max_bytes?": size,
  "max_value_size?": size,
  storage: "'file' | 'memory' = 'file'",
  replicas: "1 <= number.integer <= 5 = 1",
  compression: "boolean = false",
  // ADR-8's bucket refuses a put when full (new); old drops the oldest entries instead (another
  // key's only value included), for a bucket whose old entries are expendable.
  discard: "'old' | 'new' = 'new'",
  "metadata?": metadata,
} as const;

export const KvDef = type({ "+": "reject", ...kvShape });

export const SpecFileDef = type({
  "+": "reject",
  "streams?": type({ "[string]": StreamDef }),
  "kv?": type({ "[string]": KvDef }),
});

export type StreamDef = typeof StreamDef.infer;
export type ConsumerDef = typeof ConsumerDef.infer;
export type KvDef = typeof KvDef.infer;

const keysOf = (shape: object) => Object.keys(shape).map((k) => k.replace(/\?$/, ""));

/** The field names each kind of section accepts, to suggest one for a misspelt key. */
export const knownKeys = {
  root: ["streams", "kv"],
  stream: keysOf(streamShape),
  consumer: keysOf(consumerShape),
  consumer_limits: keysOf(consumerLimitsShape),
  kv: keysOf(kvShape),
};
