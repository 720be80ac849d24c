// The stack's shape from its environment: one of everything, or with JPW_REPLICAS=3 a NATS cluster
// of three nodes routed to each other, two producers and two consumers, and NATS_URL naming them all.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { natsConfig } from "../../services/infra/server-config.ts";
import { natsServers } from "../../services/shared/nats.ts";
import { localUrls, stackReplicaPorts } from "./stack-config.ts";

const withEnv = <T>(env: Record<string, string | undefined>, f: () => T): T => {
  const before = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const set = (vars: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(vars)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  set(env);
  try {
    return f();
  } finally {
    set(before);
  }
};

test("without JPW_REPLICAS the stack has one node, one producer and one consumer, named as always", () => {
  withEnv({ JPW_REPLICAS: undefined, JPW_NATS_PORT: "41222" }, () => {
    const r = stackReplicaPorts();
    assert.equal(r.nats, [{ name: "nats", port: 41222, monitorPort: 18222 }]);
    assert.equal(
      r.producers.map((p) => p.name),
      ["producer"],
    );
    assert.equal(
      r.consumers.map((p) => p.name),
      ["consumer"],
    );
    assert.is(localUrls().natsUrl, "nats://127.0.0.1:41222");
  });
});

test("JPW_REPLICAS=3 runs three routed nodes, two producers and two consumers; NATS_URL lists the nodes", () => {
  withEnv(
    {
      JPW_REPLICAS: "3",
      JPW_NATS_PORT: "41222",
      JPW_NATS_CLUSTER_PORT: "41248",
      JPW_PRODUCER_PORT_2: "41111",
    },
    () => {
      const r = stackReplicaPorts();
      assert.equal(
        r.nats.map((n) => [n.name, n.port, n.clusterPort]),
        [
          ["nats-1", 41222, 41248],
          ["nats-2", 41223, 41249],
          ["nats-3", 41224, 41250],
        ],
      );
      assert.equal(
        r.producers.map((p) => [p.name, p.port]),
        [
          ["producer-1", 13001],
          ["producer-2", 41111],
        ],
      );
      assert.equal(
        r.consumers.map((p) => p.name),
        ["consumer-1", "consumer-2"],
      );
      assert.equal(natsServers(localUrls().natsUrl), [
        "nats://127.0.0.1:41222",
        "nats://127.0.0.1:41223",
        "nats://127.0.0.1:41224",
      ]);
    },
  );
});

test("JPW_REPLICAS other than 1 or 3 is refused with the variable named", () => {
  withEnv({ JPW_REPLICAS: "2" }, () => {
    assert.throws(() => stackReplicaPorts(), /JPW_REPLICAS=2/);
  });
});

test("a cluster node's config routes to the other nodes on loopback only", () => {
  const conf = natsConfig({
    port: 1,
    httpPort: 2,
    storeDir: "/tmp/x",
    serverName: "n1",
    authorization: "",
    cluster: { name: "c", port: 41248, routes: [41249, 41250] },
  });
  assert.match(conf, 'listen: "127.0.0.1:41248"');
  assert.match(conf, 'routes: ["nats-route://127.0.0.1:41249", "nats-route://127.0.0.1:41250"]');
});

test.run();
