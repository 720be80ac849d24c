// A plan for people (durations and sizes written as in streams.yaml, coloured on a TTY) and for
// machines (--json: raw API values, nanoseconds and bytes).
import { color } from "../term.ts";
import type { FieldChange } from "./diff.ts";
import { type Change, hasChanges, isDestructive, label, type Plan } from "./plan.ts";
import { displayName } from "./spec.ts";
import { formatDuration, formatSize } from "./units.ts";

const durations = new Set([
  "max_age",
  "duplicate_window",
  "subject_delete_marker_ttl",
  "consumer_limits.inactive_threshold",
  "ack_wait",
  "backoff",
  "max_expires",
  "inactive_threshold",
  "idle_heartbeat",
  "priority_timeout",
]);
const sizes = new Set(["max_bytes", "max_msg_size"]);
const counts = new Set([
  "max_consumers",
  "max_msgs",
  "max_msgs_per_subject",
  "max_deliver",
  "max_ack_pending",
]);

export function formatValue(field: string, v: unknown): string {
  if (v === undefined || v === null) return "(none)";
  if (durations.has(field)) {
    if (Array.isArray(v)) return `[${v.map((x) => formatDuration(x as number)).join(", ")}]`;
    if (field === "max_age" && v === 0) return "unlimited";
    return formatDuration(v as number);
  }
  if (sizes.has(field) && typeof v === "number") return v <= 0 ? "unlimited" : formatSize(v);
  if (counts.has(field) && v === -1) return "unlimited";
  if (Array.isArray(v))
    return `[${v.map((x) => (typeof x === "string" ? x : JSON.stringify(x))).join(", ")}]`;
  if (typeof v === "string") return /^[\w.>*$%:-]+$/.test(v) ? v : JSON.stringify(v);
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

const marks: Record<Change["action"], (s: string) => string> = {
  create: (s) => color.green(s),
  update: (s) => color.yellow(s),
  replace: (s) => color.red(s),
  delete: (s) => color.red(s),
  unchanged: (s) => color.dim(s),
  orphan: (s) => color.dim(s),
};
const symbols: Record<Change["action"], string> = {
  create: "+",
  update: "~",
  replace: "-/+",
  delete: "-",
  unchanged: "=",
  orphan: "?",
};

export function renderPlan(p: Plan): string {
  const sections: string[][] = [];
  sections.push([
    color.bold(`Plan: ${displayName(p.file)} → ${p.server.url}`) +
      color.dim(` (nats-server ${p.server.version}, JetStream API level ${p.server.apiLevel})`),
  ]);
  const active = p.changes.filter((c) => c.action !== "unchanged" && c.action !== "orphan");
  const changes: string[] = [];
  for (const c of active) {
    const mark = marks[c.action];
    let head = `${mark(`${symbols[c.action].padStart(3)} ${c.action}`)} ${color.bold(label(c))}`;
    if (c.kind === "kv") head += color.dim(` (stream ${c.name})`);
    if (c.action === "replace") head += color.red(` (destroys data: ${c.loses ?? "its state"})`);
    if (c.shrinks?.length) head += color.red(" (destructive: lowers a limit below what it holds)");
    if (c.action === "delete") head += color.red(` (destroys ${c.loses})`);
    if (c.adopt) head += color.yellow(" (adopted: exists but was not managed by streams.yaml)");
    changes.push(head);
    if (c.reason && c.action !== "create") changes.push(`      ${color.dim(c.reason)}`);
    for (const f of c.fields) changes.push(`      ${fieldLine(c, f)}`);
  }
  sections.push(changes);
  const unchanged = p.changes.filter((c) => c.action === "unchanged").map(label);
  const orphans = p.changes.filter((c) => c.action === "orphan").map(label);
  const others: string[] = [];
  if (unchanged.length) others.push(color.dim(`unchanged: ${unchanged.join(", ")}`));
  if (orphans.length) {
    others.push(
      `no longer declared, kept (managed by streams.yaml; --prune deletes them): ${orphans.join(", ")}`,
    );
  }
  if (p.unmanaged.length) {
    others.push(color.dim(`not managed by streams.yaml, left alone: ${p.unmanaged.join(", ")}`));
  }
  sections.push(others);
  if (p.warnings.length) {
    sections.push([color.yellow("warnings:"), ...p.warnings.map((w) => `  ${color.yellow("!")} ${w}`)]);
  }
  const end = [summaryLine(p)];
  const replacements = p.changes.filter((c) => c.action === "replace").length;
  const shrinking = p.changes.filter((c) => c.shrinks?.length).length;
  if (replacements || shrinking) {
    const n = replacements + shrinking;
    const what = [
      ...(replacements ? [`${replacements} replacement${replacements === 1 ? "" : "s"}`] : []),
      ...(shrinking ? [`${shrinking} lowered limit${shrinking === 1 ? "" : "s"}`] : []),
    ].join(" and ");
    end.push(
      color.red(
        `${what} ${n === 1 ? "destroys" : "destroy"} data: apply refuses ${n === 1 ? "it" : "them"} without --allow-destructive.`,
      ),
    );
  }
  sections.push(end);
  return sections
    .filter((s) => s.length)
    .map((s) => s.join("\n"))
    .join("\n\n");
}

/** A bucket's stream fields, with the streams.yaml name they come from. */
const kvNames: Record<string, string> = {
  max_age: "max_age (ttl)",
  max_msgs_per_subject: "max_msgs_per_subject (history)",
  max_msg_size: "max_msg_size (max_value_size)",
  num_replicas: "num_replicas (replicas)",
};

const fieldName = (c: Change, field: string) => (c.kind === "kv" ? (kvNames[field] ?? field) : field);

function fieldLine(c: Change, f: FieldChange): string {
  const name = fieldName(c, f.field);
  const field = baseField(f.field);
  if (c.action === "create") return `${name}: ${formatValue(field, f.new)}`;
  const line = `${name}: ${formatValue(field, f.old)} → ${formatValue(field, f.new)}`;
  if (!f.inPlace) return `${line}  ${color.red(`(${f.reason})`)}`;
  const shrink = c.shrinks?.find((x) => x.field === f.field);
  return shrink ? `${line}  ${color.red(`(${shrink.text})`)}` : line;
}

/** Why apply refuses `c` without --allow-destructive: what it destroys, in one sentence. */
export function destruction(c: Change): string {
  if (c.shrinks?.length) {
    const lowered = c.shrinks.map((x) => {
      const f = c.fields.find((y) => y.field === x.field);
      const field = baseField(x.field);
      return `${fieldName(c, x.field)} from ${formatValue(field, f?.old)} to ${formatValue(field, f?.new)} (${x.text})`;
    });
    return `${label(c)} lowers ${lowered.join(" and ")}, below what it holds`;
  }
  const reason = c.fields.find((f) => !f.inPlace)?.reason ?? c.reason ?? "it cannot change in place";
  return `${label(c)} must be replaced because ${reason}, which destroys ${c.loses ?? "its state"}`;
}

/** "consumer_limits.inactive_threshold" keeps its name; "metadata.x" formats as a plain value. */
const baseField = (field: string) => (field.startsWith("metadata.") ? "metadata" : field);

export function summary(p: Plan) {
  const count = (a: Change["action"]) => p.changes.filter((c) => c.action === a).length;
  return {
    create: count("create"),
    update: count("update"),
    replace: count("replace"),
    delete: count("delete"),
    unchanged: count("unchanged"),
    orphaned: count("orphan"),
  };
}

function summaryLine(p: Plan): string {
  const s = summary(p);
  if (!hasChanges(p)) {
    const n = s.unchanged;
    return color.green(
      `No changes: the server matches ${displayName(p.file)} (${n} object${n === 1 ? "" : "s"}).`,
    );
  }
  return `${s.create} to create, ${s.update} to update, ${s.replace} to replace, ${s.delete} to delete, ${s.unchanged} unchanged.`;
}

/** The plan as one JSON document, values as the API has them. */
export function planJson(p: Plan): Record<string, unknown> {
  return {
    file: p.file,
    server: {
      url: p.server.url,
      version: p.server.version,
      api_level: p.server.apiLevel,
      cluster: p.server.cluster ?? null,
      sync_always: p.server.sync?.always ?? null,
    },
    prune: p.prune,
    pending: hasChanges(p),
    summary: summary(p),
    changes: p.changes.map((c) => ({
      action: c.action,
      kind: c.kind,
      name: c.name,
      ...(c.stream ? { stream: c.stream } : {}),
      ...(c.bucket ? { bucket: c.bucket } : {}),
      adopt: c.adopt === true,
      destructive: isDestructive(c),
      ...(c.reason ? { reason: c.reason } : {}),
      ...(c.loses ? { loses: c.loses } : {}),
      ...(c.shrinks ? { shrinks: c.shrinks } : {}),
      fields: c.fields.map((f) => ({
        field: f.field,
        old: f.old ?? null,
        new: f.new ?? null,
        in_place: f.inPlace,
        ...(f.reason ? { reason: f.reason } : {}),
      })),
      ...(c.request ? { request: c.request } : {}),
    })),
    unmanaged: p.unmanaged,
    warnings: p.warnings,
  };
}
