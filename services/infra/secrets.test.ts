import { mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  loadSecrets,
  natsUsers,
  readSecrets,
  SecretsError,
  secretFile,
  secretsEnv,
  secretsFromEnv,
} from "./secrets.ts";

const scratch = () => join(mkdtempSync(join(tmpdir(), "jpw-secrets-test-")), "data", "secrets");

test("secrets are generated once: 32 random bytes, URL-safe, each in an owner-only file in an owner-only folder", () => {
  const dir = scratch();
  const first = loadSecrets(dir);
  assert.equal(loadSecrets(dir), first, "a second load reads the same secrets");
  assert.is(statSync(dir).mode & 0o777, 0o700);
  assert.is.not(statSync(join(dir, "..")).mode & 0o777, 0o700, "the data folder keeps its usual mode");
  for (const user of natsUsers) {
    const file = secretFile(dir, "nats", user);
    assert.is(statSync(file).mode & 0o777, 0o600);
    assert.match(first.nats[user], /^[A-Za-z0-9_-]{43}$/);
  }
  const all = [...Object.values(first.nats), ...Object.values(first.postgres), ...Object.values(first.redis)];
  assert.is(new Set(all).size, all.length, "every secret is different");
  rmSync(join(dir, "..", ".."), { recursive: true, force: true });
});

test("a deleted secret is generated again; a loosened file is tightened; garbage is refused", () => {
  const dir = scratch();
  const first = loadSecrets(dir);
  unlinkSync(secretFile(dir, "redis", "reader"));
  const second = loadSecrets(dir);
  assert.is.not(second.redis.reader, first.redis.reader);
  assert.is(second.nats.admin, first.nats.admin);
  const file = secretFile(dir, "nats", "admin");
  writeFileSync(file, readFileSync(file, "utf8"), { mode: 0o644 });
  loadSecrets(dir);
  assert.is(statSync(file).mode & 0o777, 0o600);
  writeFileSync(file, "short\n");
  assert.throws(
    () => loadSecrets(dir),
    (e: Error) => e instanceof SecretsError && /delete it/.test(e.message),
  );
  rmSync(join(dir, "..", ".."), { recursive: true, force: true });
});

test("readSecrets never creates anything; the env form round-trips", () => {
  const dir = scratch();
  assert.is(readSecrets(dir), undefined);
  const s = loadSecrets(dir);
  assert.equal(readSecrets(dir), s);
  assert.equal(secretsFromEnv(secretsEnv(s), dir), s);
  assert.throws(() => secretsFromEnv({}), /JPW_NATS_ADMIN_PASSWORD is not set/);
  rmSync(join(dir, "..", ".."), { recursive: true, force: true });
});

test.run();
