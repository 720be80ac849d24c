import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { startNats } from "../../testing/nats.ts";
import { applyStreams } from "../../testing/streams.ts";
import {
  apply,
  DestructiveChangeError,
  hasChanges,
  loadSpecFile,
  PlanError,
  parseSpec,
  plan,
} from "./mod.ts";
import type { Change, Plan } from "./plan.ts";
import { renderPlan } from "./render.ts";
import { connected, natsCli, watchMutations } from "./testing.ts";

const spec = (yaml: string) => parseSpec(yaml, "test.yaml", { env: {} });
const project = () => loadSpecFile(undefined, { env: {} });
const find = (p: Plan, what: string): Change => {
  const c = p.changes.find((x) => (x.stream ? `${x.stream}/${x.name}` : x.name) === what);
  assert.ok(c, `${what} is in the plan`);
  return c!;
};
const fieldsOf = (c: Change) => c.fields.map((f) => [f.field, f.old, f.new]);
const info = async (url: string, ...args: string[]) => JSON.parse(await natsCli(url, ...args, "--json"));

const fromEmpty = suite("from an empty server");

fromEmpty(
  "apply creates every object of streams.yaml and the nats CLI shows what the file declares",
  async () => {
    await using server = await startNats({ own: true });
    await using nc = await connected(server.url);
    const p = await plan(nc, project());
    assert.equal(
      p.changes.map((c) => `${c.action} ${c.kind} ${c.stream ? `${c.stream}/` : ""}${c.name}`),
      [
        "create stream WRITES",
        "create consumer WRITES/users-writer",
        "create consumer WRITES/orders-writer",
        "create stream WRITES_DLQ",
        "create stream CDC",
        "create consumer CDC/cache-invalidator",
        "create kv KV_operations",
      ],
    );
    const result = await apply(nc, p);
    assert.equal(result, { created: 7, updated: 0, replaced: 0, deleted: 0 });

    const writes = (await info(server.url, "stream", "info", "WRITES")).config;
    assert.equal(writes.subjects, ["writes.>"]);
    assert.is(writes.storage, "file");
    assert.is(writes.retention, "limits");
    assert.is(writes.discard, "new");
    assert.is(writes.max_age, 0, "no age limit: the history keeper trims applied commands only");
    assert.is(writes.max_bytes, 8 * 1024 ** 3);
    assert.is(writes.metadata["jpw.history.max_age"], "7d");
    assert.is(writes.metadata["jpw.history.max_bytes"], "1GiB");
    assert.is(writes.max_msg_size, 256 * 1024);
    assert.is(writes.duplicate_window, 120e9);
    assert.is(writes.num_replicas, 1);
    assert.match(writes.description, /^Write commands/);
    assert.is(writes.metadata["jpw.managed-by"], "streams.yaml");

    const users = (await info(server.url, "consumer", "info", "WRITES", "users-writer")).config;
    assert.is(users.filter_subject, "writes.users");
    assert.is(users.ack_policy, "explicit");
    assert.is(users.deliver_policy, "all");
    assert.is(users.ack_wait, 30e9);
    assert.is(users.max_deliver, 20);
    // No backoff: the writers pace their own redeliveries with nak delays (see streams.yaml).
    assert.is(users.backoff, undefined);
    assert.is(users.max_ack_pending, 2048);
    assert.is(users.metadata["jpw.managed-by"], "streams.yaml");
    assert.is(users.metadata["jpw.backlog.max_msgs"], "100000");

    const cdc = (await info(server.url, "stream", "info", "CDC")).config;
    assert.is(cdc.persist_mode, "async");
    assert.is(cdc.metadata["jpw.durability"], "derived");

    const invalidator = (await info(server.url, "consumer", "info", "CDC", "cache-invalidator")).config;
    assert.is(invalidator.filter_subject, "cdc.public.>");
    assert.is(invalidator.ack_wait, 10e9);
    assert.is(invalidator.max_deliver, -1);

    const bucket = (await info(server.url, "stream", "info", "KV_operations")).config;
    assert.is(bucket.max_age, 86_400e9);
    assert.is(bucket.max_msgs_per_subject, 1);
    assert.is(bucket.allow_rollup_hdrs, true);
    assert.is(bucket.allow_direct, true);
    assert.is(bucket.discard, "old");
    const kv = await new Kvm(nc).open("operations");
    await kv.put("op-1", "committed");
    assert.is((await kv.get("op-1"))?.string(), "committed");
  },
);

fromEmpty("the test harness's applyStreams gives a fresh server every object", async () => {
  await using server = await startNats({ own: true });
  await applyStreams(server.url);
  await using nc = await connected(server.url);
  const p = await plan(nc, project());
  assert.not.ok(hasChanges(p), renderPlan(p));
  const jsm = await jetstreamManager(nc);
  assert.is((await jsm.consumers.info("WRITES", "orders-writer")).config.filter_subject, "writes.orders");
});

fromEmpty.run();

const idempotent = suite("an unchanged file");

idempotent("plans no changes and a second apply sends no create, update or delete request", async () => {
  await using server = await startNats({ own: true });
  await using nc = await connected(server.url);
  await apply(nc, await plan(nc, project()));

  const watch = await watchMutations(server.url);
  const second = await plan(nc, project());
  assert.not.ok(hasChanges(second), renderPlan(second));
  assert.ok(second.changes.every((c) => c.action === "unchanged"));
  assert.equal(await apply(nc, second), { created: 0, updated: 0, replaced: 0, deleted: 0 });
  assert.equal(await watch.seen(), []);
  await watch.close();
});

idempotent.run();

const update = suite("a changed field");

const v1 = `streams:
  ORDERS:
    description: orders
    subjects: [orders.>]
    max_age: 1h
    max_msgs: 1000
    consumers:
      worker:
        filter_subject: orders.new
        max_deliver: 5
`;

update("plans an in-place update with old → new, and apply sends only that object's update", async () => {
  await using server = await startNats({ own: true });
  await using nc = await connected(server.url);
  await apply(nc, await plan(nc, spec(v1)));

  const v2 = v1.replace("max_age: 1h", "max_age: 2h").replace("max_deliver: 5", "max_deliver: 7");
  const p = await plan(nc, spec(v2));
  assert.is(find(p, "ORDERS").action, "update");
  assert.equal(fieldsOf(find(p, "ORDERS")), [["max_age", 3600e9, 7200e9]]);
  assert.is(find(p, "ORDERS/worker").action, "update");
  assert.equal(fieldsOf(find(p, "ORDERS/worker")), [["max_deliver", 5, 7]]);
  assert.match(renderPlan(p), /~ update stream ORDERS\n {6}max_age: 1h → 2h\n/);

  const watch = await watchMutations(server.url);
  assert.equal(await apply(nc, p), { created: 0, updated: 2, replaced: 0, deleted: 0 });
  assert.equal(await watch.seen(), ["$JS.API.STREAM.UPDATE.ORDERS", "$JS.API.CONSUMER.CREATE.ORDERS.worker"]);
  await watch.close();
  assert.is((await info(server.url, "stream", "info", "ORDERS")).config.max_age, 7200e9);
  assert.not.ok(hasChanges(await plan(nc, spec(v2))));
});

update("a field removed from the file goes back to the server's default, not left as it was", async () => {
  await using server = await startNats({ own: true });
  await using nc = await connected(server.url);
  await apply(nc, await plan(nc, spec(v1)));

  const p = await plan(nc, spec(v1.replace("    max_msgs: 1000\n", "")));
  assert.equal(fieldsOf(find(p, "ORDERS")), [["max_msgs", 1000, -1]]);
  await apply(nc, p);
  assert.is((await info(server.url, "stream", "info", "ORDERS")).config.max_msgs, -1);
});

update.run();

const destructive = suite("a change the server cannot make in place");

destructive("is planned as a replace, refused without allowDestructive, and nothing changes", async () => {
  await using server = await startNats({ own: true });
  await using nc = await connected(server.url);
  await apply(nc, await plan(nc, spec(v1)));
  const js = jetstream(nc);
  for (const n of [1, 2, 3]) await js.publish("orders.new", `order ${n}`);

  const p = await plan(nc, spec(v1.replace("    max_age: 1h\n", "    max_age: 1h\n    storage: memory\n")));
  const orders = find(p, "ORDERS");
  assert.is(orders.action, "replace");
  assert.equal(
    orders.fields.map((f) => [f.field, f.old, f.new, f.inPlace, f.reason]),
    [["storage", "file", "memory", false, "storage cannot change in place"]],
  );
  assert.is(orders.loses, "3 messages and consumers worker");
  assert.is(find(p, "ORDERS/worker").action, "replace");
  assert.match(
    renderPlan(p),
    /-\/\+ replace stream ORDERS \(destroys data: 3 messages and consumers worker\)/,
  );

  const watch = await watchMutations(server.url);
  try {
    await apply(nc, p);
    assert.unreachable("apply must refuse");
  } catch (err) {
    assert.instance(err, DestructiveChangeError);
    assert.match(
      (err as Error).message,
      /^refusing to apply: stream ORDERS must be replaced because storage cannot change in place, which destroys 3 messages and consumers worker; consumer ORDERS\/worker must be replaced because its stream ORDERS is replaced, which destroys its delivery state .*Nothing was changed\. Re-run with --allow-destructive to delete and recreate them$/,
    );
  }
  assert.equal(await watch.seen(), [], "no request at all");
  const jsm = await jetstreamManager(nc);
  assert.is((await jsm.streams.info("ORDERS")).state.messages, 3);

  assert.equal(await apply(nc, p, { allowDestructive: true }), {
    created: 0,
    updated: 0,
    replaced: 2,
    deleted: 0,
  });
  await watch.close();
  const after = await jsm.streams.info("ORDERS");
  assert.is(after.config.storage, "memory");
  assert.is(after.state.messages, 0);
  assert.is((await jsm.consumers.info("ORDERS", "worker")).config.max_deliver, 5);
  assert.not.ok(
    hasChanges(
      await plan(nc, spec(v1.replace("    max_age: 1h\n", "    max_age: 1h\n    storage: memory\n"))),
    ),
  );
});

destructive("a consumer's ack policy change replaces only the consumer and keeps the messages", async () => {
  await using server = await startNats({ own: true });
  await using nc = await connected(server.url);
  await apply(nc, await plan(nc, spec(v1)));
  await jetstream(nc).publish("orders.new", "kept");

  const v2 = v1.replace("max_deliver: 5", "max_deliver: 5\n        ack_policy: all");
  const p = await plan(nc, spec(v2));
  assert.is(find(p, "ORDERS").action, "unchanged");
  const worker = find(p, "ORDERS/worker");
  assert.is(worker.action, "replace");
  assert.equal(fieldsOf(worker), [["ack_policy", "explicit", "all"]]);
  await apply(nc, p, { allowDestructive: true });
  const jsm = await jetstreamManager(nc);
  assert.is((await jsm.consumers.info("ORDERS", "worker")).config.ack_policy, "all");
  assert.is((await jsm.streams.info("ORDERS")).state.messages, 1);
});

destructive.run();

const prune = suite("prune");

const twoStreams = `streams:
  A:
    subjects: [a.>]
    consumers:
      a1:
        filter_subject: a.one
      a2:
        filter_subject: a.two
  B:
    subjects: [b.>]
`;
const onlyA = `streams:
  A:
    subjects: [a.>]
    consumers:
      a1:
        filter_subject: a.one
`;

prune("deletes only managed objects no longer declared, only when asked, never unmanaged ones", async () => {
  await using server = await startNats({ own: true });
  await using nc = await connected(server.url);
  await apply(nc, await plan(nc, spec(twoStreams)));
  await natsCli(server.url, "stream", "add", "HAND", "--subjects", "hand.>", "--defaults");
  await natsCli(server.url, "consumer", "add", "A", "by-hand", "--pull", "--filter", "a.one", "--defaults");

  const kept = await plan(nc, spec(onlyA));
  assert.is(find(kept, "B").action, "orphan");
  assert.is(find(kept, "A/a2").action, "orphan");
  assert.not.ok(hasChanges(kept), "orphans are not changes without prune");
  assert.equal(kept.unmanaged.sort(), ["consumer A/by-hand", "stream HAND"]);
  assert.match(
    renderPlan(kept),
    /no longer declared, kept .*--prune deletes them.*: consumer A\/a2, stream B/,
  );
  const watch = await watchMutations(server.url);
  await apply(nc, kept);
  assert.equal(await watch.seen(), []);

  const pruned = await plan(nc, spec(onlyA), { prune: true });
  assert.is(find(pruned, "B").action, "delete");
  assert.is(find(pruned, "A/a2").action, "delete");
  assert.equal(await apply(nc, pruned), { created: 0, updated: 0, replaced: 0, deleted: 2 });
  assert.equal((await watch.seen()).sort(), ["$JS.API.CONSUMER.DELETE.A.a2", "$JS.API.STREAM.DELETE.B"]);
  await watch.close();

  const jsm = await jetstreamManager(nc);
  const names: string[] = [];
  for await (const n of jsm.streams.names()) names.push(n);
  assert.equal(names.sort(), ["A", "HAND"]);
  const consumers: string[] = [];
  for await (const c of jsm.consumers.list("A")) consumers.push(c.name);
  assert.equal(consumers.sort(), ["a1", "by-hand"]);
});

prune.run();

const foreign = suite("objects streams.yaml does not manage");

foreign(
  "a declared stream overlapping an unmanaged stream fails the plan with both names and the way out",
  async () => {
    await using server = await startNats({ own: true });
    await using nc = await connected(server.url);
    await natsCli(server.url, "stream", "add", "LEGACY", "--subjects", "writes.users", "--defaults");
    try {
      await plan(nc, project());
      assert.unreachable("plan must fail");
    } catch (err) {
      assert.instance(err, PlanError);
      assert.match(
        (err as Error).message,
        /streams\.yaml:\d+: stream WRITES field subjects\.0: "writes\.>" overlaps stream LEGACY \("writes\.users"\), which streams\.yaml does not manage: change its subjects \(nats stream edit LEGACY --subjects \.\.\.\) or remove it \(nats stream rm LEGACY\)/,
      );
    }
  },
);

foreign(
  "an overlap with a managed stream no longer declared asks for --prune, which resolves it",
  async () => {
    await using server = await startNats({ own: true });
    await using nc = await connected(server.url);
    await apply(nc, await plan(nc, spec("streams:\n  OLD:\n    subjects: [orders.>]\n")));
    const renamed = spec("streams:\n  NEW:\n    subjects: [orders.>]\n");
    try {
      await plan(nc, renamed);
      assert.unreachable("plan must fail");
    } catch (err) {
      assert.match(
        (err as Error).message,
        /overlaps stream OLD .*no longer declares: run with --prune to delete it first/,
      );
    }
    const p = await plan(nc, renamed, { prune: true });
    assert.equal(
      p.changes.map((c) => `${c.action} ${c.name}`),
      ["create NEW", "delete OLD"],
    );
    await apply(nc, p);
    assert.not.ok(hasChanges(await plan(nc, renamed, { prune: true })));
  },
);

foreign(
  "a stream with a declared name but no marker is adopted by an update that adds the marker",
  async () => {
    await using server = await startNats({ own: true });
    await using nc = await connected(server.url);
    await natsCli(server.url, "stream", "add", "ORDERS", "--subjects", "orders.>", "--defaults");
    const p = await plan(nc, spec("streams:\n  ORDERS:\n    subjects: [orders.>]\n"));
    const orders = find(p, "ORDERS");
    assert.is(orders.action, "update");
    assert.is(orders.adopt, true);
    // natscli's --defaults turns direct gets on; the file does not ask for them.
    assert.equal(fieldsOf(orders), [
      ["allow_direct", true, false],
      ["metadata.jpw.managed-by", undefined, "streams.yaml"],
    ]);
    assert.match(renderPlan(p), /adopted: exists but was not managed by streams\.yaml/);
    await apply(nc, p);
    assert.not.ok(hasChanges(await plan(nc, spec("streams:\n  ORDERS:\n    subjects: [orders.>]\n"))));
  },
);

foreign.run();

const checks = suite("server checks before any change");

checks("three replicas on a single server fail the plan, naming the field and JPW_REPLICAS", async () => {
  await using server = await startNats({ own: true });
  await using nc = await connected(server.url);
  const watch = await watchMutations(server.url);
  try {
    await plan(nc, loadSpecFile(undefined, { env: { JPW_REPLICAS: "3", JPW_CDC_PERSIST_MODE: "default" } }));
    assert.unreachable("plan must fail");
  } catch (err) {
    assert.instance(err, PlanError);
    const problems = (err as PlanError).problems;
    assert.is(problems.length, 4, "one per stream and bucket");
    assert.match(
      problems[0]!,
      /streams\.yaml:\d+: stream WRITES field num_replicas is 3 but .* is a single server, not a cluster: set JPW_REPLICAS=1/,
    );
  }
  assert.equal(await watch.seen(), []);
  await watch.close();
});

checks("a cluster expected by the environment makes R1 a warning, not an error", async () => {
  await using server = await startNats({ own: true });
  await using nc = await connected(server.url);
  const p = await plan(nc, project(), { env: { JPW_CLUSTER: "1" }, monitorUrl: server.monitorUrl });
  assert.match(
    p.warnings.join("\n"),
    /stream WRITES has 1 replica but a cluster is expected \(JPW_CLUSTER=1\)/,
  );
  const quiet = await plan(nc, project(), { env: {}, monitorUrl: server.monitorUrl });
  assert.equal(quiet.warnings, [], "fsync always and no cluster expected: nothing to say");
});

checks.run();
