// streams.yaml → the desired JetStream state, in the NATS API's own shapes (nanoseconds, bytes).
// Parsed once at the boundary by arktype: unknown keys are rejected and every error names the file,
// the object and the field, with the line where the YAML parser can tell.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type } from "arktype";
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from "yaml";
import { root } from "../lib/paths.ts";
import { parseDuration, parseSize } from "./units.ts";

export const defaultSpecFile = join(root, "streams.yaml");

/** Metadata key marking the objects this tool manages; only those may ever be pruned. */
export const managedKey = "jpw.managed-by";
export const managedValue = "streams.yaml";

export class SpecError extends Error {
  override name = "SpecError";
}

const duration = type("string | number");
const size = type("string | number");

const Consumer = type({
  "+": "reject",
  "description?": "string",
  "filter_subject?": "string",
  "filter_subjects?": "string[]",
  "deliver_policy?": "'all' | 'last' | 'new' | 'last_per_subject'",
  "ack_policy?": "'explicit' | 'all' | 'none'",
  "ack_wait?": duration,
  "max_deliver?": "number.integer >= -1",
  "backoff?": duration.array(),
  "max_ack_pending?": "number.integer >= -1",
  "max_waiting?": "number.integer >= 0",
  "max_batch?": "number.integer >= 0",
  "max_expires?": duration,
  "inactive_threshold?": duration,
  "replay_policy?": "'instant' | 'original'",
  "num_replicas?": "number.integer >= 0",
  "mem_storage?": "boolean",
  "metadata?": "Record<string, string>",
});

const Stream = type({
  "+": "reject",
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
  "num_replicas?": "1 <= number.integer <= 5",
  "duplicate_window?": duration,
  "allow_rollup_hdrs?": "boolean",
  "deny_delete?": "boolean",
  "deny_purge?": "boolean",
  "allow_direct?": "boolean",
  "compression?": "'none' | 's2'",
  "metadata?": "Record<string, string>",
  "consumers?": type({ "[string]": Consumer }),
});

const Kv = type({
  "+": "reject",
  "description?": "string",
  "history?": "1 <= number.integer <= 64",
  "ttl?": duration,
  "max_bytes?": size,
  "max_value_size?": size,
  "storage?": "'file' | 'memory'",
  "replicas?": "1 <= number.integer <= 5",
  "compression?": "boolean",
  "metadata?": "Record<string, string>",
});

const SpecFile = type({
  "+": "reject",
  "streams?": type({ "[string]": Stream }),
  "kv?": type({ "[string]": Kv }),
});

/** A stream as the API takes it (StreamConfig subset), plus its consumers. */
export interface StreamSpec {
  name: string;
  config: Record<string, unknown> & { name: string; subjects: string[] };
  consumers: ConsumerSpec[];
}

export interface ConsumerSpec {
  stream: string;
  name: string;
  config: Record<string, unknown> & { durable_name: string };
}

export interface KvSpec {
  bucket: string;
  description?: string;
  history: number;
  /** Milliseconds, as @nats-io/kv takes it. */
  ttlMs: number;
  maxBytes: number;
  maxValueSize: number;
  storage: "file" | "memory";
  replicas: number;
  compression: boolean;
  metadata: Record<string, string>;
}

export interface DesiredState {
  file: string;
  streams: StreamSpec[];
  kv: KvSpec[];
}

/** Replaces ${NAME} and ${NAME:-default}; an unset ${NAME} without a default is an error. */
export function substituteEnv(text: string, env: Record<string, string | undefined>, file: string): string {
  return text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
    (whole, name: string, fallback?: string) => {
      const value = env[name];
      if (value !== undefined && value !== "") return value;
      if (fallback !== undefined) return fallback;
      const line = text.slice(0, text.indexOf(whole)).split("\n").length;
      throw new SpecError(
        `${file}:${line}: ${name} is not set and ${whole} has no default (write \${${name}:-value})`,
      );
    },
  );
}

export function loadSpecFile(
  file = defaultSpecFile,
  env: Record<string, string | undefined> = process.env,
): DesiredState {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new SpecError(`cannot read ${file}: ${(err as Error).message}`);
  }
  return parseSpec(text, file, env);
}

export function parseSpec(
  rawText: string,
  file = "streams.yaml",
  env: Record<string, string | undefined> = process.env,
): DesiredState {
  const text = substituteEnv(rawText, env, file);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    throw new SpecError(`${file}:${e.linePos?.[0]?.line ?? "?"}: ${e.message.split("\n")[0]}`);
  }
  const data = doc.toJS() ?? {};
  const parsed = SpecFile(data);
  if (parsed instanceof type.errors) {
    const messages = [...parsed].map((e) => {
      const path = e.path.map(String);
      const line = lineOf(doc.contents, path, lines);
      const what = describePath(path);
      const problem = /must be removed/.test(e.problem) ? "is not a known field" : e.problem;
      return `${file}${line ? `:${line}` : ""}: ${what} ${problem}`;
    });
    throw new SpecError(messages.join("\n"));
  }
  const at = (path: string[]) => {
    const line = lineOf(doc.contents, path, lines);
    return `${file}${line ? `:${line}` : ""}: ${describePath(path)}`;
  };
  const convert = <T>(path: string[], fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      throw new SpecError(`${at(path)} ${(err as Error).message}`);
    }
  };

  const streams: StreamSpec[] = Object.entries(parsed.streams ?? {}).map(([name, s]) => {
    const { consumers = {}, ...rest } = s;
    const config: StreamSpec["config"] = { ...rest, name, subjects: rest.subjects };
    for (const f of ["max_age", "duplicate_window"] as const) {
      if (rest[f] !== undefined) config[f] = convert(["streams", name, f], () => toNanos(rest[f]!));
    }
    for (const f of ["max_bytes", "max_msg_size"] as const) {
      if (rest[f] !== undefined) config[f] = convert(["streams", name, f], () => parseSize(rest[f]!));
    }
    config.metadata = { ...rest.metadata, [managedKey]: managedValue };
    return {
      name,
      config,
      consumers: Object.entries(consumers).map(([cname, c]) => {
        const cc: ConsumerSpec["config"] = { ...c, durable_name: cname };
        for (const f of ["ack_wait", "max_expires", "inactive_threshold"] as const) {
          if (c[f] !== undefined)
            cc[f] = convert(["streams", name, "consumers", cname, f], () => toNanos(c[f]!));
        }
        if (c.backoff)
          cc.backoff = convert(["streams", name, "consumers", cname, "backoff"], () =>
            c.backoff!.map(toNanos),
          );
        cc.metadata = { ...c.metadata, [managedKey]: managedValue };
        return { stream: name, name: cname, config: cc };
      }),
    };
  });

  const kv: KvSpec[] = Object.entries(parsed.kv ?? {}).map(([bucket, k]) => ({
    bucket,
    ...(k.description ? { description: k.description } : {}),
    history: k.history ?? 1,
    ttlMs: k.ttl === undefined ? 0 : convert(["kv", bucket, "ttl"], () => toNanos(k.ttl!) / 1e6),
    maxBytes:
      k.max_bytes === undefined ? -1 : convert(["kv", bucket, "max_bytes"], () => parseSize(k.max_bytes!)),
    maxValueSize:
      k.max_value_size === undefined
        ? -1
        : convert(["kv", bucket, "max_value_size"], () => parseSize(k.max_value_size!)),
    storage: k.storage ?? "file",
    replicas: k.replicas ?? 1,
    compression: k.compression ?? false,
    metadata: { ...k.metadata, [managedKey]: managedValue },
  }));

  return { file, streams, kv };
}

function toNanos(v: string | number): number {
  // A bare number is taken as nanoseconds, like the API; humans write units.
  return typeof v === "number" ? v : parseDuration(v);
}

function describePath(path: string[]): string {
  const [section, name, ...rest] = path;
  if (section === "streams" && name) {
    if (rest[0] === "consumers" && rest[1]) {
      const field = rest.slice(2).join(".");
      return `consumer ${name}/${rest[1]}${field ? ` field ${field}` : ""}`;
    }
    return `stream ${name}${rest.length ? ` field ${rest.join(".")}` : ""}`;
  }
  if (section === "kv" && name) return `kv bucket ${name}${rest.length ? ` field ${rest.join(".")}` : ""}`;
  return path.length ? `field ${path.join(".")}` : "the file";
}

function lineOf(node: unknown, path: string[], lines: LineCounter): number | undefined {
  let current = node as YamlNode | null | undefined;
  let lastRange: [number, number, number] | undefined;
  for (const segment of path) {
    if (isMap(current)) {
      const pair = current.items.find((p) => isScalar(p.key) && String(p.key.value) === segment);
      if (!pair) break;
      const keyNode = pair.key as YamlNode;
      lastRange = keyNode.range ?? lastRange;
      current = pair.value as YamlNode;
    } else if (isSeq(current)) {
      const item = current.items[Number(segment)] as YamlNode | undefined;
      if (!item) break;
      lastRange = item.range ?? lastRange;
      current = item;
    } else break;
  }
  return lastRange ? lines.linePos(lastRange[0]).line : undefined;
}
