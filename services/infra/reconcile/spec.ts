// streams.yaml → the desired JetStream state, in the NATS API's own shapes (nanoseconds, bytes).
// Parsed once at the boundary: YAML, then environment substitution, then arktype (unknown keys
// rejected, units converted), then the cross-checks of checks.ts. Every problem of a stage is
// reported at once, each naming the file, the line, the object and the field.
import { readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { type } from "arktype";
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Scalar, type Node as YamlNode } from "yaml";
import { root } from "../paths.ts";
import { versions } from "../versions.ts";
import { checkSpec } from "./checks.ts";
import { substituteEnv } from "./env.ts";
import { kvStreamConfig } from "./kv.ts";
import { apiLevelOf, type ConsumerSpec, type StreamSpec } from "./model.ts";
import { type ConsumerDef, knownKeys, SpecFileDef, type StreamDef } from "./schema.ts";

export const defaultSpecFile = join(root, "streams.yaml");

/** Metadata marking the objects this tool manages; only those may ever be updated away or pruned. */
export const managedKey = "jpw.managed-by";
export const managedValue = "streams.yaml";

export class SpecError extends Error {
  override name = "SpecError";
  readonly problems: string[];
  constructor(problems: string[], options?: ErrorOptions) {
    // In file order: "streams.yaml:12: ..." sorts by its line number.
    const line = (p: string) => Number(/^[^:]*:(\d+):/.exec(p)?.[1] ?? 0);
    const sorted = [...problems].sort((a, b) => line(a) - line(b));
    super(sorted.join("\n"), options);
    this.problems = sorted;
  }
}

export interface DesiredState {
  file: string;
  streams: StreamSpec[];
  /** "streams.yaml:12: stream WRITES field max_age" for a path into the file. */
  locate(path: string[]): string;
}

export interface SpecOptions {
  env?: Record<string, string | undefined>;
  /** The oldest nats-server the file must work with; newer fields are errors. */
  serverVersion?: string;
}

export function loadSpecFile(file = defaultSpecFile, opts: SpecOptions = {}): DesiredState {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new SpecError([`cannot read ${file}: ${(err as Error).message}`], { cause: err });
  }
  return parseSpec(text, file, opts);
}

export function parseSpec(text: string, file = "streams.yaml", opts: SpecOptions = {}): DesiredState {
  const shown = displayName(file);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true });
  if (doc.errors.length) {
    throw new SpecError(
      doc.errors.map((e) => {
        const where = e.linePos?.[0]?.line;
        const first = e.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
        const what = /Map keys must be unique/.test(first)
          ? `a name or field is declared twice (${first})`
          : first;
        return `${shown}${where ? `:${where}` : ""}: ${what}`;
      }),
    );
  }
  const locate = (path: string[]) => {
    const range = nodeAt(doc.contents, path).range;
    const line = range ? lines.linePos(range[0]).line : undefined;
    return `${shown}${line ? `:${line}` : ""}: ${describePath(path)}`;
  };

  const original = new Map<Scalar, string>();
  const envProblems = substituteEnv(doc, opts.env ?? process.env, lines, original);
  if (envProblems.length) {
    throw new SpecError(envProblems.map((p) => `${shown}${p.line ? `:${p.line}` : ""}: ${p.message}`));
  }

  const parsed = SpecFileDef(doc.toJS() ?? {});
  if (parsed instanceof type.errors) {
    throw new SpecError(
      [...parsed].map((e) => {
        const path = e.path.map(String);
        return `${locate(path)} ${problemText(path, e.problem, e.code)}`;
      }),
    );
  }

  const streams: StreamSpec[] = [];
  for (const [name, s] of Object.entries(parsed.streams ?? {})) streams.push(streamSpec(name, s));
  for (const [bucket, k] of Object.entries(parsed.kv ?? {})) {
    const config = kvStreamConfig(bucket, {
      description: k.description,
      history: k.history,
      ttl: k.ttl ?? 0,
      maxBytes: k.max_bytes ?? -1,
      maxValueSize: k.max_value_size ?? -1,
      storage: k.storage,
      replicas: k.replicas,
      compression: k.compression,
      discard: k.discard,
      metadata: { ...k.metadata, [managedKey]: managedValue },
    }) as StreamSpec["config"];
    streams.push({ kind: "kv", name: config.name, bucket, config, consumers: [], path: ["kv", bucket] });
  }

  // An empty or truncated file would plan every managed object for deletion under --prune.
  if (streams.length === 0) throw new SpecError([`${shown}: declares no stream and no kv bucket`]);

  const version = opts.serverVersion ?? versions.minNatsServer;
  const written = (path: string[]) => {
    const { node, whole } = nodeAt(doc.contents, path);
    return whole && isScalar(node) ? original.get(node) : undefined;
  };
  const found = checkSpec(streams, { apiLevel: apiLevelOf(version), version, written });
  if (found.length) {
    throw new SpecError(found.map((p) => `${locate(p.path)} ${p.message}`));
  }
  return { file, streams, locate };
}

function streamSpec(name: string, s: StreamDef): StreamSpec {
  const { consumers = {}, ...rest } = s;
  const config: StreamSpec["config"] = {
    ...rest,
    name,
    metadata: { ...rest.metadata, [managedKey]: managedValue },
  };
  return {
    kind: "stream",
    name,
    config,
    consumers: Object.entries(consumers).map(([cname, c]) => consumerSpec(name, cname, c)),
    path: ["streams", name],
  };
}

function consumerSpec(stream: string, name: string, c: ConsumerDef): ConsumerSpec {
  const config: ConsumerSpec["config"] = {
    ...c,
    durable_name: name,
    metadata: { ...c.metadata, [managedKey]: managedValue },
  };
  // The server replaces ack_wait with the first backoff step; say so in the config we send.
  if (c.ack_wait === undefined && c.backoff?.length) config.ack_wait = c.backoff[0];
  return { stream, name, config, path: ["streams", stream, "consumers", name] };
}

/** The file relative to the working directory when it is below it, for messages. */
export function displayName(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith("..") ? rel : file;
}

function problemText(path: string[], problem: string, code: string): string {
  if (code === "predicate" && /must be removed/.test(problem)) {
    const key = path.at(-1) ?? "";
    const known = knownKeysAt(path.slice(0, -1));
    const near = known && closest(key, known);
    return `is not a known field${near ? ` (did you mean ${near}?)` : ""}`;
  }
  // arktype repeats the path at the front of some problems ("b must be ..."): we name it ourselves.
  const prefix = `${path.join(".")} `;
  return problem.startsWith(prefix) ? problem.slice(prefix.length) : problem;
}

function knownKeysAt(parent: string[]): string[] | undefined {
  const [section, , third, , fifth] = parent;
  if (parent.length === 0) return knownKeys.root;
  if (section === "kv" && parent.length === 2) return knownKeys.kv;
  if (section !== "streams") return undefined;
  if (parent.length === 2) return knownKeys.stream;
  if (parent.length === 3 && third === "consumer_limits") return knownKeys.consumer_limits;
  if (parent.length === 4 && third === "consumers" && fifth === undefined) return knownKeys.consumer;
  return undefined;
}

/** The known key within two edits of `key`, if any. */
function closest(key: string, known: string[]): string | undefined {
  let best: [string, number] | undefined;
  for (const k of known) {
    const d = editDistance(key, k);
    if (d <= 2 && (!best || d < best[1])) best = [k, d];
  }
  return best?.[0];
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
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

/**
 * The node at `path`, or the deepest one on the way when the path goes further than the file (a
 * derived field): `whole` says whether every segment was found; `range` is where to point.
 */
function nodeAt(
  root: unknown,
  path: string[],
): { node: YamlNode | null | undefined; whole: boolean; range: [number, number, number] | undefined } {
  let current = root as YamlNode | null | undefined;
  let range: [number, number, number] | undefined;
  for (const segment of path) {
    if (isMap(current)) {
      const pair = current.items.find((p) => isScalar(p.key) && String(p.key.value) === segment);
      if (!pair) return { node: current, whole: false, range };
      range = (pair.key as YamlNode).range ?? range;
      current = pair.value as YamlNode;
    } else if (isSeq(current)) {
      const item = current.items[Number(segment)] as YamlNode | undefined;
      if (!item) return { node: current, whole: false, range };
      range = item.range ?? range;
      current = item;
    } else return { node: current, whole: false, range };
  }
  return { node: current, whole: true, range };
}
