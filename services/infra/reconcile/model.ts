// What the server does with a stream or consumer config: the defaults it fills in, the fields it
// cannot change in place, and the API level that introduced each newer field. Desired and live
// configs both go through `canonical*`, so a file that matches the server compares equal however
// the server chose to spell its defaults (nats-server server/stream.go checkStreamCfg,
// server/consumer.go setConsumerConfigDefaults, checked against 2.14.9).

export type Config = Record<string, unknown>;

/** JetStream API level (ADR-44) of each release line; a server advertises its own in INFO. */
const levelSince: [version: string, level: number][] = [
  ["2.11.0", 1],
  ["2.12.0", 2],
  ["2.12.5", 3],
  ["2.14.0", 4],
];

export function compareVersions(a: string, b: string): number {
  const pa = a.replace(/^v/, "").split(/[.-]/).map(Number);
  const pb = b.replace(/^v/, "").split(/[.-]/).map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] || 0) - (pb[i] || 0);
    if (d) return Math.sign(d);
  }
  return 0;
}

export function apiLevelOf(version: string): number {
  let level = 0;
  for (const [v, l] of levelSince) if (compareVersions(version, v) >= 0) level = l;
  return level;
}

export function releaseOfLevel(level: number): string {
  return levelSince.find(([, l]) => l === level)?.[0] ?? "2.10.0";
}

/**
 * Fields newer than the API level 0 baseline. Since 2.12 the server rejects unknown JSON fields, so
 * a field is sent only to servers that know it, and declaring one the server lacks is an error.
 */
export const streamFieldLevel: Record<string, number> = {
  allow_msg_ttl: 1,
  subject_delete_marker_ttl: 1,
  persist_mode: 2,
  allow_atomic: 2,
  allow_msg_counter: 2,
  allow_msg_schedules: 2,
  allow_batched: 4,
};
export const consumerFieldLevel: Record<string, number> = {
  priority_groups: 1,
  priority_policy: 1,
  priority_timeout: 1,
};

const second = 1e9;
const defaultDuplicateWindow = 120 * second;
const defaultAckWait = 30 * second;

/** 0 (and absence) mean "unlimited", which the server stores as -1. */
const unlimited = (v: unknown): number => (typeof v === "number" && v !== 0 ? v : -1);
const num = (v: unknown, fallback = 0): number => (typeof v === "number" ? v : fallback);
const str = (v: unknown, fallback = ""): string => (typeof v === "string" && v !== "" ? v : fallback);
const bool = (v: unknown): boolean => v === true;
const absentIfEmpty = (v: unknown): unknown => {
  if (v === undefined || v === null) return null;
  if (Array.isArray(v)) return v.length ? v : null;
  if (typeof v === "object") return Object.keys(v).length ? v : null;
  return v;
};

/** Metadata a person or this tool wrote; the server's own `_nats.*` keys (ADR-44) are not config. */
export function userMetadata(m: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries((m as Record<string, string> | undefined) ?? {})) {
    if (!k.startsWith("_nats.")) out[k] = v;
  }
  return out;
}

/** Every stream field this tool compares, in the order plans show them. */
export function canonicalStream(c: Config): Config {
  const maxAge = num(c.max_age);
  const limits = (c.consumer_limits ?? {}) as Config;
  return {
    name: c.name,
    description: str(c.description),
    subjects: [...((c.subjects as string[] | undefined) ?? [c.name as string])].sort(),
    storage: str(c.storage, "file"),
    retention: str(c.retention, "limits"),
    max_consumers: unlimited(c.max_consumers),
    max_msgs: unlimited(c.max_msgs),
    max_bytes: unlimited(c.max_bytes),
    max_age: maxAge,
    max_msgs_per_subject: unlimited(c.max_msgs_per_subject),
    max_msg_size: unlimited(c.max_msg_size),
    discard: str(c.discard, "old"),
    discard_new_per_subject: bool(c.discard_new_per_subject),
    num_replicas: num(c.num_replicas) || 1,
    // Unset, the window is 2m, or max_age when that is shorter.
    duplicate_window:
      num(c.duplicate_window) ||
      (maxAge > 0 && maxAge < defaultDuplicateWindow ? maxAge : defaultDuplicateWindow),
    compression: str(c.compression, "none"),
    no_ack: bool(c.no_ack),
    allow_rollup_hdrs: bool(c.allow_rollup_hdrs),
    deny_delete: bool(c.deny_delete),
    deny_purge: bool(c.deny_purge),
    allow_direct: bool(c.allow_direct),
    mirror_direct: bool(c.mirror_direct),
    sealed: bool(c.sealed),
    allow_msg_ttl: bool(c.allow_msg_ttl),
    subject_delete_marker_ttl: num(c.subject_delete_marker_ttl),
    persist_mode: str(c.persist_mode, "default"),
    allow_atomic: bool(c.allow_atomic),
    allow_batched: bool(c.allow_batched),
    allow_msg_counter: bool(c.allow_msg_counter),
    allow_msg_schedules: bool(c.allow_msg_schedules),
    consumer_limits: {
      inactive_threshold: num(limits.inactive_threshold),
      max_ack_pending: num(limits.max_ack_pending),
    },
    // Not declarable in streams.yaml: null unless someone set them by hand, which then shows as drift.
    placement: absentIfEmpty(c.placement),
    mirror: absentIfEmpty(c.mirror),
    sources: absentIfEmpty(c.sources),
    republish: absentIfEmpty(c.republish),
    subject_transform: absentIfEmpty(c.subject_transform),
    metadata: userMetadata(c.metadata),
  };
}

/** Every consumer field this tool compares; `stream` is the canonical config of its stream. */
export function canonicalConsumer(c: Config, stream: Config): Config {
  const ackPolicy = str(c.ack_policy, "none");
  const acks = ackPolicy !== "none";
  const backoff = (c.backoff as number[] | undefined) ?? [];
  const limits = stream.consumer_limits as { inactive_threshold: number; max_ack_pending: number };
  const filters = [
    ...(c.filter_subject ? [c.filter_subject as string] : []),
    ...((c.filter_subjects as string[] | undefined) ?? []),
  ].sort();
  const push = str(c.deliver_subject) !== "";
  return {
    name: str(c.durable_name, str(c.name)),
    description: str(c.description),
    // One filter may be written either way; the server keeps whichever was sent.
    filter_subject: filters.length === 1 ? filters[0] : "",
    filter_subjects: filters.length > 1 ? filters : [],
    deliver_policy: str(c.deliver_policy, "all"),
    opt_start_seq: num(c.opt_start_seq),
    opt_start_time: absentIfEmpty(c.opt_start_time),
    ack_policy: ackPolicy,
    // A backoff overrides ack_wait with its first step.
    ack_wait: acks ? (backoff[0] ?? (num(c.ack_wait) || defaultAckWait)) : num(c.ack_wait),
    max_deliver: unlimited(c.max_deliver),
    backoff,
    replay_policy: str(c.replay_policy, "instant"),
    sample_freq: str(c.sample_freq),
    max_waiting: push ? num(c.max_waiting) : num(c.max_waiting) || 512,
    max_ack_pending: acks ? num(c.max_ack_pending) || limits.max_ack_pending || 1000 : num(c.max_ack_pending),
    headers_only: bool(c.headers_only),
    max_batch: num(c.max_batch),
    max_expires: num(c.max_expires),
    max_bytes: num(c.max_bytes),
    inactive_threshold: num(c.inactive_threshold) || limits.inactive_threshold,
    // 0 means "as many as the stream".
    num_replicas: num(c.num_replicas) || (stream.num_replicas as number),
    mem_storage: bool(c.mem_storage),
    deliver_subject: str(c.deliver_subject),
    deliver_group: str(c.deliver_group),
    flow_control: bool(c.flow_control),
    idle_heartbeat: num(c.idle_heartbeat),
    rate_limit_bps: num(c.rate_limit_bps),
    priority_groups: absentIfEmpty(c.priority_groups),
    priority_policy: str(c.priority_policy, "none"),
    priority_timeout: num(c.priority_timeout),
    metadata: userMetadata(c.metadata),
  };
}

export interface ServerLevel {
  apiLevel: number;
  version: string;
}

/** Why a field cannot move from `old` to `next` in place, or undefined when it can. */
export type Rule = (old: unknown, next: unknown, server: ServerLevel) => string | undefined;

const fixed =
  (why: string): Rule =>
  () =>
    why;
const oneWay =
  (why: string): Rule =>
  (old, next) =>
    old === true && next === false ? why : undefined;

export const streamRules: Record<string, Rule> = {
  storage: fixed("storage cannot change in place"),
  retention: (old, next) =>
    (old === "workqueue") !== (next === "workqueue")
      ? "retention cannot change to or from workqueue in place"
      : undefined,
  max_consumers: (_o, _n, s) =>
    s.apiLevel < 4 ? "max_consumers cannot change in place before nats-server 2.14" : undefined,
  sealed: oneWay("a sealed stream cannot be unsealed"),
  deny_delete: oneWay("deny_delete cannot be turned off once on"),
  deny_purge: oneWay("deny_purge cannot be turned off once on"),
  allow_msg_ttl: (old, next, s) =>
    s.apiLevel < 2
      ? "allow_msg_ttl cannot change in place before nats-server 2.12"
      : oneWay("allow_msg_ttl cannot be turned off once on")(old, next, s),
  allow_msg_schedules: oneWay("allow_msg_schedules cannot be turned off once on"),
  allow_msg_counter: fixed("allow_msg_counter cannot change in place"),
  persist_mode: fixed("persist_mode cannot change in place"),
  mirror: fixed("a mirror cannot be added, changed or removed in place"),
};

export const consumerRules: Record<string, Rule> = {
  deliver_policy: fixed("deliver_policy cannot change in place"),
  opt_start_seq: fixed("opt_start_seq cannot change in place"),
  opt_start_time: fixed("opt_start_time cannot change in place"),
  ack_policy: fixed("ack_policy cannot change in place"),
  replay_policy: fixed("replay_policy cannot change in place"),
  max_waiting: fixed("max_waiting cannot change in place"),
  deliver_subject: (old, next) =>
    (old === "") !== (next === "") ? "a consumer cannot switch between pull and push in place" : undefined,
  flow_control: fixed("flow_control cannot change in place"),
  idle_heartbeat: fixed("idle_heartbeat cannot change in place"),
  mem_storage: (_o, _n, s) =>
    compareVersions(s.version, "2.14.4") >= 0 ? "mem_storage cannot change in place since 2.14.4" : undefined,
};

/** The canonical config minus what the target server does not know and what is absent. */
function wire(canon: Config, levels: Record<string, number>, apiLevel: number): Config {
  const out: Config = {};
  for (const [k, v] of Object.entries(canon)) {
    if (v === null || (levels[k] ?? 0) > apiLevel) continue;
    out[k] = v;
  }
  return out;
}

/**
 * The full stream config to send: every field explicit, so nothing is left to a merge with the old
 * config (a removed field goes back to its default) and pedantic mode finds nothing to adjust.
 */
export function streamRequest(canon: Config, apiLevel: number): Config {
  const out = wire(canon, streamFieldLevel, apiLevel);
  const limits = out.consumer_limits as Config;
  out.consumer_limits = Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== 0));
  return out;
}

/** The full consumer config to send; `declaredReplicas` keeps "0 = follow the stream" as written. */
export function consumerRequest(canon: Config, declaredReplicas: number, apiLevel: number): Config {
  const out = wire(canon, consumerFieldLevel, apiLevel);
  out.durable_name = canon.name;
  out.num_replicas = declaredReplicas;
  // Push-only fields stay unset on a pull consumer (the server rejects heartbeats without push).
  for (const k of ["deliver_subject", "deliver_group", "flow_control", "idle_heartbeat", "rate_limit_bps"]) {
    if (!out[k]) delete out[k];
  }
  if (out.filter_subject === "") delete out.filter_subject;
  if ((out.filter_subjects as string[]).length === 0) delete out.filter_subjects;
  if (out.priority_policy === "none") delete out.priority_policy;
  return out;
}

// What streams.yaml declares, one object at a time (spec.ts reads the file into these).
export interface ConsumerSpec {
  stream: string;
  name: string;
  /** As the API takes it (ConsumerConfig), defaults not filled in: model.ts does that. */
  config: Config & { durable_name: string };
  /** Where it is declared, for messages: ["streams", "WRITES", "consumers", "users-writer"]. */
  path: string[];
}

export interface StreamSpec {
  kind: "stream" | "kv";
  /** The stream's name: KV_<bucket> for a bucket. */
  name: string;
  bucket?: string;
  config: Config & { name: string; subjects: string[] };
  consumers: ConsumerSpec[];
  path: string[];
}
