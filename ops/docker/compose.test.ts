// docker-compose.yml must describe the system `just up` runs; no Docker engine is needed to check
// that it does: same processes, same pinned versions, same edge routing, only the edge published,
// the servers configured (and authenticating) like the native stack, and secrets only from an env
// file that is never committed nor copied into an image.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parse } from "yaml";
import { caddyfile } from "../../services/infra/caddyfile.ts";
import { root } from "../../services/infra/paths.ts";
import { loadSecrets, secretsEnv, secretVariable } from "../../services/infra/secrets.ts";
import { tools } from "../../services/infra/tools.ts";
import { versions } from "../../services/infra/versions.ts";
import { writeComposeEnv } from "./env.ts";

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string; target: string };
  command?: string[];
  ports?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  restart?: string;
}

const composeText = readFileSync(join(root, "docker-compose.yml"), "utf8");
const compose = parse(composeText, { merge: true }) as { services: Record<string, Service> };
const services = compose.services;

test("every process of the native stack is a compose service", () => {
  for (const name of ["nats", "postgres", "redis", "debezium", "consumer", "producer", "reader", "edge"]) {
    assert.ok(services[name], `docker-compose.yml has no service ${name}`);
  }
});

test("the servers are the pinned versions", () => {
  assert.is(services.nats!.image, `nats:${versions.natsServer.slice(1)}-alpine`);
  // Debezium Server is built from the pinned image, with our sink in place of its own.
  assert.is(services.debezium!.build?.target, "debezium");
  const dockerfile = readFileSync(join(root, "ops", "docker", "Dockerfile"), "utf8");
  const bases = [...dockerfile.matchAll(/^FROM quay\.io\/debezium\/server:(\S+)/gm)].map((m) => m[1]);
  assert.equal(bases, [versions.debezium, versions.debezium]);
});

test("the services run the same entry points, after migrations and streams.yaml", () => {
  for (const name of ["consumer", "producer", "reader"]) {
    assert.equal(services[name]!.command, ["node", "--import", "tsx", `services/${name}/main.ts`]);
    assert.is(services[name]!.depends_on?.setup?.condition, "service_completed_successfully");
    assert.is(services[name]!.restart, "unless-stopped");
  }
  assert.equal(services.setup!.command, ["node", "--import", "tsx", "ops/docker/setup.ts"]);
});

test("only the edge publishes a port, and only on loopback", () => {
  const published = Object.entries(services).filter(([, s]) => (s.ports ?? []).length > 0);
  assert.equal(
    published.map(([name]) => name),
    ["edge"],
  );
  for (const p of services.edge!.ports!) assert.match(p, /^127\.0\.0\.1:/, `the edge publishes ${p}`);
});

test("every secret comes from the env file, and each service gets only its own", () => {
  const scratch = mkdtempSync(join(tmpdir(), "jpw-compose-"));
  const every = Object.keys(secretsEnv(loadSecrets(join(scratch, "secrets"))));
  rmSync(scratch, { recursive: true, force: true });
  const used = [...composeText.matchAll(/\$\{(\w+)(?::\?[^}]*)?\}/g)].map((m) => m[1]!);
  assert.ok(used.length > 0);
  for (const v of used) assert.ok(every.includes(v), `\${${v}} is not a secret of secrets.ts`);
  const refs = (name: string) =>
    [...JSON.stringify(services[name]!.environment ?? {}).matchAll(/\$\{(\w+)/g)].map((m) => m[1]).sort();
  assert.equal(
    refs("producer"),
    [secretVariable("postgres", "jpw_producer"), secretVariable("nats", "producer")].sort(),
  );
  assert.equal(
    refs("consumer"),
    [secretVariable("postgres", "jpw_writer"), secretVariable("nats", "consumer")].sort(),
  );
  assert.equal(
    refs("reader"),
    [
      secretVariable("postgres", "jpw_reader"),
      secretVariable("nats", "reader"),
      secretVariable("redis", "reader"),
    ].sort(),
  );
  // Nothing else holds a password: every *PASSWORD* value is a variable of the env file.
  for (const [name, s] of Object.entries(services)) {
    for (const [k, v] of Object.entries(s.environment ?? {})) {
      if (/PASSWORD/.test(k)) assert.match(String(v), /^\$\{\w+:\?/, `${name}.${k} is not from the env file`);
    }
    assert.not.ok(/trust/.test(JSON.stringify(s)), `${name} trusts password-less logins`);
  }
});

test("the env file is written owner-only, and neither git nor an image build takes it", () => {
  const dir = mkdtempSync(join(tmpdir(), "jpw-compose-env-"));
  try {
    const file = writeComposeEnv(join(dir, ".env"), join(dir, "secrets"));
    assert.is(statSync(file).mode & 0o777, 0o600);
    const text = readFileSync(file, "utf8");
    for (const v of Object.keys(secretsEnv(loadSecrets(join(dir, "secrets"))))) {
      assert.match(text, new RegExp(`^${v}=[\\w-]{43}$`, "m"));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const ignored = (file: string) =>
    readFileSync(join(root, file), "utf8")
      .split("\n")
      .map((l) => l.trim());
  assert.ok(ignored(".gitignore").includes(".env"));
  for (const path of [".data/", ".tools/", "node_modules/", "artifacts/", "web/dist/", ".env"]) {
    assert.ok(ignored(".dockerignore").includes(path), `.dockerignore does not keep ${path} out of images`);
  }
});

test("the servers get the native stack's configuration, authentication included, with no secret in it", () => {
  const dir = mkdtempSync(join(tmpdir(), "jpw-compose-config-"));
  try {
    const secrets = loadSecrets(join(dir, "secrets"));
    execFileSync(process.execPath, ["--import", "tsx", join(root, "ops", "docker", "config.ts")], {
      env: { ...process.env, ...secretsEnv(secrets), CONFIG_DIR: join(dir, "config") },
      stdio: "pipe",
    });
    const file = (name: string) => readFileSync(join(dir, "config", name), "utf8");
    const all = ["nats.conf", "redis.conf", "pg_hba.conf", "pg_ident.conf"].map(file).join("\n");
    for (const kind of ["nats", "postgres", "redis"] as const) {
      for (const secret of Object.values(secrets[kind]))
        assert.not.ok(all.includes(secret), `a ${kind} password`);
    }
    assert.match(file("nats.conf"), /sync_interval: always/);
    assert.match(file("nats.conf"), /authorization \{\n {2}users: \[/);
    assert.match(file("redis.conf"), /^user default off$/m);
    assert.match(file("redis.conf"), /^maxmemory-policy allkeys-lru$/m);
    assert.not.match(file("pg_hba.conf"), /trust/);
    execFileSync(tools.natsServer(), ["-t", "-c", join(dir, "config", "nats.conf")], { stdio: "pipe" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.ok(services.postgres!.command!.includes("wal_level=logical"));
  assert.ok(services.postgres!.command!.includes("hba_file=/config/pg_hba.conf"));
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
