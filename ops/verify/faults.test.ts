import { test } from "uvu";
import * as assert from "uvu/assert";
import { faultTargets, makeSchedule, memoryWitnesses, selectFaults, witnessMs } from "./faults.ts";
import { warmUpMs } from "./memory.ts";
import { Rng } from "./rng.ts";

const procs = ["nats", "postgres", "redis", "debezium", "consumer", "producer", "reader", "edge"];
const links = ["producer-nats", "consumer-nats", "reader-nats", "consumer-pg"];
const targets = faultTargets(procs, links);

test("a seed makes the same fault schedule every time, and another seed another one", () => {
  const make = (seed: number) =>
    makeSchedule(new Rng(seed, 1), selectFaults("all", targets), { startMs: 10_000, endMs: 600_000 });
  assert.equal(make(42), make(42));
  assert.not.equal(make(42), make(43));
  const faults = make(42);
  assert.ok(faults.length > 20);
  assert.ok(
    faults.every((f, i) => i === 0 || f.at > faults[i - 1]!.at + faults[i - 1]!.ms),
    "one fault at a time",
  );
  assert.ok(faults.every((f) => f.at >= 10_000 && f.at + f.ms < 600_000));
});

test("--faults takes kinds and kind:target pairs, and names what it does not know", () => {
  assert.equal(selectFaults("none", targets), []);
  assert.equal(selectFaults("down:redis,cut:consumer-pg", targets), [
    ["down", "redis"],
    ["cut", "consumer-pg"],
  ]);
  assert.equal(selectFaults("kill", targets).length, procs.length);
  assert.throws(() => selectFaults("melt", targets), /unknown kind "melt"/);
  assert.throws(() => selectFaults("down:producer", targets), /down has no target "producer"/);
});

test("a run of two hours kills, restarts or stops no service in its last hour and warm-up, so each can show its memory", () => {
  const faults = makeSchedule(new Rng(7, 1), selectFaults("all", targets), {
    startMs: 10_000,
    endMs: 7_200_000,
  });
  const late = faults.filter((f) => f.at >= 7_200_000 - witnessMs);
  assert.ok(witnessMs >= 3_600_000 + warmUpMs);
  assert.ok(late.length > 50, "faults go on in the last hour");
  assert.ok(
    !late.some((f) => ["kill", "restart", "down"].includes(f.kind) && memoryWitnesses.test(f.target)),
  );
  assert.ok(faults.some((f) => f.kind === "kill" && memoryWitnesses.test(f.target) && f.at < 3_000_000));
});

test("the same seed and stream draw the same numbers; another stream draws others", () => {
  const a = new Rng(5, 100);
  const b = new Rng(5, 100);
  const c = new Rng(5, 101);
  const draw = (r: Rng) => Array.from({ length: 8 }, () => r.u32());
  assert.equal(draw(a), draw(b));
  assert.not.equal(draw(new Rng(5, 100)), draw(c));
  assert.match(new Rng(1).uuid(), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

test.run();
