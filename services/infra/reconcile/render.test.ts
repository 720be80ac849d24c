import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Plan } from "./plan.ts";
import { destruction, formatValue, planJson, renderPlan } from "./render.ts";

// Colours appear only on a TTY; compare the text.
// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes are what is removed
const plain = (s: string) => s.replace(/\x1b\[\d+m/g, "");

const values = suite("values in a plan");

values("durations, sizes and unlimited counts read as they are written in streams.yaml", () => {
  assert.is(formatValue("max_age", 7 * 86_400e9), "7d");
  assert.is(formatValue("max_age", 0), "unlimited");
  assert.is(formatValue("backoff", [30e9, 60e9]), "[30s, 1m]");
  assert.is(formatValue("max_bytes", 1024 ** 3), "1GiB");
  assert.is(formatValue("max_bytes", -1), "unlimited");
  assert.is(formatValue("max_deliver", -1), "unlimited");
  assert.is(formatValue("max_deliver", 20), "20");
  assert.is(formatValue("subjects", ["writes.>"]), "[writes.>]");
  assert.is(formatValue("description", "two words"), '"two words"');
  assert.is(formatValue("metadata", undefined), "(none)");
});

values.run();

const server = {
  url: "nats://127.0.0.1:4222",
  version: "2.14.9",
  apiLevel: 4,
  cluster: undefined,
  maxPayload: 1024 * 1024,
  sync: { always: true, intervalNs: 120e9 },
};

const planOf = (over: Partial<Plan>): Plan => ({
  file: "streams.yaml",
  server,
  prune: false,
  unmanaged: [],
  warnings: [],
  changes: [],
  ...over,
});

const text = suite("rendered plans");

text("a plan lists each change with its fields, then what is unchanged, then a summary", () => {
  const p = planOf({
    unmanaged: ["stream SCRATCH"],
    warnings: ["something to know"],
    changes: [
      {
        action: "update",
        kind: "stream",
        name: "WRITES",
        fields: [{ field: "max_age", old: 3600e9, new: 7 * 86_400e9, inPlace: true }],
      },
      {
        action: "replace",
        kind: "consumer",
        name: "users-writer",
        stream: "WRITES",
        loses: "its delivery state",
        fields: [
          {
            field: "ack_policy",
            old: "all",
            new: "explicit",
            inPlace: false,
            reason: "ack_policy cannot change in place",
          },
        ],
      },
      {
        action: "update",
        kind: "kv",
        name: "KV_operations",
        bucket: "operations",
        fields: [{ field: "max_msgs_per_subject", old: 1, new: 5, inPlace: true }],
      },
      { action: "unchanged", kind: "stream", name: "CDC", fields: [] },
      { action: "orphan", kind: "stream", name: "OLD", fields: [] },
    ],
  });
  assert.is(
    plain(renderPlan(p)),
    `Plan: streams.yaml → nats://127.0.0.1:4222 (nats-server 2.14.9, JetStream API level 4)

  ~ update stream WRITES
      max_age: 1h → 7d
-/+ replace consumer WRITES/users-writer (destroys data: its delivery state)
      ack_policy: all → explicit  (ack_policy cannot change in place)
  ~ update kv bucket operations (stream KV_operations)
      max_msgs_per_subject (history): 1 → 5

unchanged: stream CDC
no longer declared, kept (managed by streams.yaml; --prune deletes them): stream OLD
not managed by streams.yaml, left alone: stream SCRATCH

warnings:
  ! something to know

0 to create, 2 to update, 1 to replace, 0 to delete, 1 unchanged.
1 replacement destroys data: apply refuses it without --allow-destructive.`,
  );
  const json = planJson(p);
  assert.is(json.pending, true);
  assert.equal(json.summary, { create: 0, update: 2, replace: 1, delete: 0, unchanged: 1, orphaned: 1 });
});

text("an update lowering a limit below what is held says what goes and counts as destructive", () => {
  const p = planOf({
    changes: [
      {
        action: "update",
        kind: "kv",
        name: "KV_operations",
        bucket: "operations",
        fields: [
          { field: "max_age", old: 86_400e9, new: 3600e9, inPlace: true },
          { field: "description", old: "a", new: "b", inPlace: true },
        ],
        shrinks: [
          {
            field: "max_age",
            effect: "deletes",
            messages: 12,
            count: "exact",
            text: "deletes 12 messages older than 1h",
          },
        ],
      },
    ],
  });
  assert.is(
    plain(renderPlan(p)),
    `Plan: streams.yaml → nats://127.0.0.1:4222 (nats-server 2.14.9, JetStream API level 4)

  ~ update kv bucket operations (stream KV_operations) (destructive: lowers a limit below what it holds)
      max_age (ttl): 1d → 1h  (deletes 12 messages older than 1h)
      description: a → b

0 to create, 1 to update, 0 to replace, 0 to delete, 0 unchanged.
1 lowered limit destroys data: apply refuses it without --allow-destructive.`,
  );
  assert.is(
    destruction(p.changes[0]!),
    "kv bucket operations lowers max_age (ttl) from 1d to 1h (deletes 12 messages older than 1h), below what it holds",
  );
  const change = (planJson(p).changes as Record<string, unknown>[])[0]!;
  assert.is(change.destructive, true);
  assert.equal((change.shrinks as { messages: number }[])[0]!.messages, 12);
});

text("a plan without changes says the server matches the file", () => {
  const p = planOf({ changes: [{ action: "unchanged", kind: "stream", name: "CDC", fields: [] }] });
  assert.match(
    plain(renderPlan(p)),
    /unchanged: stream CDC\n\nNo changes: the server matches streams\.yaml \(1 object\)\.$/,
  );
  assert.is(planJson(p).pending, false);
});

text.run();
