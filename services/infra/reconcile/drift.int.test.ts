// Drift made by hand with the real nats CLI: plan shows exactly what changed, apply repairs it.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { startNats } from "../../testing/nats.ts";
import { apply, hasChanges, loadSpecFile, plan } from "./mod.ts";
import type { Change, Plan } from "./plan.ts";
import { renderPlan } from "./render.ts";
import { connected, natsCli } from "./testing.ts";

const project = () => loadSpecFile(undefined, { env: {} });
const changed = (p: Plan) =>
  p.changes
    .filter((c) => c.action !== "unchanged")
    .map((c: Change) => ({
      what: `${c.action} ${c.stream ? `${c.stream}/` : ""}${c.name}`,
      fields: c.fields.map((f) => [f.field, f.old, f.new]),
    }));
const info = async (url: string, ...args: string[]) =>
  JSON.parse(await natsCli(url, ...args, "--json")).config;

async function applied() {
  const server = await startNats({ own: true });
  const nc = await connected(server.url);
  await apply(nc, await plan(nc, project()));
  return {
    url: server.url,
    nc,
    async [Symbol.asyncDispose]() {
      await nc.close();
      await server[Symbol.asyncDispose]();
    },
  };
}

const drift = suite("drift made with the nats CLI");

drift("an edited max_age and max_deliver show in plan exactly, and apply puts them back", async () => {
  await using s = await applied();
  await natsCli(s.url, "stream", "edit", "WRITES", "--max-age", "1h", "-f");
  await natsCli(s.url, "consumer", "edit", "WRITES", "users-writer", "--max-deliver", "5", "-f");

  const p = await plan(s.nc, project());
  assert.equal(changed(p), [
    { what: "update WRITES", fields: [["max_age", 3600e9, 0]] },
    { what: "update WRITES/users-writer", fields: [["max_deliver", 5, 20]] },
  ]);
  const text = renderPlan(p);
  assert.match(text, /~ update stream WRITES\n {6}max_age: 1h → unlimited\n/);
  assert.match(text, /~ update consumer WRITES\/users-writer\n {6}max_deliver: 5 → 20\n/);

  await apply(s.nc, p);
  assert.not.ok(hasChanges(await plan(s.nc, project())));
  assert.is((await info(s.url, "stream", "info", "WRITES")).max_age, 0);
  assert.is((await info(s.url, "consumer", "info", "WRITES", "users-writer")).max_deliver, 20);
});

drift("a setting the file leaves at its default, changed by hand, goes back to the default", async () => {
  await using s = await applied();
  await natsCli(s.url, "stream", "edit", "CDC", "--max-msgs", "1000", "--description", "by hand", "-f");
  const p = await plan(s.nc, project());
  const [cdc] = changed(p);
  assert.is(cdc?.what, "update CDC");
  assert.equal(
    cdc?.fields.map(([f, old]) => [f, old]),
    [
      ["description", "by hand"],
      ["max_msgs", 1000],
    ],
  );
  assert.match(renderPlan(p), /max_msgs: 1000 → unlimited/);
  await apply(s.nc, p);
  const repaired = await info(s.url, "stream", "info", "CDC");
  assert.is(repaired.max_msgs, -1);
  assert.match(repaired.description, /^Row changes/);
});

drift("metadata and a republish added by hand are removed, server metadata is ignored", async () => {
  await using s = await applied();
  await natsCli(
    s.url,
    "stream",
    "edit",
    "WRITES_DLQ",
    "--metadata",
    "owner=someone",
    "--republish-source",
    "dlq.writes.>",
    "--republish-destination",
    "copy.>",
    "-f",
  );
  const p = await plan(s.nc, project());
  const [dlq] = changed(p);
  // natscli's --metadata replaces the whole map, our marker included: the stream is adopted back.
  assert.equal(
    dlq?.fields.map(([f]) => f),
    ["republish", "metadata.jpw.managed-by", "metadata.owner"],
  );
  assert.is(p.changes.find((c) => c.name === "WRITES_DLQ")?.adopt, true);
  await apply(s.nc, p);
  const repaired = await info(s.url, "stream", "info", "WRITES_DLQ");
  assert.is(repaired.republish, undefined);
  assert.is(repaired.metadata.owner, undefined);
  assert.is(repaired.metadata["jpw.managed-by"], "streams.yaml");
});

drift("a consumer deleted by hand is recreated, the others are left alone", async () => {
  await using s = await applied();
  await natsCli(s.url, "consumer", "rm", "WRITES", "orders-writer", "-f");
  const p = await plan(s.nc, project());
  assert.equal(
    changed(p).map((c) => c.what),
    ["create WRITES/orders-writer"],
  );
  await apply(s.nc, p);
  assert.is(
    (await info(s.url, "consumer", "info", "WRITES", "orders-writer")).filter_subject,
    "writes.orders",
  );
});

drift("a stream deleted by hand is recreated with its consumers", async () => {
  await using s = await applied();
  await natsCli(s.url, "stream", "rm", "CDC", "-f");
  const p = await plan(s.nc, project());
  assert.equal(
    changed(p).map((c) => c.what),
    ["create CDC", "create CDC/cache-invalidator"],
  );
  await apply(s.nc, p);
  assert.not.ok(hasChanges(await plan(s.nc, project())));
});

drift("deny_delete turned on by hand cannot be undone in place: the repair is a replace", async () => {
  await using s = await applied();
  await natsCli(s.url, "stream", "edit", "WRITES_DLQ", "--deny-delete", "-f");
  const p = await plan(s.nc, project());
  const dlq = p.changes.find((c) => c.name === "WRITES_DLQ")!;
  assert.is(dlq.action, "replace");
  assert.equal(
    dlq.fields.map((f) => [f.field, f.old, f.new, f.reason]),
    [["deny_delete", true, false, "deny_delete cannot be turned off once on"]],
  );
  assert.match(renderPlan(p), /deny_delete: true → false {2}\(deny_delete cannot be turned off once on\)/);
});

drift.run();
