import { suite } from "uvu";
import * as assert from "uvu/assert";
import { serverProblems } from "./plan.ts";
import type { ServerFacts } from "./server.ts";
import { parseSpec } from "./spec.ts";

const facts = (over: Partial<ServerFacts>): ServerFacts => ({
  url: "nats://nats.example:4222",
  version: "2.14.9",
  apiLevel: 4,
  cluster: undefined,
  maxPayload: 1024 * 1024,
  sync: undefined,
  ...over,
});

const target = suite("what the target server can take");

target("a field newer than the connected server fails the plan with the file line and both versions", () => {
  const desired = parseSpec("streams:\n  S:\n    subjects: [s]\n    allow_batched: true\n", "s.yaml", {
    env: {},
    serverVersion: "2.14.9",
  });
  assert.equal(serverProblems(desired, facts({})), []);
  assert.equal(serverProblems(desired, facts({ version: "2.12.3", apiLevel: 2 })), [
    "s.yaml:4: stream S field allow_batched needs nats-server 2.14.0+ (JetStream API level 4); nats://nats.example:4222 runs 2.12.3 (level 2)",
  ]);
});

target("replicas above one need a cluster; a clustered server takes them", () => {
  const desired = parseSpec("kv:\n  b:\n    replicas: 3\n", "s.yaml", { env: {} });
  assert.match(
    serverProblems(desired, facts({}))[0]!,
    /^s\.yaml:3: kv bucket b field replicas is 3 but .* is a single server/,
  );
  assert.equal(serverProblems(desired, facts({ cluster: "east" })), []);
});

target.run();
