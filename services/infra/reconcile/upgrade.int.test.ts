// A stack started from the streams.yaml of before issue #9 (fixtures/streams-before-9.yaml), holding
// unapplied commands, outcome records and change events, reaches today's streams.yaml: `just
// streams apply` updates WRITES, its consumers and the bucket in place, losing nothing; CDC, whose
// persist_mode is fixed at creation, is replaced only with --allow-destructive.
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { startNats } from "../../testing/nats.ts";
import { apply, hasChanges, loadSpecFile, plan } from "./mod.ts";
import { type Change, isDestructive, type Plan } from "./plan.ts";
import { renderPlan } from "./render.ts";
import { connected, refusal } from "./testing.ts";

const before = () => loadSpecFile(join(import.meta.dirname, "fixtures/streams-before-9.yaml"), { env: {} });
const today = () => loadSpecFile(undefined, { env: {} });
const summary = (p: Plan) =>
  p.changes.map((c: Change) => ({
    what: `${c.action}${isDestructive(c) ? "!" : ""} ${c.stream ? `${c.stream}/` : ""}${c.name}`,
    fields: c.fields.map((f) => f.field),
  }));

const upgrade = suite("upgrading a stack from the layout before issue 9");

upgrade(
  "apply updates WRITES, its consumers and the bucket in place keeping every message; CDC needs --allow-destructive",
  async () => {
    await using server = await startNats({ own: true });
    await using nc = await connected(server.url);
    await apply(nc, await plan(nc, before()));

    // Commands no writer has applied, outcome records, and change events the reader has not seen.
    const js = jetstream(nc);
    for (let i = 0; i < 5; i++) await js.publish("writes.users", `{"user":${i}}`, { msgID: `u${i}` });
    for (let i = 0; i < 3; i++) await js.publish("writes.orders", `{"order":${i}}`, { msgID: `o${i}` });
    const kv = await new Kvm(nc).open("operations");
    for (const id of ["op-1", "op-2", "op-3"]) await kv.put(id, `{"status":"rejected","id":"${id}"}`);
    for (let i = 0; i < 4; i++) await js.publish("cdc.public.users", `{"change":${i}}`);

    const p = await plan(nc, today());
    assert.equal(summary(p), [
      {
        what: "update WRITES",
        fields: ["max_bytes", "max_age", "metadata.jpw.history.max_age", "metadata.jpw.history.max_bytes"],
      },
      { what: "update WRITES/users-writer", fields: ["metadata.jpw.backlog.max_msgs"] },
      { what: "update WRITES/orders-writer", fields: ["metadata.jpw.backlog.max_msgs"] },
      { what: "unchanged WRITES_DLQ", fields: [] },
      { what: "replace! CDC", fields: ["persist_mode", "metadata.jpw.durability"] },
      { what: "replace! CDC/cache-invalidator", fields: [] },
      { what: "update KV_operations", fields: ["description", "discard"] },
    ]);
    const text = renderPlan(p);
    assert.match(text, /~ update stream WRITES\n {6}max_bytes: 1GiB → 8GiB\n {6}max_age: 7d → unlimited\n/);
    assert.match(
      text,
      /-\/\+ replace stream CDC \(destroys data: 4 messages and consumers cache-invalidator\)\n {6}persist_mode: default → async {2}\(persist_mode cannot change in place\)/,
    );

    const jsm = await jetstreamManager(nc);
    assert.match(
      (await refusal(() => apply(nc, p))).message,
      /^refusing to apply: stream CDC must be replaced because persist_mode cannot change in place, which destroys 4 messages and consumers cache-invalidator; consumer CDC\/cache-invalidator must be replaced because its stream CDC is replaced, .*\. Every other change was made \(0 created, 4 updated, 0 deleted\)\. Re-run with --allow-destructive to delete and recreate them$/,
    );

    const writes = await jsm.streams.info("WRITES");
    assert.is(writes.config.max_age, 0);
    assert.is(writes.config.max_bytes, 8 * 1024 ** 3);
    assert.is(writes.config.metadata?.["jpw.history.max_age"], "7d");
    assert.is(writes.state.messages, 8, "every unapplied command is still there");
    assert.is((await jsm.consumers.info("WRITES", "users-writer")).num_pending, 5);
    assert.is((await jsm.consumers.info("WRITES", "orders-writer")).num_pending, 3);
    assert.is(
      (await jsm.consumers.info("WRITES", "users-writer")).config.metadata?.["jpw.backlog.max_msgs"],
      "100000",
    );
    assert.is((await jsm.streams.info("KV_operations")).config.discard, "old");
    for (const id of ["op-1", "op-2", "op-3"]) assert.match((await kv.get(id))?.string() ?? "", /rejected/);
    const cdc = await jsm.streams.info("CDC");
    assert.is(cdc.state.messages, 4, "CDC is left alone without --allow-destructive");
    assert.is(cdc.config.persist_mode ?? "default", "default");
    assert.equal(
      summary(await plan(nc, today()))
        .filter((c) => !c.what.startsWith("unchanged"))
        .map((c) => c.what),
      ["replace! CDC", "replace! CDC/cache-invalidator"],
    );

    const result = await apply(nc, await plan(nc, today()), { allowDestructive: true });
    assert.equal(result, { created: 0, updated: 0, replaced: 2, deleted: 0 });
    const replaced = await jsm.streams.info("CDC");
    assert.is(replaced.config.persist_mode, "async");
    assert.is(replaced.state.messages, 0);
    assert.is((await jsm.consumers.info("CDC", "cache-invalidator")).num_pending, 0);
    assert.is((await jsm.streams.info("WRITES")).state.messages, 8);
    assert.is((await jsm.consumers.info("WRITES", "users-writer")).num_pending, 5);
    assert.not.ok(hasChanges(await plan(nc, today())));
  },
);

upgrade.run();
