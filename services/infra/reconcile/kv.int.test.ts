import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { startNats } from "../../testing/nats.ts";
import { apply, hasChanges, parseSpec, plan } from "./mod.ts";
import type { Plan } from "./plan.ts";
import { renderPlan } from "./render.ts";
import { connected, natsCli, watchMutations } from "./testing.ts";

const bucket = (body = "") =>
  parseSpec(`kv:\n  outcomes:\n    description: outcomes\n    ttl: 24h\n${body}`, "kv.yaml", { env: {} });
const only = (p: Plan) => {
  assert.is(p.changes.length, 1);
  return p.changes[0]!;
};

const kv = suite("kv buckets");

kv("a declared bucket is created as a working bucket with its history and ttl", async () => {
  await using server = await startNats({ own: true });
  await using nc = await connected(server.url);
  const p = await plan(nc, bucket("    history: 5\n"));
  assert.is(only(p).action, "create");
  assert.match(renderPlan(p), /\+ create kv bucket outcomes \(stream KV_outcomes\)/);
  await apply(nc, p);

  const store = await new Kvm(nc).open("outcomes");
  for (const v of ["a", "b", "c"]) await store.put("k", v);
  assert.is((await store.get("k"))?.string(), "c");
  const status = await store.status();
  assert.is(status.history, 5);
  assert.is(status.ttl, 24 * 3600 * 1000);
  const history: string[] = [];
  for await (const e of await store.history({ key: "k" })) history.push(e.string());
  assert.equal(history, ["a", "b", "c"]);
  assert.not.ok(hasChanges(await plan(nc, bucket("    history: 5\n"))));
});

kv("history, ttl and max_bytes change in place through the stream API", async () => {
  await using server = await startNats({ own: true });
  await using nc = await connected(server.url);
  await apply(nc, await plan(nc, bucket()));
  const store = await new Kvm(nc).open("outcomes");
  await store.put("kept", "yes");

  const v2 = parseSpec(
    "kv:\n  outcomes:\n    description: outcomes\n    ttl: 1h\n    history: 3\n    max_bytes: 64MiB\n",
    "kv.yaml",
    { env: {} },
  );
  const p = await plan(nc, v2);
  const change = only(p);
  assert.is(change.action, "update");
  assert.equal(
    change.fields.map((f) => [f.field, f.old, f.new]),
    [
      ["max_bytes", -1, 64 * 1024 ** 2],
      ["max_age", 24 * 3600e9, 3600e9],
      ["max_msgs_per_subject", 1, 3],
    ],
  );
  assert.is(change.shrinks, undefined, "a lower ttl, but no value is older than it: nothing goes");
  const watch = await watchMutations(server.url);
  await apply(nc, p);
  assert.equal(await watch.seen(), ["$JS.API.STREAM.UPDATE.KV_outcomes"]);
  await watch.close();
  const status = await store.status();
  assert.is(status.history, 3);
  assert.is(status.ttl, 3600 * 1000);
  assert.is((await store.get("kept"))?.string(), "yes");
  assert.not.ok(hasChanges(await plan(nc, v2)));
});

kv("a bucket made by the nats CLI is adopted as it is: its deny_delete is never turned off", async () => {
  await using server = await startNats({ own: true });
  await using nc = await connected(server.url);
  await natsCli(
    server.url,
    "kv",
    "add",
    "outcomes",
    "--history",
    "1",
    "--ttl",
    "24h",
    "--description",
    "outcomes",
  );
  const jsm = await jetstreamManager(nc);
  assert.is((await jsm.streams.info("KV_outcomes")).config.deny_delete, true);

  const change = only(await plan(nc, bucket()));
  assert.is(change.adopt, true);
  assert.equal(
    change.fields.map((f) => f.field),
    ["metadata.jpw.managed-by"],
  );
  await apply(nc, await plan(nc, bucket()));
  assert.is((await jsm.streams.info("KV_outcomes")).config.deny_delete, true);
  assert.not.ok(hasChanges(await plan(nc, bucket())));
});

kv("a bucket made by nats.js Kvm.create keeps deny_delete off", async () => {
  await using server = await startNats({ own: true });
  await using nc = await connected(server.url);
  await new Kvm(nc).create("outcomes", { history: 1, ttl: 24 * 3600 * 1000, description: "outcomes" });
  const change = only(await plan(nc, bucket()));
  assert.not.ok(change.fields.some((f) => f.field === "deny_delete"));
  await apply(nc, await plan(nc, bucket()));
  const jsm = await jetstreamManager(nc);
  assert.is((await jsm.streams.info("KV_outcomes")).config.deny_delete, false);
  assert.not.ok(hasChanges(await plan(nc, bucket())));
});

kv("a storage change of a bucket is a replace that would destroy its values", async () => {
  await using server = await startNats({ own: true });
  await using nc = await connected(server.url);
  await apply(nc, await plan(nc, bucket()));
  await (await new Kvm(nc).open("outcomes")).put("k", "v");
  const change = only(await plan(nc, bucket("    storage: memory\n")));
  assert.is(change.action, "replace");
  assert.is(change.loses, "1 message");
});

kv.run();
