// docker-compose.yml must describe the system `just up` runs; no Docker engine is needed to check
// that it does: same processes, same pinned versions, same edge routing, nothing published beyond
// loopback, and the servers configured like the native stack.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parse } from "yaml";
import { caddyfile } from "../../services/infra/caddyfile.ts";
import { root } from "../../services/infra/paths.ts";
import { tools } from "../../services/infra/tools.ts";
import { versions } from "../../services/infra/versions.ts";

interface Service {
  image?: string;
  command?: string[];
  ports?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  restart?: string;
}

const compose = parse(readFileSync(join(root, "docker-compose.yml"), "utf8"), { merge: true }) as {
  services: Record<string, Service>;
};
const services = compose.services;

test("every process of the native stack is a compose service", () => {
  for (const name of ["nats", "postgres", "redis", "debezium", "consumer", "producer", "reader", "edge"]) {
    assert.ok(services[name], `docker-compose.yml has no service ${name}`);
  }
});

test("the servers are the pinned versions", () => {
  assert.is(services.nats!.image, `nats:${versions.natsServer.slice(1)}-alpine`);
  assert.is(services.debezium!.image, `quay.io/debezium/server:${versions.debezium}`);
});

test("the services run the same entry points, after migrations and streams.yaml", () => {
  for (const name of ["consumer", "producer", "reader"]) {
    assert.equal(services[name]!.command, ["node", "--import", "tsx", `services/${name}/main.ts`]);
    assert.is(services[name]!.depends_on?.setup?.condition, "service_completed_successfully");
    assert.is(services[name]!.restart, "unless-stopped");
  }
  assert.equal(services.setup!.command, ["node", "--import", "tsx", "ops/docker/setup.ts"]);
});

test("nothing is published beyond loopback", () => {
  for (const [name, s] of Object.entries(services)) {
    for (const p of s.ports ?? []) assert.match(p, /^127\.0\.0\.1:/, `${name} publishes ${p}`);
  }
});

test("nats-server fsyncs every write and Postgres runs logical WAL, as in the native stack", () => {
  assert.match(readFileSync(join(root, "ops", "docker", "nats.conf"), "utf8"), /sync_interval: always/);
  assert.ok(services.postgres!.command!.includes("wal_level=logical"));
});

test("the edge routes exactly like the native stack's and Caddy accepts its file", () => {
  const file = join(root, "ops", "docker", "Caddyfile");
  const expected = caddyfile({
    port: 8080,
    producer: "producer:13001",
    reader: "reader:13002",
    webRoot: "/srv/web",
    loopback: false,
  });
  assert.is(readFileSync(file, "utf8"), expected, "regenerate ops/docker/Caddyfile from caddyfile()");
  execFileSync(tools.caddy(), ["adapt", "--adapter", "caddyfile", "--config", file], { stdio: "pipe" });
});

test.run();
