// The CLI as people and scripts run it: a real process, its output and its exit code.
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { root } from "../../services/infra/paths.ts";
import { natsCli } from "../../services/infra/reconcile/testing.ts";
import { natsAuthFor, startNats } from "../../services/testing/nats.ts";
import { makeTempDir, removeTempDir } from "../../services/testing/process.ts";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI as the server's admin user: credentials in NATS_USER/NATS_PASSWORD, as a person gives them. */
function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  const server = args.includes("--server") ? args[args.indexOf("--server") + 1] : env.NATS_URL;
  let admin = {};
  try {
    const { user, pass } = natsAuthFor(server ?? "");
    admin = { NATS_USER: user, NATS_PASSWORD: pass };
  } catch {
    // A server no test started (nothing listens there): no credentials to give.
  }
  const base = { ...process.env, NATS_URL: undefined, NATS_MONITOR_URL: undefined };
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", join(root, "ops/reconcile/cli.ts"), ...args],
      { cwd: root, env: { ...base, ...admin, ...env } },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const files = makeTempDir("reconcile-cli");
const write = (name: string, text: string) => {
  const path = join(files, name);
  writeFileSync(path, text);
  return path;
};

const codes = suite("exit codes");

codes("plan exits 2 with changes pending, apply exits 0, and plan then exits 0", async () => {
  await using server = await startNats({ own: true });
  const env = { NATS_URL: server.url, NATS_MONITOR_URL: server.monitorUrl };
  const before = await cli(["plan"], env);
  assert.is(before.code, 2, before.stderr);
  assert.match(before.stdout, /\+ create stream WRITES/);
  assert.match(before.stdout, /7 to create, 0 to update, 0 to replace, 0 to delete, 0 unchanged\./);

  const applied = await cli(["apply"], env);
  assert.is(applied.code, 0, applied.stderr);
  assert.match(applied.stdout, /\[apply\] create consumer WRITES\/users-writer: done/);
  assert.match(applied.stdout, /Apply complete: 7 created, 0 updated, 0 replaced, 0 deleted\./);

  const after = await cli(["plan", "--server", server.url, "--monitor", server.monitorUrl]);
  assert.is(after.code, 0, after.stderr);
  assert.match(after.stdout, /No changes: the server matches streams\.yaml \(7 objects\)\./);
  assert.not.match(after.stdout, /warnings/);
});

codes("a bad file exits 1 and names the file, line, object and field of every problem", async () => {
  const bad = write("bad.yaml", "streams:\n  S:\n    subjects: [s.>]\n    max_age: 3600\n    storag: file\n");
  const run = await cli(["plan", "--file", bad, "--server", "nats://127.0.0.1:1"]);
  assert.is(run.code, 1);
  assert.match(run.stderr, /bad\.yaml:4: stream S field max_age has no unit: write 3600s/);
  assert.match(
    run.stderr,
    /bad\.yaml:5: stream S field storag is not a known field \(did you mean storage\?\)/,
  );
});

codes("an unreachable server exits 1 and says what to do", async () => {
  const run = await cli(["plan", "--server", "nats://127.0.0.1:1"]);
  assert.is(run.code, 1);
  assert.match(
    run.stderr,
    /cannot reach nats-server at nats:\/\/127\.0\.0\.1:1 \(connection refused\): start the local stack \(just up\), or point --server \/ NATS_URL at a running nats-server/,
  );
});

codes("apply refuses a destructive change with exit 1, and makes it with --allow-destructive", async () => {
  await using server = await startNats({ own: true });
  const memory = write("memory.yaml", "streams:\n  S:\n    subjects: [s.>]\n    storage: memory\n");
  const file = write("file.yaml", "streams:\n  S:\n    subjects: [s.>]\n    storage: file\n");
  assert.is((await cli(["apply", "--file", memory, "--server", server.url])).code, 0);

  const plan = await cli(["plan", "--file", file, "--server", server.url]);
  assert.is(plan.code, 2);
  assert.match(
    plan.stdout,
    /-\/\+ replace stream S \(destroys data: 0 messages\)\n {6}storage: memory → file {2}\(storage cannot change in place\)/,
  );

  const refused = await cli(["apply", "--file", file, "--server", server.url]);
  assert.is(refused.code, 1);
  assert.match(
    refused.stderr,
    /refusing to apply: stream S must be replaced .*Nothing was changed\. Re-run with --allow-destructive/,
  );
  assert.is(JSON.parse(await natsCli(server.url, "stream", "info", "S", "--json")).config.storage, "memory");

  const allowed = await cli(["apply", "--file", file, "--server", server.url, "--allow-destructive"]);
  assert.is(allowed.code, 0, allowed.stderr);
  assert.is(JSON.parse(await natsCli(server.url, "stream", "info", "S", "--json")).config.storage, "file");
});

codes("JPW_WRITES_MAX_BYTES=1MiB on a WRITES holding more plans destructive; apply refuses it", async () => {
  await using server = await startNats({ own: true });
  const env = { NATS_URL: server.url };
  assert.is((await cli(["apply"], env)).code, 0);
  const nc = await connect({ servers: server.url, ...server.auth() });
  const js = jetstream(nc);
  for (let i = 0; i < 300; i++) await js.publish("writes.users", new Uint8Array(4096));
  await nc.close();

  const small = { ...env, JPW_WRITES_MAX_BYTES: "1MiB" };
  const plan = await cli(["plan"], small);
  assert.is(plan.code, 2, plan.stderr);
  assert.match(
    plan.stdout,
    /~ update stream WRITES \(destructive: lowers a limit below what it holds\)\n {6}max_bytes: 8GiB → 1MiB {2}\(holds 1\.2MiB, [\d.]+KiB over: the server keeps it but refuses every new message \(discard: new\) until [\d.]+KiB are gone\)/,
  );
  assert.match(plan.stdout, /1 lowered limit destroys data: apply refuses it without --allow-destructive\./);
  const json = JSON.parse((await cli(["plan", "--json"], small)).stdout);
  const writes = json.changes.find((c: { name: string }) => c.name === "WRITES");
  assert.is(writes.destructive, true);
  assert.is(writes.shrinks[0].effect, "refuses");

  const refused = await cli(["apply"], small);
  assert.is(refused.code, 1);
  assert.match(
    refused.stderr,
    /refusing to apply: stream WRITES lowers max_bytes from 8GiB to 1MiB \(holds .*\), below what it holds\. Nothing was changed\. Re-run with --allow-destructive/,
  );
  const info = JSON.parse(await natsCli(server.url, "stream", "info", "WRITES", "--json"));
  assert.is(info.config.max_bytes, 8 * 1024 ** 3);
  assert.is(info.state.messages, 300);
});

codes("--prune deletes a managed stream the file no longer declares; without it apply keeps it", async () => {
  await using server = await startNats({ own: true });
  const both = write("both.yaml", "streams:\n  A:\n    subjects: [a]\n  B:\n    subjects: [b]\n");
  const onlyA = write("only-a.yaml", "streams:\n  A:\n    subjects: [a]\n");
  assert.is((await cli(["apply", "--file", both, "--server", server.url])).code, 0);

  const kept = await cli(["plan", "--file", onlyA, "--server", server.url]);
  assert.is(kept.code, 0, "nothing to do without --prune");
  assert.match(kept.stdout, /no longer declared, kept .*: stream B/);

  const pruned = await cli(["apply", "--file", onlyA, "--server", server.url, "--prune"]);
  assert.is(pruned.code, 0, pruned.stderr);
  assert.match(pruned.stdout, /- delete stream B \(destroys 0 messages\)/);
  assert.match(await natsCli(server.url, "stream", "ls", "--names"), /^A\s*$/);
});

codes("a usage mistake exits 1 with the usage", async () => {
  const run = await cli(["deploy"]);
  assert.is(run.code, 1);
  assert.match(run.stderr, /expected plan or apply, not deploy/);
  assert.match(run.stderr, /Usage: tsx ops\/reconcile\/cli\.ts plan\|apply/);
  const help = await cli(["--help"]);
  assert.is(help.code, 0);
  assert.match(help.stdout, /--allow-destructive/);
});

codes.run();

const json = suite("--json");

json("plan --json is one JSON document listing every change with raw API values", async () => {
  await using server = await startNats({ own: true });
  const run = await cli(["plan", "--json", "--server", server.url]);
  assert.is(run.code, 2);
  const doc = JSON.parse(run.stdout);
  assert.is(doc.pending, true);
  assert.equal(doc.summary, { create: 7, update: 0, replace: 0, delete: 0, unchanged: 0, orphaned: 0 });
  assert.is(doc.server.api_level, 4);
  const writes = doc.changes.find((c: { name: string }) => c.name === "WRITES");
  assert.is(writes.action, "create");
  assert.is(writes.request.max_bytes, 8 * 1024 ** 3);
  assert.is(writes.request.metadata["jpw.history.max_age"], "7d");
  assert.ok(doc.warnings.some((w: string) => /fsync policy not checked/.test(w)));
});

json("apply --json reports what was applied, and errors come out as JSON too", async () => {
  await using server = await startNats({ own: true });
  const run = await cli(["apply", "--json", "--server", server.url]);
  assert.is(run.code, 0, run.stderr);
  assert.equal(JSON.parse(run.stdout).applied, { created: 7, updated: 0, replaced: 0, deleted: 0 });
  const down = await cli(["plan", "--json", "--server", "nats://127.0.0.1:1"]);
  assert.is(down.code, 1);
  assert.is(JSON.parse(down.stdout).error.name, "UnreachableError");
});

json.run();

process.once("beforeExit", () => removeTempDir(files));
