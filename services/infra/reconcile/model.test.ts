import { suite } from "uvu";
import * as assert from "uvu/assert";
import { diffConfigs } from "./diff.ts";
import {
  apiLevelOf,
  canonicalConsumer,
  canonicalStream,
  consumerRequest,
  consumerRules,
  streamRequest,
  streamRules,
} from "./model.ts";

// What nats-server 2.14.9 answered to STREAM.CREATE {name: "MIN", subjects: ["min.>"]}.
const serverMin = {
  name: "MIN",
  subjects: ["min.>"],
  retention: "limits",
  max_consumers: -1,
  max_msgs: -1,
  max_bytes: -1,
  max_age: 0,
  max_msgs_per_subject: -1,
  max_msg_size: -1,
  discard: "old",
  storage: "file",
  num_replicas: 1,
  duplicate_window: 120000000000,
  compression: "none",
  allow_direct: false,
  mirror_direct: false,
  sealed: false,
  deny_delete: false,
  deny_purge: false,
  allow_rollup_hdrs: false,
  consumer_limits: {},
  allow_msg_ttl: false,
  metadata: { "_nats.level": "4", "_nats.req.level": "0", "_nats.ver": "2.14.9" },
};

const server = { apiLevel: 4, version: "2.14.9" };

const canon = suite("canonical configs");

canon("a minimal declaration equals the server's filled-in view of it", () => {
  assert.equal(canonicalStream({ name: "MIN", subjects: ["min.>"] }), canonicalStream(serverMin));
});

canon("the server's _nats.* metadata is not configuration", () => {
  const live = canonicalStream({ ...serverMin, metadata: { ...serverMin.metadata, owner: "ops" } });
  assert.equal(live.metadata, { owner: "ops" });
});

canon("the duplicate window defaults to max_age when that is shorter than 2m", () => {
  assert.is(canonicalStream({ name: "S", subjects: ["s"], max_age: 30e9 }).duplicate_window, 30e9);
  assert.is(canonicalStream({ name: "S", subjects: ["s"], max_age: 3600e9 }).duplicate_window, 120e9);
});

canon("subjects compare in any order", () => {
  const a = canonicalStream({ name: "S", subjects: ["b", "a"] });
  const b = canonicalStream({ name: "S", subjects: ["a", "b"] });
  assert.equal(diffConfigs(a, b, streamRules, server), []);
});

canon("consumer defaults are filled as the server fills them", () => {
  const stream = canonicalStream({ name: "S", subjects: ["s.>"] });
  const c = canonicalConsumer({ durable_name: "c", ack_policy: "explicit", backoff: [5e9, 10e9] }, stream);
  assert.is(c.ack_wait, 5e9, "a backoff overrides ack_wait");
  assert.is(c.max_ack_pending, 1000);
  assert.is(c.max_waiting, 512);
  assert.is(c.max_deliver, -1);
  assert.is(c.num_replicas, 1, "0 replicas means the stream's");
  const limited = canonicalStream({ name: "S", subjects: ["s.>"], consumer_limits: { max_ack_pending: 50 } });
  assert.is(canonicalConsumer({ durable_name: "c", ack_policy: "explicit" }, limited).max_ack_pending, 50);
});

canon("one filter is the same written as filter_subject or filter_subjects", () => {
  const stream = canonicalStream({ name: "S", subjects: ["s.>"] });
  const a = canonicalConsumer({ durable_name: "c", filter_subject: "s.a" }, stream);
  const b = canonicalConsumer({ durable_name: "c", filter_subjects: ["s.a"] }, stream);
  assert.equal(diffConfigs(a, b, consumerRules, server), []);
});

canon.run();

const changes = suite("changes");

changes("field changes say whether the server can make them in place", () => {
  const live = canonicalStream({ ...serverMin, max_age: 3600e9 });
  const want = canonicalStream({
    name: "MIN",
    subjects: ["min.>"],
    max_age: 7 * 86_400e9,
    storage: "memory",
  });
  const found = diffConfigs(want, live, streamRules, server);
  const byField = Object.fromEntries(found.map((f) => [f.field, f]));
  assert.equal(byField.max_age, { field: "max_age", old: 3600e9, new: 7 * 86_400e9, inPlace: true });
  assert.is(byField.storage?.inPlace, false);
  assert.is(byField.storage?.reason, "storage cannot change in place");
});

changes("retention moves in place between limits and interest, never to or from workqueue", () => {
  const of = (retention: string) => canonicalStream({ name: "S", subjects: ["s"], retention });
  assert.is(diffConfigs(of("interest"), of("limits"), streamRules, server)[0]?.inPlace, true);
  assert.is(diffConfigs(of("workqueue"), of("limits"), streamRules, server)[0]?.inPlace, false);
  assert.is(diffConfigs(of("limits"), of("workqueue"), streamRules, server)[0]?.inPlace, false);
});

changes("one-way flags turn on in place but never off", () => {
  const of = (deny_delete: boolean) => canonicalStream({ name: "S", subjects: ["s"], deny_delete });
  assert.is(diffConfigs(of(true), of(false), streamRules, server)[0]?.inPlace, true);
  assert.is(diffConfigs(of(false), of(true), streamRules, server)[0]?.inPlace, false);
});

changes("max_consumers changes in place only from nats-server 2.14", () => {
  const of = (max_consumers: number) => canonicalStream({ name: "S", subjects: ["s"], max_consumers });
  assert.is(diffConfigs(of(10), of(-1), streamRules, server)[0]?.inPlace, true);
  assert.is(diffConfigs(of(10), of(-1), streamRules, { apiLevel: 2, version: "2.12.3" })[0]?.inPlace, false);
});

changes("a consumer's ack and deliver policies cannot change in place, its limits can", () => {
  const stream = canonicalStream({ name: "S", subjects: ["s.>"] });
  const live = canonicalConsumer({ durable_name: "c", ack_policy: "explicit", max_deliver: 5 }, stream);
  const want = canonicalConsumer(
    { durable_name: "c", ack_policy: "all", deliver_policy: "new", max_deliver: 9 },
    stream,
  );
  const byField = Object.fromEntries(diffConfigs(want, live, consumerRules, server).map((f) => [f.field, f]));
  assert.is(byField.ack_policy?.inPlace, false);
  assert.is(byField.deliver_policy?.inPlace, false);
  assert.is(byField.max_deliver?.inPlace, true);
});

changes("metadata differences are listed key by key", () => {
  const live = canonicalStream({ ...serverMin, metadata: { ...serverMin.metadata, a: "1", b: "2" } });
  const want = canonicalStream({ name: "MIN", subjects: ["min.>"], metadata: { a: "1", c: "3" } });
  assert.equal(
    diffConfigs(want, live, streamRules, server).map((f) => [f.field, f.old, f.new]),
    [
      ["metadata.b", "2", undefined],
      ["metadata.c", undefined, "3"],
    ],
  );
});

changes.run();

const wire = suite("requests");

wire("a stream request names every field explicitly, minus those the server is too old to know", () => {
  const c = canonicalStream({ name: "S", subjects: ["s"] });
  const latest = streamRequest(c, 4);
  assert.is(latest.deny_delete, false, "a removed flag is sent at its default, never left to a merge");
  assert.is(latest.max_age, 0);
  assert.is(latest.allow_batched, false);
  const older = streamRequest(c, 2);
  assert.is(older.allow_batched, undefined, "2.12 rejects unknown fields");
  assert.is(older.persist_mode, "default");
  assert.not.ok("placement" in latest, "absent objects are not sent");
});

wire("a consumer request keeps 0 replicas (follow the stream) and leaves push fields out", () => {
  const stream = canonicalStream({ name: "S", subjects: ["s.>"], num_replicas: 3 });
  const req = consumerRequest(canonicalConsumer({ durable_name: "c", filter_subject: "s.a" }, stream), 0, 4);
  assert.is(req.num_replicas, 0);
  assert.is(req.durable_name, "c");
  assert.is(req.filter_subject, "s.a");
  assert.not.ok("filter_subjects" in req);
  assert.not.ok("deliver_subject" in req);
  assert.not.ok("idle_heartbeat" in req);
});

wire("API levels follow the release lines", () => {
  assert.is(apiLevelOf("2.10.29"), 0);
  assert.is(apiLevelOf("2.11.17"), 1);
  assert.is(apiLevelOf("2.12.4"), 2);
  assert.is(apiLevelOf("2.12.15"), 3);
  assert.is(apiLevelOf("v2.14.9"), 4);
});

wire.run();
