// Lowering a limit on a stream or bucket that holds data, against a real nats-server: the plan says
// what goes, apply refuses it without allowDestructive and makes it with it. On an empty object, or
// raising a limit, it is a plain update.
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { startNats } from "../../testing/nats.ts";
import { until } from "../until.ts";
import { apply, hasChanges, type Plan, parseSpec, plan } from "./mod.ts";
import { type Change, isDestructive } from "./plan.ts";
import { renderPlan } from "./render.ts";
import type { Shrink } from "./shrink.ts";
import { refusal, watchMutations } from "./testing.ts";

const nats = await startNats({ own: true });
const nc = await connect({ servers: nats.url, ...nats.auth() });
const js = jetstream(nc);
const jsm = await jetstreamManager(nc);

const spec = (yaml: string) => parseSpec(yaml, "test.yaml", { env: {} });
/** A stream with `limits` (YAML lines, indented for the stream). */
const streamYaml = (name: string, limits: string) =>
  `streams:\n  ${name}:\n    subjects: [${name.toLowerCase()}.>]\n${limits
    .trim()
    .split("\n")
    .map((l) => `    ${l}`)
    .join("\n")}\n`;
const only = (p: Plan, name: string): Change => {
  const c = p.changes.find((x) => x.name === name && x.kind !== "consumer");
  assert.ok(c, `${name} is in the plan`);
  return c!;
};
const shrinkOf = (c: Change, field: string): Shrink => {
  const s = c.shrinks?.find((x) => x.field === field);
  assert.ok(s, `${field} shrinks in ${JSON.stringify(c.shrinks)}`);
  return s!;
};
const publish = async (subject: string, n: number, size = 100) => {
  for (let i = 0; i < n; i++) await js.publish(subject, new Uint8Array(size));
};
const state = async (name: string) => (await jsm.streams.info(name)).state;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Applies `yaml` as it stands (creating what it declares), then plans `next`. */
async function planFrom(yaml: string, fill: () => Promise<unknown>, next: string): Promise<Plan> {
  await apply(nc, await plan(nc, spec(yaml)), { allowDestructive: true });
  await fill();
  return plan(nc, spec(next));
}

/** apply without allowDestructive refuses `p` and sends no request; returns the refusal. */
async function refuses(p: Plan): Promise<string> {
  const watch = await watchMutations(nats.url);
  const err = await refusal(() => apply(nc, p));
  assert.equal(await watch.seen(), [], "no request at all");
  await watch.close();
  return err.message;
}

const sizes = suite("max_bytes and max_msgs");

sizes("max_bytes lowered under what a discard-old stream holds deletes the oldest bytes", async () => {
  const before = streamYaml("BYTESOLD", "max_bytes: 1MiB\ndiscard: old");
  const after = streamYaml("BYTESOLD", "max_bytes: 20KiB\ndiscard: old");
  const p = await planFrom(before, () => publish("bytesold.x", 100, 1000), after);
  const held = await state("BYTESOLD");
  const c = only(p, "BYTESOLD");
  assert.is(c.action, "update");
  assert.ok(isDestructive(c));
  const s = shrinkOf(c, "max_bytes");
  assert.is(s.effect, "deletes");
  assert.is(s.bytes, held.bytes - 20 * 1024);
  assert.is(s.messages, Math.ceil((held.bytes - 20 * 1024) / (held.bytes / 100)));
  assert.match(
    renderPlan(p),
    /~ update stream BYTESOLD \(destructive: lowers a limit below what it holds\)\n {6}max_bytes: 1MiB → 20KiB {2}\(deletes its oldest [\d.]+KiB \(about \d+ messages\)\)/,
  );
  assert.match(
    renderPlan(p),
    /1 lowered limit destroys data: apply refuses it without --allow-destructive\./,
  );

  assert.match(
    await refuses(p),
    /^refusing to apply: stream BYTESOLD lowers max_bytes from 1MiB to 20KiB \(deletes its oldest .*\), below what it holds\. Nothing was changed\. Re-run with --allow-destructive to make it$/,
  );
  assert.is((await state("BYTESOLD")).messages, 100);

  await apply(nc, p, { allowDestructive: true });
  const left = await state("BYTESOLD");
  assert.ok(left.bytes <= 20 * 1024, `${left.bytes} bytes left`);
  assert.is(left.last_seq, 100, "the newest are kept");
  assert.not.ok(hasChanges(await plan(nc, spec(after))));
});

sizes(
  "max_bytes lowered under what a discard-new stream holds keeps it but refuses every new message",
  async () => {
    const before = streamYaml("BYTESNEW", "max_bytes: 1MiB\ndiscard: new");
    const after = streamYaml("BYTESNEW", "max_bytes: 20KiB\ndiscard: new");
    const p = await planFrom(before, () => publish("bytesnew.x", 100, 1000), after);
    const s = shrinkOf(only(p, "BYTESNEW"), "max_bytes");
    assert.is(s.effect, "refuses");
    assert.match(
      s.text,
      /^holds [\d.]+KiB, [\d.]+KiB over: the server keeps it but refuses every new message \(discard: new\) until [\d.]+KiB are gone$/,
    );
    await refuses(p);

    await apply(nc, p, { allowDestructive: true });
    assert.is((await state("BYTESNEW")).messages, 100, "nothing deleted");
    try {
      await js.publish("bytesnew.x", "one more");
      assert.unreachable("a full discard-new stream refuses");
    } catch (err) {
      assert.match((err as Error).message, /maximum bytes exceeded/);
    }
  },
);

sizes("max_msgs lowered under what a stream holds deletes exactly the oldest over it", async () => {
  const before = streamYaml("COUNT", "max_msgs: 100\ndiscard: old");
  const after = streamYaml("COUNT", "max_msgs: 4\ndiscard: old");
  const p = await planFrom(before, () => publish("count.x", 10), after);
  const s = shrinkOf(only(p, "COUNT"), "max_msgs");
  assert.equal(
    [s.effect, s.messages, s.count, s.text],
    ["deletes", 6, "exact", "deletes its oldest 6 messages"],
  );
  assert.match(renderPlan(p), /max_msgs: 100 → 4 {2}\(deletes its oldest 6 messages\)/);
  await refuses(p);
  assert.is((await state("COUNT")).messages, 10);

  await apply(nc, p, { allowDestructive: true });
  const left = await state("COUNT");
  assert.equal([left.messages, left.first_seq], [4, 7]);
});

sizes("discard turned from new to old on a stream over its limit deletes what is over", async () => {
  // A discard-new stream can hold more than its limit after one was lowered by hand.
  const p = await planFrom(
    streamYaml("FLIP", "max_msgs: 10\ndiscard: new"),
    async () => {
      await publish("flip.x", 10);
      await jsm.streams.update("FLIP", { max_msgs: 3 });
    },
    streamYaml("FLIP", "max_msgs: 3\ndiscard: old"),
  );
  const s = shrinkOf(only(p, "FLIP"), "max_msgs");
  assert.equal([s.effect, s.messages], ["deletes", 7]);
});

sizes("the same limits lowered on an empty stream, or raised on a full one, are plain updates", async () => {
  const low = streamYaml(
    "PLAIN",
    "max_bytes: 10KiB\nmax_msgs: 5\nmax_age: 1h\nmax_msgs_per_subject: 1\ndiscard: old\nmetadata:\n  jpw.history.max_age: 1h\n  jpw.history.max_bytes: 1KiB",
  );
  const high = streamYaml(
    "PLAIN",
    "max_bytes: 1MiB\nmax_msgs: 1000\nmax_age: 7d\nmax_msgs_per_subject: 10\ndiscard: old\nmetadata:\n  jpw.history.max_age: 7d\n  jpw.history.max_bytes: 1GiB",
  );
  const lowered = await planFrom(high, async () => {}, low);
  assert.is(only(lowered, "PLAIN").action, "update");
  assert.is(only(lowered, "PLAIN").shrinks, undefined, "an empty stream loses nothing");
  await apply(nc, lowered);

  for (const subject of ["a", "b", "c", "d", "e"]) await publish(`plain.${subject}`, 1);
  const raised = await plan(nc, spec(high));
  assert.is(only(raised, "PLAIN").action, "update");
  assert.is(only(raised, "PLAIN").shrinks, undefined);
  assert.not.match(renderPlan(raised), /destroy/);
  await apply(nc, raised);
  assert.is((await state("PLAIN")).messages, 5);
});

sizes.run();

const bySubject = suite("max_msgs_per_subject and a bucket's history");

bySubject(
  "max_msgs_per_subject lowered deletes exactly the older messages beyond it per subject",
  async () => {
    const p = await planFrom(
      streamYaml("PERSUBJ", "max_msgs_per_subject: 10"),
      async () => {
        await publish("persubj.a", 3);
        await publish("persubj.b", 1);
        await publish("persubj.c", 5);
      },
      streamYaml("PERSUBJ", "max_msgs_per_subject: 2"),
    );
    const s = shrinkOf(only(p, "PERSUBJ"), "max_msgs_per_subject");
    assert.equal([s.messages, s.count], [1 + 0 + 3, "exact"]);
    assert.match(
      renderPlan(p),
      /max_msgs_per_subject: 10 → 2 {2}\(deletes 4 older messages beyond 2 per subject\)/,
    );
    const one = await plan(nc, spec(streamYaml("PERSUBJ", "max_msgs_per_subject: 1")));
    assert.is(shrinkOf(only(one, "PERSUBJ"), "max_msgs_per_subject").messages, 9 - 3);
    await refuses(p);

    await apply(nc, p, { allowDestructive: true });
    assert.is((await state("PERSUBJ")).messages, 2 + 1 + 2);
  },
);

bySubject("a bucket's history lowered deletes the older revisions of each key", async () => {
  const bucket = (history: number) => `kv:\n  revs:\n    history: ${history}\n`;
  const p = await planFrom(
    bucket(5),
    async () => {
      const kv = await new Kvm(nc).open("revs");
      for (const v of ["1", "2", "3", "4"]) await kv.put("often", v);
      await kv.put("once", "1");
    },
    bucket(2),
  );
  const c = only(p, "KV_revs");
  const s = shrinkOf(c, "max_msgs_per_subject");
  assert.equal([s.messages, s.count], [2, "exact"]);
  assert.match(
    renderPlan(p),
    /~ update kv bucket revs \(stream KV_revs\) \(destructive: lowers a limit below what it holds\)\n {6}max_msgs_per_subject \(history\): 5 → 2 {2}\(deletes 2 older messages beyond 2 per subject\)/,
  );
  assert.match(await refuses(p), /kv bucket revs lowers max_msgs_per_subject \(history\) from 5 to 2/);

  await apply(nc, p, { allowDestructive: true });
  const kv = await new Kvm(nc).open("revs");
  const revisions: string[] = [];
  for await (const e of await kv.history({ key: "often" })) revisions.push(e.string());
  assert.equal(revisions, ["3", "4"]);
});

bySubject.run();

const byAge = suite("max_age, a bucket's ttl and jpw.history.max_age");

/** Three messages older than 2 s, then two fresh ones: lowering an age to 2s would lose three. */
async function agedThenFresh(send: (i: number) => Promise<unknown>): Promise<void> {
  for (const i of [1, 2, 3]) await send(i);
  await sleep(2_500);
  for (const i of [4, 5]) await send(i);
}

byAge("max_age lowered deletes exactly the messages older than the new age", async () => {
  const p = await planFrom(
    streamYaml("AGED", "max_age: 1h"),
    () => agedThenFresh(() => js.publish("aged.x", "m")),
    streamYaml("AGED", "max_age: 2s"),
  );
  const s = shrinkOf(only(p, "AGED"), "max_age");
  assert.equal([s.effect, s.messages, s.count], ["deletes", 3, "exact"]);
  assert.match(renderPlan(p), /max_age: 1h → 2s {2}\(deletes 3 messages older than 2s\)/);
  assert.match(
    await refuses(p),
    /stream AGED lowers max_age from 1h to 2s \(deletes 3 messages older than 2s\)/,
  );
  assert.is((await state("AGED")).messages, 5);

  await apply(nc, p, { allowDestructive: true });
  await until(async () => (await state("AGED")).first_seq > 3, 10_000, "the three old messages to expire");
});

byAge("a bucket's ttl lowered deletes the values older than the new ttl", async () => {
  const bucket = (ttl: string) => `kv:\n  aging:\n    ttl: ${ttl}\n`;
  let kv: Awaited<ReturnType<Kvm["open"]>> | undefined;
  const p = await planFrom(
    bucket("1h"),
    async () => {
      kv = await new Kvm(nc).open("aging");
      await agedThenFresh((i) => kv!.put(`k${i}`, "v"));
    },
    bucket("2s"),
  );
  const s = shrinkOf(only(p, "KV_aging"), "max_age");
  assert.equal([s.messages, s.count], [3, "exact"]);
  assert.match(renderPlan(p), /max_age \(ttl\): 1h → 2s {2}\(deletes 3 messages older than 2s\)/);
  await refuses(p);
  assert.is((await kv!.get("k1"))?.string(), "v");

  await apply(nc, p, { allowDestructive: true });
  await until(async () => (await kv!.get("k1")) === null, 10_000, "k1 to expire");
});

byAge(
  "jpw.history.max_age lowered is destructive: the history keeper would remove older history",
  async () => {
    const withHistory = (age: string) =>
      streamYaml("HISTORY", `metadata:\n  jpw.history.max_age: ${age}\n  jpw.history.max_bytes: 1GiB`);
    const p = await planFrom(
      withHistory("1h"),
      () => agedThenFresh(() => js.publish("history.x", "m")),
      withHistory("2s"),
    );
    const s = shrinkOf(only(p, "HISTORY"), "metadata.jpw.history.max_age");
    assert.equal([s.effect, s.messages, s.count], ["keeper", 3, "at most"]);
    assert.match(
      renderPlan(p),
      /metadata\.jpw\.history\.max_age: 1h → 2s {2}\(the history keeper removes up to 3 messages older than 2s, those its consumers acknowledged\)/,
    );
    await refuses(p);

    await apply(nc, p, { allowDestructive: true });
    const info = await jsm.streams.info("HISTORY");
    assert.is(info.config.metadata?.["jpw.history.max_age"], "2s");
    assert.is(info.state.messages, 5, "the reconciler itself removes nothing: the keeper does");
    assert.is(only(await plan(nc, spec(withHistory("1h"))), "HISTORY").shrinks, undefined, "raised again");
  },
);

byAge.run();

const byteHistory = suite("jpw.history.max_bytes");

byteHistory("jpw.history.max_bytes declared below what the stream holds is destructive", async () => {
  const p = await planFrom(
    streamYaml("SIZED", "metadata:\n  owner: tests"),
    () => publish("sized.x", 20, 1000),
    streamYaml("SIZED", "metadata:\n  owner: tests\n  jpw.history.max_bytes: 10KiB"),
  );
  const held = await state("SIZED");
  const s = shrinkOf(only(p, "SIZED"), "metadata.jpw.history.max_bytes");
  assert.equal([s.effect, s.bytes, s.count], ["keeper", held.bytes - 10 * 1024, "at most"]);
  await refuses(p);
  await apply(nc, p, { allowDestructive: true });
  assert.is((await state("SIZED")).messages, 20);
});

byteHistory.run();

const partial = suite("a plan with destructive and safe changes");

partial("apply makes the safe changes, then refuses the destructive ones, naming them", async () => {
  const before = `${streamYaml("SAFE", "max_msgs: 10")}${streamYaml("RISKY", "max_msgs: 10").replace("streams:\n", "")}`;
  const after = `${streamYaml("SAFE", "max_msgs: 20")}${streamYaml("RISKY", "max_msgs: 2").replace("streams:\n", "")}`;
  const p = await planFrom(before, () => publish("risky.x", 5), after);
  const watch = await watchMutations(nats.url);
  const err = await refusal(() => apply(nc, p));
  assert.match(
    err.message,
    /^refusing to apply: stream RISKY lowers max_msgs from 10 to 2 \(deletes its oldest 3 messages\), below what it holds\. Every other change was made \(0 created, 1 updated, 0 deleted\)\. Re-run with --allow-destructive to make it$/,
  );
  assert.equal(err.applied, { created: 0, updated: 1, replaced: 0, deleted: 0 });
  assert.equal(await watch.seen(), ["$JS.API.STREAM.UPDATE.SAFE"]);
  await watch.close();
  assert.is((await jsm.streams.info("SAFE")).config.max_msgs, 20);
  assert.is((await jsm.streams.info("RISKY")).config.max_msgs, 10);
});

partial.after(async () => {
  await nc.close();
  await nats[Symbol.asyncDispose]();
});

partial.run();
