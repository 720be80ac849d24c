// Cross-field and cross-object rules, checked before any server is touched. Most are rules the
// server would enforce one request at a time, halfway through an apply; some it does not enforce
// at all (a consumer filter outside its stream's subjects is accepted and then never matches).
import { variableIn } from "./env.ts";
import { derived, durabilityKey, metadataProblem } from "./metadata.ts";
import { type StreamSpec, streamFieldLevel } from "./model.ts";

import { subjectIsSubset, subjectProblem, subjectsCollide } from "./subjects.ts";
import { formatDuration, formatSize } from "./units.ts";

export interface Problem {
  /** Path into streams.yaml, e.g. ["streams", "WRITES", "consumers", "users-writer", "backoff"]. */
  path: string[];
  message: string;
}

export interface CheckOptions {
  /** JetStream API level of the oldest server the file must work with. */
  apiLevel: number;
  version: string;
  /** The text the file has at a path when it came from the environment ("${JPW_REPLICAS:-1}"). */
  written?: (path: string[]) => string | undefined;
}

const invalidName = /[.*>\s/\\]/;
const maxNameLength = 255;
const maxInt32 = 2 ** 31 - 1;
const minDuration = 100e6;

/** streams.yaml names of the KV fields a bucket's stream config is derived from. */
const kvField: Record<string, string> = {
  max_age: "ttl",
  max_msg_size: "max_value_size",
  max_msgs_per_subject: "history",
  num_replicas: "replicas",
};

export function checkSpec(streams: StreamSpec[], opts: CheckOptions): Problem[] {
  const problems: Problem[] = [];
  for (const s of streams) {
    const field = (f: string) => [...s.path, ...(s.kind === "kv" ? (kvField[f] ?? f) : f).split(".")];
    const report = (f: string | undefined, message: string) =>
      problems.push({ path: f ? field(f) : s.path, message });
    if (s.kind === "kv") {
      if (!/^[-\w]+$/.test(s.bucket ?? "")) report(undefined, "name may only hold letters, digits, - and _");
    } else {
      checkName(s.name, (m) => report(undefined, m));
      if (/^(KV|OBJ)_/.test(s.name)) {
        report(undefined, "name is reserved: KV_* and OBJ_* streams belong to KV buckets and object stores");
      }
    }
    checkStreamFields(s, report, opts);
    checkMetadata(s.path, s.config.metadata, problems);
    checkSubjects(s, report);
    checkConsumers(s, problems);
  }
  checkOverlaps(streams, problems);
  return problems;
}

function checkName(name: string, report: (m: string) => void): void {
  if (invalidName.test(name)) report("name may not contain . * > / \\ or whitespace");
  if (name.length > maxNameLength) report(`name is longer than ${maxNameLength} characters`);
}

type Report = (field: string | undefined, message: string) => void;

/** Values of the metadata keys this tool and the services read; a key holds dots, so the path is exact. */
function checkMetadata(path: string[], metadata: unknown, problems: Problem[]): void {
  for (const [key, value] of Object.entries((metadata ?? {}) as Record<string, string>)) {
    const message = metadataProblem(key, value);
    if (message) problems.push({ path: [...path, "metadata", key], message });
  }
}

function checkStreamFields(s: StreamSpec, report: Report, opts: CheckOptions): void {
  const c = s.config as Record<string, unknown>;
  const n = (k: string) => (typeof c[k] === "number" ? (c[k] as number) : undefined);
  const maxAge = n("max_age") ?? 0;
  const window = n("duplicate_window");
  for (const f of ["max_age", "duplicate_window"]) {
    const v = n(f);
    if (v !== undefined && v > 0 && v < minDuration) report(f, "must be at least 100ms (or 0)");
  }
  if (window !== undefined && maxAge > 0 && window > maxAge) {
    report(
      "duplicate_window",
      `${formatDuration(window)} is longer than max_age ${formatDuration(maxAge)}: the server refuses a dedup window that outlives the messages`,
    );
  }
  const msgSize = n("max_msg_size");
  if (msgSize !== undefined && msgSize > maxInt32) report("max_msg_size", "must be below 2GiB");
  const maxBytes = n("max_bytes");
  if (msgSize !== undefined && maxBytes !== undefined && msgSize > 0 && maxBytes > 0 && msgSize > maxBytes) {
    report(
      "max_msg_size",
      `${formatSize(msgSize)} is larger than max_bytes ${formatSize(maxBytes)}: no message that size could be stored`,
    );
  }
  if (c.discard_new_per_subject === true) {
    if (c.discard !== "new") report("discard_new_per_subject", "needs discard: new");
    if ((n("max_msgs_per_subject") ?? 0) <= 0) {
      report("discard_new_per_subject", "needs max_msgs_per_subject above 0");
    }
  }
  if (c.deny_purge === true && c.allow_rollup_hdrs === true) {
    report("allow_rollup_hdrs", "cannot be on with deny_purge: a rollup purges older messages");
  }
  const markerTtl = n("subject_delete_marker_ttl") ?? 0;
  if (markerTtl > 0) {
    if (c.allow_msg_ttl !== true) report("subject_delete_marker_ttl", "needs allow_msg_ttl: true");
    if (markerTtl < 1e9) report("subject_delete_marker_ttl", "must be at least 1s");
  }
  if (c.persist_mode === "async") checkAsync(s, report, opts);
  for (const [f, level] of Object.entries(streamFieldLevel)) {
    const v = c[f];
    const isDefault = v === undefined || v === false || v === 0 || v === "default";
    if (!isDefault && level > opts.apiLevel) {
      report(
        f,
        `needs JetStream API level ${level} (nats-server ${releaseOf(level)}+), but the configured server version is ${opts.version}`,
      );
    }
  }
}

/**
 * `persist_mode: async` acknowledges before the message is on disk (ADR-56): a policy, declared per
 * stream, not a tuning knob. nats-server (checkStreamCfg) takes it on single-replica file streams
 * without atomic batches only, and never changes it in place.
 */
function checkAsync(s: StreamSpec, report: Report, opts: CheckOptions): void {
  const c = s.config as Record<string, unknown>;
  const metadata = (c.metadata ?? {}) as Record<string, string>;
  const variable = variableIn(opts.written?.([...s.path, "persist_mode"]));
  const setDefault = variable ? `set ${variable}=default` : "set persist_mode: default";
  if (metadata[durabilityKey] !== derived) {
    report(
      "persist_mode",
      `async acknowledges a message before it is on disk, so an OS crash can lose acknowledged messages: only a stream of derived data may use it. Declare metadata ${durabilityKey}: ${derived} on this stream if what it holds is rebuilt or made good from elsewhere after a loss, or ${setDefault}`,
    );
  }
  if (c.storage === "memory") report("persist_mode", "async needs file storage");
  const replicas = (c.num_replicas as number | undefined) ?? 1;
  if (replicas > 1) {
    report(
      "persist_mode",
      `async is for a single replica only (nats-server refuses it on a replicated stream, where replication is the durability); this stream has num_replicas ${replicas}: ${setDefault}`,
    );
  }
  if (c.allow_atomic === true) {
    report("persist_mode", "async cannot be used with allow_atomic (nats-server refuses the pair)");
  }
}

const releaseOf = (level: number) => ({ 1: "2.11", 2: "2.12", 3: "2.12.5", 4: "2.14" })[level] ?? "?";

/** Subject spaces the server keeps for itself; a stream may capture them only without acks. */
const reserved: [prefix: string, allowed: string | undefined, why: string][] = [
  ["$KV.", undefined, "belongs to KV buckets: declare the bucket under kv:"],
  ["$O.", undefined, "belongs to object stores"],
  ["$JS.", "$JS.EVENT.", "is the JetStream API (only $JS.EVENT.> may be captured)"],
  ["$JSC.", undefined, "is JetStream's internal space"],
  ["$SYS.", "$SYS.ACCOUNT.", "is the system account's space"],
];

function checkSubjects(s: StreamSpec, report: Report): void {
  const subjects = s.config.subjects;
  const seen = new Set<string>();
  for (const [i, subject] of subjects.entries()) {
    const at = `subjects.${i}`;
    const problem = subjectProblem(subject);
    if (problem) {
      report(at, `"${subject}" ${problem}`);
      continue;
    }
    if (s.kind === "stream") {
      if (subject === ">" && s.config.no_ack !== true) {
        report(at, `">" captures every subject, the JetStream API included: it needs no_ack: true`);
      }
      for (const [prefix, allowed, why] of reserved) {
        // As the server does: only subjects wholly inside a reserved space are refused.
        const under = subjectIsSubset(subject, `${prefix}>`);
        const exempt = allowed !== undefined && subjectIsSubset(subject, `${allowed}>`);
        if (under && !exempt && s.config.no_ack !== true) {
          report(at, `"${subject}" ${why}`);
        }
      }
    }
    if (seen.has(subject)) report(at, `"${subject}" is listed twice`);
    for (const other of seen) {
      if (other !== subject && subjectsCollide(other, subject)) {
        report(
          at,
          `"${subject}" overlaps "${other}" in the same stream: a message would be stored once per match`,
        );
      }
    }
    seen.add(subject);
  }
}

function checkConsumers(s: StreamSpec, problems: Problem[]): void {
  const workqueue = s.config.retention === "workqueue";
  const streamReplicas = (s.config.num_replicas as number | undefined) ?? 1;
  const filtersOf = new Map<string, string[]>();
  for (const consumer of s.consumers) {
    const c = consumer.config as Record<string, unknown>;
    const report = (f: string | undefined, message: string) =>
      problems.push({ path: f ? [...consumer.path, ...f.split(".")] : consumer.path, message });
    checkName(consumer.name, (m) => report(undefined, m));
    checkMetadata(consumer.path, c.metadata, problems);

    if (c.filter_subject !== undefined && c.filter_subjects !== undefined) {
      report("filter_subjects", "cannot be used together with filter_subject: list every filter here");
    }
    const filters: [string, string][] = [
      ...(typeof c.filter_subject === "string"
        ? [["filter_subject", c.filter_subject] as [string, string]]
        : []),
      ...((c.filter_subjects as string[] | undefined) ?? []).map(
        (f, i) => [`filter_subjects.${i}`, f] as [string, string],
      ),
    ];
    for (const [i, [field, filter]] of filters.entries()) {
      const problem = subjectProblem(filter);
      if (problem) {
        report(field, `"${filter}" ${problem}`);
        continue;
      }
      if (!s.config.subjects.some((subject) => subjectIsSubset(filter, subject))) {
        report(
          field,
          `"${filter}" is not within stream ${s.name}'s subjects [${s.config.subjects.join(", ")}]: the consumer would never receive a message`,
        );
      }
      for (const [, other] of filters.slice(0, i)) {
        if (subjectsCollide(filter, other))
          report(field, `"${filter}" overlaps "${other}" of the same consumer`);
      }
    }
    filtersOf.set(
      consumer.name,
      filters.map(([, f]) => f),
    );

    const backoff = (c.backoff as number[] | undefined) ?? [];
    const maxDeliver = (c.max_deliver as number | undefined) ?? -1;
    if (backoff.length > 0) {
      if (maxDeliver > 0 && backoff.length > maxDeliver) {
        report(
          "backoff",
          `has ${backoff.length} steps but max_deliver is ${maxDeliver}: the server refuses a backoff longer than max_deliver (10116)`,
        );
      }
      if (c.ack_policy === "none")
        report("backoff", "needs acknowledgements: ack_policy none never redelivers");
      if (c.ack_wait !== backoff[0]) {
        report(
          "ack_wait",
          `${formatDuration(c.ack_wait as number)} differs from the first backoff step ${formatDuration(backoff[0]!)}: the server replaces ack_wait with it; remove ack_wait or make them equal`,
        );
      }
    }
    const policy = c.deliver_policy;
    if ((policy === "by_start_sequence") !== (c.opt_start_seq !== undefined)) {
      report(
        policy === "by_start_sequence" ? "deliver_policy" : "opt_start_seq",
        "opt_start_seq goes with deliver_policy: by_start_sequence, and only with it",
      );
    }
    if ((policy === "by_start_time") !== (c.opt_start_time !== undefined)) {
      report(
        policy === "by_start_time" ? "deliver_policy" : "opt_start_time",
        "opt_start_time goes with deliver_policy: by_start_time, and only with it",
      );
    }
    if (typeof c.opt_start_time === "string" && Number.isNaN(Date.parse(c.opt_start_time))) {
      report("opt_start_time", "must be an RFC 3339 time, e.g. 2026-01-31T00:00:00Z");
    }
    if (((c.num_replicas as number | undefined) ?? 0) > streamReplicas) {
      report("num_replicas", `exceeds stream ${s.name}'s num_replicas ${streamReplicas}`);
    }
    if (workqueue) {
      if (c.ack_policy !== "explicit") report("ack_policy", "must be explicit on a workqueue stream");
      if (policy !== undefined && policy !== "all")
        report("deliver_policy", "must be all on a workqueue stream");
    }
  }
  if (!workqueue) return;
  // A work queue hands each message to exactly one consumer, so their filters must not overlap.
  const names = [...filtersOf.keys()];
  for (const [i, name] of names.entries()) {
    const mine = filtersOf.get(name)!;
    for (const other of names.slice(0, i)) {
      const theirs = filtersOf.get(other)!;
      const overlap =
        mine.length === 0 ||
        theirs.length === 0 ||
        mine.some((a) => theirs.some((b) => subjectsCollide(a, b)));
      if (overlap) {
        problems.push({
          path: ["streams", s.name, "consumers", name],
          message: `overlaps consumer ${other} on workqueue stream ${s.name}: each message goes to one consumer, so filters must not overlap (an unfiltered consumer must be the only one)`,
        });
      }
    }
  }
}

function checkOverlaps(streams: StreamSpec[], problems: Problem[]): void {
  for (const [i, s] of streams.entries()) {
    for (const other of streams.slice(0, i)) {
      for (const [j, subject] of s.config.subjects.entries()) {
        const hit = other.config.subjects.find((o) => subjectsCollide(o, subject));
        if (hit === undefined) continue;
        const otherName = other.kind === "kv" ? `kv bucket ${other.bucket}` : `stream ${other.name}`;
        problems.push({
          path: [...s.path, "subjects", String(j)],
          message: `"${subject}" overlaps ${otherName}'s "${hit}": a message may belong to one stream only (the server refuses with 10065)`,
        });
      }
    }
  }
}
