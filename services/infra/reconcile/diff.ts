// Field-level differences between two canonical configs (model.ts), each marked with whether the
// server can make it in place.
import type { Config, Rule, ServerLevel } from "./model.ts";

export interface FieldChange {
  /** Dotted for nested maps: "max_age", "metadata.owner", "consumer_limits.max_ack_pending". */
  field: string;
  /** undefined when the key is absent on that side (metadata keys). */
  old: unknown;
  new: unknown;
  inPlace: boolean;
  /** Why it cannot be made in place. */
  reason?: string;
}

/** Compared key by key, so one changed metadata entry shows as itself. */
const maps = new Set(["metadata", "consumer_limits"]);

export function diffConfigs(
  desired: Config,
  live: Config,
  rules: Record<string, Rule>,
  server: ServerLevel,
): FieldChange[] {
  const changes: FieldChange[] = [];
  for (const key of Object.keys(desired)) {
    const want = desired[key];
    const have = live[key];
    if (maps.has(key)) {
      const w = (want ?? {}) as Config;
      const h = (have ?? {}) as Config;
      for (const k of [...new Set([...Object.keys(w), ...Object.keys(h)])].sort()) {
        if (!same(w[k], h[k])) changes.push({ field: `${key}.${k}`, old: h[k], new: w[k], inPlace: true });
      }
      continue;
    }
    if (same(want, have)) continue;
    const reason = rules[key]?.(have, want, server);
    changes.push({ field: key, old: have, new: want, inPlace: !reason, ...(reason ? { reason } : {}) });
  }
  return changes;
}

export function same(a: unknown, b: unknown): boolean {
  return stable(a) === stable(b);
}

function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(",")}]`;
  if (v && typeof v === "object") {
    const entries = Object.entries(v as Config)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${stable(x)}`).join(",")}}`;
  }
  return JSON.stringify(v) ?? "undefined";
}
