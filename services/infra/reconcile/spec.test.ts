import { suite } from "uvu";
import * as assert from "uvu/assert";
import { loadSpecFile, parseSpec, SpecError, type SpecOptions } from "./spec.ts";

/** Every problem parseSpec reports for `yaml`, one string each. */
function problems(yaml: string, opts: SpecOptions = {}): string[] {
  try {
    parseSpec(yaml, "bad.yaml", { env: {}, ...opts });
  } catch (err) {
    assert.instance(err, SpecError);
    return (err as SpecError).problems;
  }
  return [];
}

function only(yaml: string, opts: SpecOptions = {}): string {
  const found = problems(yaml, opts);
  assert.is(found.length, 1, `expected one problem, got:\n${found.join("\n")}`);
  return found[0]!;
}

const file = suite("streams.yaml of the project");

file("declares every object of the design with its subjects and filters", () => {
  const desired = loadSpecFile(undefined, { env: {} });
  const byName = new Map(desired.streams.map((s) => [s.name, s]));
  assert.equal([...byName.keys()].sort(), ["CDC", "KV_operations", "WRITES", "WRITES_DLQ"]);
  assert.equal(byName.get("WRITES")!.config.subjects, ["writes.>"]);
  assert.equal(byName.get("WRITES_DLQ")!.config.subjects, ["dlq.writes.>"]);
  assert.equal(byName.get("CDC")!.config.subjects, ["cdc.>"]);
  const filters = desired.streams.flatMap((s) =>
    s.consumers.map((c) => `${s.name}/${c.name}:${c.config.filter_subject}`),
  );
  assert.equal(filters.sort(), [
    "CDC/cache-invalidator:cdc.public.>",
    "WRITES/orders-writer:writes.orders",
    "WRITES/users-writer:writes.users",
  ]);
  assert.is(byName.get("KV_operations")!.kind, "kv");
  assert.is(byName.get("KV_operations")!.config.max_age, 24 * 3600e9);
});

file("describes every stream, consumer and bucket", () => {
  for (const s of loadSpecFile(undefined, { env: {} }).streams) {
    assert.ok(s.config.description, `${s.name} has a description`);
    for (const c of s.consumers) assert.ok(c.config.description, `${s.name}/${c.name} has a description`);
  }
});

file("keeps WRITES refusing rather than dropping, with no max_age and its history limits as metadata", () => {
  const writes = loadSpecFile(undefined, { env: {} }).streams.find((s) => s.name === "WRITES")!;
  assert.is(writes.config.retention, "limits");
  assert.is(writes.config.discard, "new");
  assert.ok((writes.config.duplicate_window as number) >= 120e9);
  assert.is(writes.config.max_age, undefined, "age never drops an unapplied command");
  assert.is(writes.config.max_bytes, 8 * 1024 ** 3);
  const metadata = writes.config.metadata as Record<string, string>;
  assert.is(metadata["jpw.history.max_age"], "7d");
  assert.is(metadata["jpw.history.max_bytes"], "1GiB");
  for (const c of writes.consumers) {
    assert.is((c.config.metadata as Record<string, string>)["jpw.backlog.max_msgs"], "100000", c.name);
  }
});

file("takes limits from the environment, a number given for metadata included", () => {
  const env = {
    JPW_WRITES_MAX_BYTES: "1MiB",
    JPW_HISTORY_MAX_AGE: "1h",
    JPW_HISTORY_MAX_BYTES: "64MiB",
    JPW_BACKLOG_MAX_MSGS: "500",
  };
  const writes = loadSpecFile(undefined, { env }).streams.find((s) => s.name === "WRITES")!;
  assert.is(writes.config.max_bytes, 1024 ** 2);
  const metadata = writes.config.metadata as Record<string, string>;
  assert.is(metadata["jpw.history.max_age"], "1h");
  assert.is(metadata["jpw.history.max_bytes"], "64MiB");
  assert.is((writes.consumers[0]!.config.metadata as Record<string, string>)["jpw.backlog.max_msgs"], "500");
});

file("only CDC, declared derived, skips fsync; the operations bucket drops its oldest records", () => {
  const byName = new Map(loadSpecFile(undefined, { env: {} }).streams.map((s) => [s.name, s]));
  const cdc = byName.get("CDC")!.config;
  assert.is(cdc.persist_mode, "async");
  assert.is((cdc.metadata as Record<string, string>)["jpw.durability"], "derived");
  for (const name of ["WRITES", "WRITES_DLQ", "KV_operations"]) {
    assert.is(byName.get(name)!.config.persist_mode, undefined, name);
  }
  assert.is(byName.get("KV_operations")!.config.discard, "old");
  assert.is(byName.get("WRITES_DLQ")!.config.discard, "new");
});

file("takes replicas from the environment: one locally, three in a cluster with CDC fsync'd", () => {
  const local = loadSpecFile(undefined, { env: {} });
  const cluster = loadSpecFile(undefined, { env: { JPW_REPLICAS: "3", JPW_CDC_PERSIST_MODE: "default" } });
  for (const s of local.streams) assert.is(s.config.num_replicas, 1, s.name);
  for (const s of cluster.streams) assert.is(s.config.num_replicas, 3, s.name);
  assert.is(cluster.streams.find((s) => s.name === "CDC")!.config.persist_mode, "default");
});

file("three replicas with CDC left async are refused, naming the variable to set", () => {
  try {
    loadSpecFile(undefined, { env: { JPW_REPLICAS: "3" } });
    assert.unreachable("three replicas and async must be refused");
  } catch (err) {
    assert.instance(err, SpecError);
    assert.equal((err as SpecError).problems.length, 1);
    assert.match(
      (err as SpecError).problems[0]!,
      /^streams\.yaml:\d+: stream CDC field persist_mode async is for a single replica only \(nats-server refuses it on a replicated stream, where replication is the durability\); this stream has num_replicas 3: set JPW_CDC_PERSIST_MODE=default$/,
    );
  }
});

file.run();

const parsing = suite("parsing");

parsing("durations become nanoseconds and sizes bytes, as the API takes them", () => {
  const desired = parseSpec(
    `streams:
  S:
    subjects: [s.>]
    max_age: 7d
    duplicate_window: 90s
    max_bytes: 1GiB
    max_msg_size: 64KiB
    consumers:
      c:
        ack_wait: 45s
        max_expires: 500ms
        backoff: [45s, 2m]
        max_deliver: 5
kv:
  b:
    ttl: 1h
    max_value_size: 1KiB
    history: 3
`,
    "ok.yaml",
    { env: {} },
  );
  const s = desired.streams[0]!;
  assert.is(s.config.max_age, 7 * 86_400e9);
  assert.is(s.config.duplicate_window, 90e9);
  assert.is(s.config.max_bytes, 1024 ** 3);
  assert.is(s.config.max_msg_size, 64 * 1024);
  const c = s.consumers[0]!.config;
  assert.is(c.ack_wait, 45e9);
  assert.is(c.max_expires, 500e6);
  assert.equal(c.backoff, [45e9, 120e9]);
  assert.is(c.ack_policy, "explicit", "a declared durable acknowledges explicitly by default");
  const kv = desired.streams[1]!;
  assert.is(kv.name, "KV_b");
  assert.equal(kv.config.subjects, ["$KV.b.>"]);
  assert.is(kv.config.max_age, 3600e9);
  assert.is(kv.config.max_msgs_per_subject, 3);
  assert.is(kv.config.max_msg_size, 1024);
  assert.is(kv.config.discard, "new");
});

parsing("every declared object carries the managed-by marker", () => {
  const desired = parseSpec(
    "streams:\n  S:\n    subjects: [s]\n    consumers:\n      c: {}\nkv:\n  b: {}\n",
    "ok.yaml",
  );
  for (const s of desired.streams) {
    assert.is((s.config.metadata as Record<string, string>)["jpw.managed-by"], "streams.yaml");
    for (const c of s.consumers) {
      assert.is((c.config.metadata as Record<string, string>)["jpw.managed-by"], "streams.yaml");
    }
  }
});

parsing("ack_wait defaults to the first backoff step, as the server would set it", () => {
  const desired = parseSpec(
    "streams:\n  S:\n    subjects: [s]\n    consumers:\n      c:\n        backoff: [10s, 1m]\n        max_deliver: 3\n",
    "ok.yaml",
  );
  assert.is(desired.streams[0]!.consumers[0]!.config.ack_wait, 10e9);
});

parsing.run();

const env = suite("environment substitution");

env("a variable's value replaces the reference, typed as YAML would type it", () => {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a ${NAME} reference of streams.yaml, not a template
  const yaml = "streams:\n  S:\n    subjects: [s]\n    num_replicas: ${R:-1}\n    max_bytes: ${B:-1GiB}\n";
  const fallback = parseSpec(yaml, "ok.yaml", { env: {} }).streams[0]!.config;
  assert.is(fallback.num_replicas, 1);
  assert.is(fallback.max_bytes, 1024 ** 3);
  const given = parseSpec(yaml, "ok.yaml", { env: { R: "3", B: "2GiB" } }).streams[0]!.config;
  assert.is(given.num_replicas, 3);
  assert.is(given.max_bytes, 2 * 1024 ** 3);
});

env("an unset variable without a default names the file, the line and the way out", () => {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a ${NAME} reference of streams.yaml, not a template
  const p = only("streams:\n  S:\n    subjects: [s]\n    num_replicas: ${R}\n");
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a ${NAME} reference of streams.yaml, not a template
  assert.is(p, "bad.yaml:4: R is not set and ${R} has no default (write ${R:-value})");
});

env("a value cannot inject YAML structure, and comments are not substituted", () => {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a ${NAME} reference of streams.yaml, not a template
  const yaml = "# ${NOT_SET} in a comment\nstreams:\n  S:\n    subjects: [s]\n    description: ${D}\n";
  const desired = parseSpec(yaml, "ok.yaml", { env: { D: "x\nmax_age: 1s" } });
  assert.is(desired.streams[0]!.config.description, "x\nmax_age: 1s");
  assert.is(desired.streams[0]!.config.max_age, undefined);
});

env.run();

const rules = suite("validation");

const stream = (body: string) => `streams:\n  S:\n    subjects: [s.>]\n${body}`;
const derived = "    metadata:\n      jpw.durability: derived\n";

rules("an unknown key is refused with file, line, object, field and a suggestion", () => {
  assert.is(
    only(stream("    max_ages: 7d\n")),
    "bad.yaml:4: stream S field max_ages is not a known field (did you mean max_age?)",
  );
  assert.is(
    only(stream("    consumers:\n      c:\n        filter_subjet: s.a\n")),
    "bad.yaml:6: consumer S/c field filter_subjet is not a known field (did you mean filter_subject?)",
  );
  assert.match(
    only("kv:\n  b:\n    histroy: 2\n"),
    /^bad\.yaml:3: kv bucket b field histroy is not a known field \(did you mean history\?\)$/,
  );
  assert.match(
    only("stream:\n  S: {}\n"),
    /^bad\.yaml:1: field stream is not a known field \(did you mean streams\?\)$/,
  );
});

rules("a value of the wrong type names the field and what it must be", () => {
  assert.match(
    only(stream("    num_replicas: three\n")),
    /^bad\.yaml:4: stream S field num_replicas must be a number/,
  );
  assert.match(
    only(stream("    storage: disk\n")),
    /^bad\.yaml:4: stream S field storage must be "file" or "memory"/,
  );
  assert.match(
    only("kv:\n  b:\n    history: 100\n"),
    /^bad\.yaml:3: kv bucket b field history must be at most 64/,
  );
});

rules("a duration without a unit is refused rather than read as nanoseconds", () => {
  assert.match(
    only(stream("    max_age: 3600\n")),
    /^bad\.yaml:4: stream S field max_age has no unit: write 3600s/,
  );
  assert.match(
    only(stream("    max_age: 7 days\n")),
    /^bad\.yaml:4: stream S field max_age is not a duration/,
  );
  assert.match(
    only(stream("    consumers:\n      c:\n        backoff: [1s, 2x]\n        max_deliver: 5\n")),
    /^bad\.yaml:6: consumer S\/c field backoff\.1 is not a duration/,
  );
});

rules("a name declared twice is refused", () => {
  assert.match(
    only("streams:\n  S:\n    subjects: [a]\n  S:\n    subjects: [b]\n"),
    /^bad\.yaml:4: a name or field is declared twice/,
  );
});

rules("names with dots, wildcards or spaces, and the KV_ prefix, are refused", () => {
  assert.match(only("streams:\n  A.B:\n    subjects: [a]\n"), /stream A\.B name may not contain/);
  assert.match(only("streams:\n  KV_x:\n    subjects: [a]\n"), /stream KV_x name is reserved/);
  assert.match(
    only("streams:\n  S:\n    subjects: [a]\n    consumers:\n      'a b': {}\n"),
    /consumer S\/a b name may not contain/,
  );
  assert.match(only("kv:\n  'a.b': {}\n"), /kv bucket a\.b name may only hold/);
});

rules("a consumer filter outside its stream's subjects is refused", () => {
  assert.is(
    only(stream("    consumers:\n      c:\n        filter_subject: t.a\n")),
    `bad.yaml:6: consumer S/c field filter_subject "t.a" is not within stream S's subjects [s.>]: the consumer would never receive a message`,
  );
  assert.match(
    only(stream("    consumers:\n      c:\n        filter_subjects: [s.a, u.b]\n")),
    /^bad\.yaml:6: consumer S\/c field filter_subjects\.1 "u\.b" is not within/,
  );
  assert.match(
    only(stream("    consumers:\n      c:\n        filter_subject: s.a\n        filter_subjects: [s.b]\n")),
    /filter_subjects cannot be used together with filter_subject/,
  );
});

rules("two streams whose subjects overlap are refused, KV buckets included", () => {
  assert.is(
    only("streams:\n  A:\n    subjects: [writes.>]\n  B:\n    subjects: [dlq.>, writes.users]\n"),
    `bad.yaml:5: stream B field subjects.1 "writes.users" overlaps stream A's "writes.>": a message may belong to one stream only (the server refuses with 10065)`,
  );
  const kv = problems("streams:\n  A:\n    subjects: [$KV.ops.x]\nkv:\n  ops: {}\n");
  assert.match(kv[0]!, /^bad\.yaml:3: stream A field subjects\.0 "\$KV\.ops\.x" belongs to KV buckets/);
  assert.match(kv[1]!, /^bad\.yaml:5: kv bucket ops field subjects\.0 "\$KV\.ops\.>" overlaps stream A's/);
});

rules("subjects that are malformed, repeated, overlapping or reserved are refused", () => {
  assert.match(
    only("streams:\n  A:\n    subjects: [a..b]\n"),
    /field subjects\.0 "a\.\.b" has an empty token/,
  );
  assert.match(only("streams:\n  A:\n    subjects: [a, a]\n"), /"a" is listed twice/);
  assert.match(
    only("streams:\n  A:\n    subjects: [a.>, a.b]\n"),
    /"a\.b" overlaps "a\.>" in the same stream/,
  );
  assert.match(only("streams:\n  A:\n    subjects: [$JS.API.>]\n"), /is the JetStream API/);
  assert.equal(problems("streams:\n  A:\n    subjects: [$JS.EVENT.ADVISORY.>]\n"), []);
});

rules("a backoff longer than max_deliver is refused", () => {
  assert.is(
    only(stream("    consumers:\n      c:\n        max_deliver: 2\n        backoff: [1s, 2s, 3s]\n")),
    "bad.yaml:7: consumer S/c field backoff has 3 steps but max_deliver is 2: the server refuses a backoff longer than max_deliver (10116)",
  );
  assert.equal(
    problems(stream("    consumers:\n      c:\n        max_deliver: 3\n        backoff: [1s, 2s, 3s]\n")),
    [],
  );
});

rules("an ack_wait that differs from the first backoff step is refused", () => {
  assert.match(
    only(
      stream(
        "    consumers:\n      c:\n        ack_wait: 30s\n        max_deliver: 5\n        backoff: [10s, 1m]\n",
      ),
    ),
    /^bad\.yaml:6: consumer S\/c field ack_wait 30s differs from the first backoff step 10s/,
  );
});

rules("a duplicate_window longer than max_age is refused", () => {
  assert.is(
    only(stream("    max_age: 1m\n    duplicate_window: 2m\n")),
    "bad.yaml:5: stream S field duplicate_window 2m is longer than max_age 1m: the server refuses a dedup window that outlives the messages",
  );
});

rules("a field newer than the configured server version is refused", () => {
  assert.match(
    only(stream("    allow_batched: true\n")),
    /^bad\.yaml:4: stream S field allow_batched needs JetStream API level 4 \(nats-server 2\.14\+\), but the configured server version is 2\.12\.0$/,
  );
  assert.equal(problems(stream("    allow_batched: true\n"), { serverVersion: "2.14.9" }), []);
  assert.match(
    only(stream(`    persist_mode: async\n${derived}`), { serverVersion: "2.11.4" }),
    /persist_mode needs JetStream API level 2/,
  );
});

rules("combinations the server refuses are caught before it is asked", () => {
  assert.match(
    only(stream("    discard_new_per_subject: true\n    discard: new\n")),
    /needs max_msgs_per_subject above 0/,
  );
  assert.match(
    only(stream("    deny_purge: true\n    allow_rollup_hdrs: true\n")),
    /cannot be on with deny_purge/,
  );
  assert.match(only(stream("    subject_delete_marker_ttl: 5s\n")), /needs allow_msg_ttl: true/);
  assert.match(
    only(stream(`    persist_mode: async\n    storage: memory\n${derived}`)),
    /async needs file storage/,
  );
  assert.match(
    only(stream(`    persist_mode: async\n    allow_atomic: true\n${derived}`)),
    /async cannot be used with allow_atomic/,
  );
  assert.match(only(stream("    max_bytes: 1MiB\n    max_msg_size: 2MiB\n")), /larger than max_bytes 1MiB/);
  assert.match(
    only(stream("    consumers:\n      c:\n        num_replicas: 3\n")),
    /exceeds stream S's num_replicas 1/,
  );
  assert.match(
    only(stream("    consumers:\n      c:\n        deliver_policy: by_start_sequence\n")),
    /opt_start_seq goes with/,
  );
});

rules("persist_mode async is refused on a stream not declared derived, naming the declaration", () => {
  assert.is(
    only(stream("    persist_mode: async\n")),
    "bad.yaml:4: stream S field persist_mode async acknowledges a message before it is on disk, so an OS crash can lose acknowledged messages: only a stream of derived data may use it. Declare metadata jpw.durability: derived on this stream if what it holds is rebuilt or made good from elsewhere after a loss, or set persist_mode: default",
  );
  assert.equal(problems(stream(`    persist_mode: async\n${derived}`)), []);
  assert.equal(problems(stream("    persist_mode: default\n")), []);
});

rules("persist_mode async on a replicated stream is refused, naming the variable that sets it", () => {
  const yaml = stream(
    // biome-ignore lint/suspicious/noTemplateCurlyInString: ${NAME} references of streams.yaml, not templates
    "    num_replicas: ${R:-1}\n    persist_mode: ${MODE:-async}\n    metadata:\n      jpw.durability: derived\n",
  );
  assert.equal(problems(yaml), []);
  assert.match(
    only(yaml, { env: { R: "3" } }),
    /^bad\.yaml:5: stream S field persist_mode async is for a single replica only .*num_replicas 3: set MODE=default$/,
  );
  assert.equal(problems(yaml, { env: { R: "3", MODE: "default" } }), []);
  assert.match(
    only(stream(`    num_replicas: 3\n    persist_mode: async\n${derived}`)),
    /num_replicas 3: set persist_mode: default$/,
  );
});

rules("metadata the reconciler and the services read must hold values they can use", () => {
  assert.is(
    only(stream("    metadata:\n      jpw.history.max_age: 7x\n")),
    'bad.yaml:5: stream S field metadata.jpw.history.max_age Cannot parse duration "7x": use a number and a unit (ms, s, m, h, d, w), e.g. 30s or 7d',
  );
  assert.match(
    only(stream("    metadata:\n      jpw.history.max_bytes: lots\n")),
    /^bad\.yaml:5: stream S field metadata\.jpw\.history\.max_bytes Cannot parse size "lots"/,
  );
  assert.is(
    only(stream("    metadata:\n      jpw.durability: durable\n")),
    'bad.yaml:5: stream S field metadata.jpw.durability must be "derived" (the only kind this tool knows), or left out',
  );
  assert.is(
    only(stream("    consumers:\n      c:\n        metadata:\n          jpw.backlog.max_msgs: 0\n")),
    "bad.yaml:7: consumer S/c field metadata.jpw.backlog.max_msgs must be a whole number above 0",
  );
  assert.equal(problems(stream("    metadata:\n      owner: 42\n      jpw.history.max_age: 7d\n")), []);
});

rules("a workqueue stream's consumers ack explicitly and never overlap", () => {
  const wq = (consumers: string) =>
    `streams:\n  Q:\n    subjects: [q.>]\n    retention: workqueue\n    consumers:\n${consumers}`;
  assert.match(
    only(wq("      a:\n        filter_subject: q.a\n        ack_policy: none\n")),
    /ack_policy must be explicit on a workqueue stream/,
  );
  assert.match(
    only(wq("      a:\n        filter_subject: q.>\n      b:\n        filter_subject: q.b\n")),
    /consumer Q\/b overlaps consumer a on workqueue stream Q/,
  );
  assert.equal(
    problems(wq("      a:\n        filter_subject: q.a\n      b:\n        filter_subject: q.b\n")),
    [],
  );
});

rules("an empty file is refused rather than read as 'delete everything'", () => {
  assert.is(only(""), "bad.yaml: declares no stream and no kv bucket");
  assert.is(only("streams: {}\n"), "bad.yaml: declares no stream and no kv bucket");
});

rules("every problem in a file is reported at once, in file order", () => {
  const found = problems(
    stream("    max_ages: 7d\n    storage: disk\n    num_replicas: 0\n    duplicate_window: 60\n"),
  );
  assert.is(found.length, 4);
  assert.match(
    found.join("\n"),
    /:4: .*max_ages[\s\S]*:5: .*storage[\s\S]*:6: .*num_replicas[\s\S]*:7: .*duplicate_window has no unit/,
  );
});

rules.run();
