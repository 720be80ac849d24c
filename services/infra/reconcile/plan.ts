// Desired (streams.yaml) against live (the server): what apply would create, update in place,
// replace (delete and recreate: data lost), delete (--prune, managed objects only) or leave alone.
// An update that lowers a limit below what the object holds destroys data too (shrink.ts): it is
// marked with what goes. Reads only; nothing here changes the server.
import type { NatsConnection } from "@nats-io/nats-core";
import { diffConfigs, type FieldChange } from "./diff.ts";
import { durabilityWarnings } from "./durability.ts";
import { PlanError } from "./errors.ts";
import { kvStreamPrefix } from "./kv.ts";
import {
  type Config,
  canonicalConsumer,
  canonicalStream,
  consumerRequest,
  consumerRules,
  releaseOfLevel,
  type StreamSpec,
  streamFieldLevel,
  streamRequest,
  streamRules,
  userMetadata,
} from "./model.ts";
import { type LiveStream, readLive, readServer, type ServerFacts } from "./server.ts";
import { measureShrinks, type Shrink } from "./shrink.ts";
import { type DesiredState, managedKey, managedValue } from "./spec.ts";
import { subjectsCollide } from "./subjects.ts";

export type Action = "create" | "update" | "replace" | "delete" | "unchanged" | "orphan";
export type Kind = "stream" | "kv" | "consumer";

export interface Change {
  action: Action;
  kind: Kind;
  /** The stream's name (KV_<bucket> for a bucket) or the consumer's durable name. */
  name: string;
  /** The consumer's stream. */
  stream?: string;
  bucket?: string;
  /** The object exists without our marker: this change takes it over. */
  adopt?: boolean;
  /** For create: every field that differs from the server's default. Else: what differs. */
  fields: FieldChange[];
  reason?: string;
  /** For replace and delete: what is destroyed. */
  loses?: string;
  /** For an update: each limit lowered below what the object holds, and what that destroys. */
  shrinks?: Shrink[];
  /** The full config apply sends (create, update, replace). */
  request?: Config;
}

export interface Plan {
  file: string;
  server: ServerFacts;
  prune: boolean;
  changes: Change[];
  /** Objects streams.yaml does not manage; never touched. */
  unmanaged: string[];
  warnings: string[];
}

export interface PlanOptions {
  /** Plan deletion of managed objects that are no longer declared. */
  prune?: boolean;
  /** The server's URL as given, for messages. */
  url?: string;
  /** http://host:8222, to check the fsync policy in /varz. */
  monitorUrl?: string | undefined;
  env?: Record<string, string | undefined>;
}

export const isManaged = (config: Config) => userMetadata(config.metadata)[managedKey] === managedValue;

export function label(c: Pick<Change, "kind" | "name" | "stream" | "bucket">): string {
  if (c.kind === "consumer") return `consumer ${c.stream}/${c.name}`;
  if (c.kind === "kv") return `kv bucket ${c.bucket ?? c.name.slice(kvStreamPrefix.length)}`;
  return `stream ${c.name}`;
}

/** True when the change loses data: apply makes it only when destruction is allowed (or pruning). */
export const isDestructive = (c: Change) =>
  c.action === "replace" || c.action === "delete" || (c.shrinks?.length ?? 0) > 0;

/** True when apply would change something. */
export const hasChanges = (p: Plan) =>
  p.changes.some((c) => c.action !== "unchanged" && c.action !== "orphan");

export async function plan(nc: NatsConnection, desired: DesiredState, opts: PlanOptions = {}): Promise<Plan> {
  const current = nc.getServer();
  const url = opts.url ?? (current.includes("://") ? current : `nats://${current}`);
  const server = await readServer(nc, { url, monitorUrl: opts.monitorUrl });
  const problems = serverProblems(desired, server);
  if (problems.length) throw new PlanError(problems);

  const declared = new Map(desired.streams.map((s) => [s.name, s]));
  const live = await readLive(nc, (name, config) => declared.has(name) || isManaged(config));
  const prune = opts.prune === true;
  const changes: Change[] = [];
  const unmanaged: string[] = [];

  for (const spec of desired.streams) {
    changes.push(...(await planStream(nc, spec, live.get(spec.name), server, prune, unmanaged)));
  }
  for (const l of live.values()) {
    if (declared.has(l.name)) continue;
    const kind: Kind = l.name.startsWith(kvStreamPrefix) ? "kv" : "stream";
    const what = label({ kind, name: l.name });
    if (!isManaged(l.config)) {
      unmanaged.push(what);
      continue;
    }
    changes.push({
      action: prune ? "delete" : "orphan",
      kind,
      name: l.name,
      ...(kind === "kv" ? { bucket: l.name.slice(kvStreamPrefix.length) } : {}),
      fields: [],
      reason: "managed by streams.yaml but no longer declared",
      loses: losses(l),
    });
  }

  const conflicts = overlapConflicts(desired, live, prune);
  if (conflicts.length) throw new PlanError(conflicts);

  return {
    file: desired.file,
    server,
    prune,
    changes,
    unmanaged,
    warnings: durabilityWarnings(desired.streams, server, opts.env ?? process.env),
  };
}

async function planStream(
  nc: NatsConnection,
  spec: StreamSpec,
  live: LiveStream | undefined,
  server: ServerFacts,
  prune: boolean,
  unmanaged: string[],
): Promise<Change[]> {
  const want = canonicalStream(spec.config);
  const base = { kind: spec.kind, name: spec.name, ...(spec.bucket ? { bucket: spec.bucket } : {}) };
  const request = streamRequest(want, server.apiLevel);
  const out: Change[] = [];

  if (!live) {
    const defaults = canonicalStream({ name: spec.name, subjects: [] });
    out.push({ ...base, action: "create", fields: diffConfigs(want, defaults, {}, server), request });
    for (const c of spec.consumers) {
      const cwant = canonicalConsumer(c.config, want);
      const cdefaults = canonicalConsumer({ durable_name: c.name }, want);
      out.push({
        action: "create",
        kind: "consumer",
        name: c.name,
        stream: spec.name,
        fields: diffConfigs(cwant, cdefaults, {}, server),
        request: consumerRequest(cwant, (c.config.num_replicas as number | undefined) ?? 0, server.apiLevel),
      });
    }
    return out;
  }

  const have = canonicalStream(live.config);
  // A bucket's deny_delete can never be turned off, and nats.js and natscli disagree on it
  // (jetstream.md §3.4): whatever the bucket has is right, and is what an update sends back.
  if (spec.kind === "kv") {
    want.deny_delete = have.deny_delete;
    request.deny_delete = have.deny_delete;
  }
  const fields = diffConfigs(want, have, streamRules, server);
  const replaced = fields.some((f) => !f.inPlace);
  const shrinks = fields.length && !replaced ? await measureShrinks(nc, live, have, want) : [];
  out.push({
    ...base,
    action: fields.length === 0 ? "unchanged" : replaced ? "replace" : "update",
    ...(isManaged(live.config) ? {} : { adopt: true }),
    fields,
    ...(replaced ? { loses: losses(live) } : {}),
    ...(shrinks.length ? { shrinks } : {}),
    ...(fields.length ? { request } : {}),
  });

  const declaredConsumers = new Set(spec.consumers.map((c) => c.name));
  for (const c of spec.consumers) {
    const cwant = canonicalConsumer(c.config, want);
    const creq = consumerRequest(cwant, (c.config.num_replicas as number | undefined) ?? 0, server.apiLevel);
    const lc = live.consumers.get(c.name);
    const common = { kind: "consumer" as const, name: c.name, stream: spec.name };
    if (!lc) {
      const cdefaults = canonicalConsumer({ durable_name: c.name }, want);
      out.push({
        ...common,
        action: "create",
        fields: diffConfigs(cwant, cdefaults, {}, server),
        request: creq,
      });
      continue;
    }
    // Against the desired stream: a consumer with num_replicas 0 follows its stream's new size.
    const chave = canonicalConsumer(lc.config, want);
    const cfields = diffConfigs(cwant, chave, consumerRules, server);
    const adopt = isManaged(lc.config) ? {} : { adopt: true };
    if (replaced) {
      out.push({
        ...common,
        ...adopt,
        action: "replace",
        fields: cfields,
        reason: `its stream ${spec.name} is replaced`,
        loses: "its delivery state (acknowledged positions, redelivery counts)",
        request: creq,
      });
      continue;
    }
    const creplaced = cfields.some((f) => !f.inPlace);
    out.push({
      ...common,
      ...adopt,
      action: cfields.length === 0 ? "unchanged" : creplaced ? "replace" : "update",
      fields: cfields,
      ...(creplaced ? { loses: "its delivery state (acknowledged positions, redelivery counts)" } : {}),
      ...(cfields.length ? { request: creq } : {}),
    });
  }
  for (const lc of live.consumers.values()) {
    if (declaredConsumers.has(lc.name)) continue;
    const what = `consumer ${spec.name}/${lc.name}`;
    if (!isManaged(lc.config)) {
      // Ephemeral consumers (KV watchers, ordered consumers) come and go with their clients.
      if (lc.config.durable_name) unmanaged.push(what);
      continue;
    }
    if (replaced) continue; // destroyed with the stream, listed in its losses
    out.push({
      action: prune ? "delete" : "orphan",
      kind: "consumer",
      name: lc.name,
      stream: spec.name,
      fields: [],
      reason: "managed by streams.yaml but no longer declared",
      loses: "its delivery state",
    });
  }
  return out;
}

function losses(l: LiveStream): string {
  const n = l.state.messages;
  const consumers = [...l.consumers.keys()];
  return `${n} message${n === 1 ? "" : "s"}${consumers.length ? ` and consumers ${consumers.join(", ")}` : ""}`;
}

/** Problems only the target server reveals: fields it does not know, replicas it cannot host. */
export function serverProblems(desired: DesiredState, server: ServerFacts): string[] {
  const problems: string[] = [];
  for (const s of desired.streams) {
    for (const [field, level] of Object.entries(streamFieldLevel)) {
      const v = s.config[field];
      const isDefault = v === undefined || v === false || v === 0 || v === "default";
      if (!isDefault && level > server.apiLevel) {
        problems.push(
          `${desired.locate([...s.path, field])} needs nats-server ${releaseOfLevel(level)}+ (JetStream API level ${level}); ${server.url} runs ${server.version} (level ${server.apiLevel})`,
        );
      }
    }
    const replicas = (s.config.num_replicas as number | undefined) ?? 1;
    if (replicas > 1 && !server.cluster) {
      const field = s.kind === "kv" ? "replicas" : "num_replicas";
      problems.push(
        `${desired.locate([...s.path, field])} is ${replicas} but ${server.url} is a single server, not a cluster: set JPW_REPLICAS=1 for a single server`,
      );
    }
  }
  return problems;
}

/**
 * A declared stream whose subjects collide with a stream that will still exist after apply and
 * that this run will not change: the server would refuse (10065) halfway through an apply.
 */
function overlapConflicts(desired: DesiredState, live: Map<string, LiveStream>, prune: boolean): string[] {
  const problems: string[] = [];
  const declared = new Set(desired.streams.map((s) => s.name));
  for (const other of live.values()) {
    if (declared.has(other.name)) continue;
    const managed = isManaged(other.config);
    if (managed && prune) continue; // deleted before anything is created
    const theirs = (other.config.subjects as string[] | undefined) ?? [];
    for (const s of desired.streams) {
      for (const [i, subject] of s.config.subjects.entries()) {
        const hit = theirs.find((t) => subjectsCollide(t, subject));
        if (hit === undefined) continue;
        const what = label({
          kind: other.name.startsWith(kvStreamPrefix) ? "kv" : "stream",
          name: other.name,
        });
        problems.push(
          `${desired.locate([...s.path, "subjects", String(i)])}: "${subject}" overlaps ${what} ("${hit}"), ` +
            (managed
              ? "which streams.yaml manages but no longer declares: run with --prune to delete it first"
              : `which streams.yaml does not manage: change its subjects (nats stream edit ${other.name} --subjects ...) or remove it (nats stream rm ${other.name}), or change ${label({ kind: s.kind, name: s.name, ...(s.bucket ? { bucket: s.bucket } : {}) })}'s subjects`),
        );
      }
    }
  }
  return problems;
}
