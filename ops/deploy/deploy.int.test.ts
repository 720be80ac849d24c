// `just deploy` and `just update` end to end against a fresh Debian 13 root (test-target.ts): real
// ssh with key authentication as a sudoer, real apt, npm ci, Maven Central and nft inside the
// target. systemd cannot boot here, so the test starts the deployed system with the unit's own
// User, EnvironmentFile, WorkingDirectory, UMask and ExecStart, and stops it as systemd would
// (SIGTERM to the stack, which drains its processes).
//
// Deploys from a clone of this repository's HEAD, so the update can commit a change of its own.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { root, toolsDir } from "../../services/infra/paths.ts";
import { postgresUrl } from "../../services/infra/postgres-auth.ts";
import { CommandError, run } from "../../services/infra/proc.ts";
import { readSecrets, secretsDirOf } from "../../services/infra/secrets.ts";
import { freePort, lastingFreePort } from "../../services/testing/ports.ts";
import { debeziumDownload } from "./bundle.ts";
import { layout } from "./layout.ts";
import { execStart, packagedServices } from "./server-files.ts";
import { cacheDebeziumTarball, processesIn, startTarget, type TestTarget } from "./test-target.ts";

let target: TestTarget;
let clone: string;
let edge: string;
let pgPort: number;
let system: ChildProcess | undefined;
const ports: Record<string, number> = {};
const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0)}s`;
// Filled in the background on a cold cache, for the next run (the deploy downloads its own copy).
let debeziumCache: Promise<void> | undefined;

/** `just <args>` in the clone, as a person would type it. */
async function just(args: string[]): Promise<string> {
  const env = {
    ...process.env,
    JPW_DEPLOY_DIR: join(clone, ".deploy"),
    // The clone has no tools folder of its own: it ships this checkout's nats-server and nats CLI.
    JPW_TOOLS_DIR: toolsDir,
    JPW_SSH_KEY: target.key,
    NO_COLOR: "1",
  };
  const justBin = join(root, "node_modules", "rust-just-linux-x64", "bin", "just");
  const lines = await run(justBin, ["--justfile", join(clone, "justfile"), ...args], {
    cwd: clone,
    env,
    prefix: false,
  });
  return lines.join("\n");
}

async function justFails(args: string[]): Promise<string> {
  try {
    await just(args);
  } catch (err) {
    if (err instanceof CommandError) return err.output.join("\n");
    throw err;
  }
  assert.unreachable(`just ${args.join(" ")} succeeded`);
  return "";
}

const git = (args: string[]) =>
  run("git", ["-c", "user.name=deploy test", "-c", "user.email=test@example.com", ...args], {
    cwd: clone,
    prefix: false,
  });

/** Reads the installed unit and runs its ExecStart the way systemd would (User, environment, cwd, umask). */
function startUnit(): ChildProcess {
  const unit = readFileSync(join(target.root, layout.unitFile.slice(1)), "utf8");
  const key = (k: string) => new RegExp(`^${k}=(.*)$`, "m").exec(unit)?.[1] ?? "";
  assert.is(key("ExecStart"), execStart);
  const env = readFileSync(join(target.root, key("EnvironmentFile").slice(1)), "utf8")
    .split("\n")
    .filter((l) => /^[A-Z][A-Z0-9_]*=/.test(l));
  const child = spawn(
    "chroot",
    [
      `--userspec=${key("User")}:${key("Group")}`,
      target.root,
      "/usr/bin/env",
      "-i",
      "PATH=/usr/local/bin:/usr/bin:/bin",
      ...env,
      "/bin/sh",
      "-c",
      `umask ${key("UMask")} && cd ${key("WorkingDirectory")} && exec ${key("ExecStart")}`,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const log = join(clone, "system.log");
  child.stdout!.on("data", (d) => appendFileSync(log, d));
  child.stderr!.on("data", (d) => appendFileSync(log, d));
  return child;
}

/** systemd's stop with KillMode=mixed: SIGTERM to the stack, which stops its processes in order. */
async function stopUnit(): Promise<void> {
  if (!system || system.exitCode !== null) return;
  const exited = new Promise((r) => system!.once("close", r));
  system.kill("SIGTERM");
  await exited;
}

async function waitReady(): Promise<void> {
  try {
    await waitReadyInTarget();
  } catch (err) {
    // The system's own output says why it did not come up; the clone (and the log) go at the end.
    const log = join(clone, "system.log");
    const tail = existsSync(log)
      ? readFileSync(log, "utf8").split("\n").slice(-60).join("\n")
      : "(no output)";
    throw new Error(`${(err as Error).message}\nlast lines of the deployed system's output:\n${tail}`);
  }
}

async function waitReadyInTarget(): Promise<void> {
  await target.chroot(
    [
      "/bin/sh",
      "-c",
      `umask 077; set -a; . ${layout.envFile}; cd ${layout.current}; exec node --import tsx ops/deploy/server-ready.ts 600`,
    ],
    { user: layout.user },
  );
}

async function postUser(name: string, email: string): Promise<Response> {
  return fetch(`${edge}/api/users`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name, email }),
  });
}

test("a fresh Debian 13 root with its own sshd is ready", async () => {
  for (const name of [
    "NATS",
    "NATS_MONITOR",
    "PG",
    "REDIS",
    "HTTP",
    "PRODUCER",
    "READER",
    "CONSUMER",
    "DEBEZIUM",
  ]) {
    // Bound only once the deployed system starts, minutes from now: out of the range other tests use.
    ports[name] = await lastingFreePort();
  }
  target = await startTarget({ sshPort: await freePort(), log: (l) => console.log(`[target] ${l}`) });
  console.log(`[deploy-test] target ready at ${elapsed()}`);
  edge = `http://127.0.0.1:${ports.HTTP}`;
  pgPort = ports.PG!;
  const d = debeziumDownload();
  if (!existsSync(join(target.root, layout.cache.slice(1), d.file))) debeziumCache = cacheDebeziumTarball(d);

  clone = mkdtempSync(join(tmpdir(), "jpw-deploy-clone-"));
  await run("git", ["clone", "-q", root, clone], { prefix: false });
  // The packages of this checkout serve the clone (the UI build), and stay out of its commits.
  symlinkSync(join(root, "node_modules"), join(clone, "node_modules"));
  appendFileSync(join(clone, ".git", "info", "exclude"), "node_modules\n");
});

test("just deploy refuses a server that is not Debian 13, before changing anything", async () => {
  const osRelease = join(target.root, "usr/lib/os-release");
  const original = readFileSync(osRelease, "utf8");
  writeFileSync(
    osRelease,
    original
      .replace(/^VERSION_ID=.*$/m, 'VERSION_ID="12"')
      .replace(/^PRETTY_NAME=.*$/m, 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"'),
  );
  try {
    const out = await justFails(["deploy", target.target]);
    assert.match(out, /Debian GNU\/Linux 12 \(bookworm\): the deploy supports Debian 13 \(trixie\) only/);
    assert.not.ok(existsSync(join(target.root, "opt/jpw")), "nothing was installed");
  } finally {
    writeFileSync(osRelease, original);
  }
});

test("just deploy installs the system: packages, tools, Debezium (checksum), locked npm packages, unit, firewall, upgrades", async () => {
  const env = Object.entries(ports).flatMap(([k, v]) => ["--env", `JPW_${k === "PG" ? "PG" : k}_PORT=${v}`]);
  const out = await just(["deploy", target.target, ...env]);
  console.log(`[deploy-test] deployed at ${elapsed()}`);
  target.keepDownloads();
  assert.match(out, /deployed: http:\/\/127\.0\.0\.1/);
  // The unit and the firewall, checked by Debian 13's own tools where they are installed.
  const verify = await target.chroot(["systemd-analyze", "verify", layout.unitFile]);
  assert.equal(
    verify.filter((l) => l.includes("jpw.service")),
    [],
  );
  await run("unshare", ["--net", "chroot", target.root, "nft", "-c", "-f", "/etc/nftables.conf"], {
    prefix: false,
  });
  assert.match(
    readFileSync(join(target.root, "etc/nftables.conf"), "utf8"),
    new RegExp(`tcp dport \\{ ${target.sshPort}, ${ports.HTTP} \\} accept`),
  );
  // An unprivileged user without a login owns the data, owner-only; root owns the code.
  const passwd = (await target.chroot(["getent", "passwd", layout.user])).join("");
  assert.match(passwd, /:\/usr\/sbin\/nologin$/);
  const data = statSync(join(target.root, layout.data.slice(1)));
  assert.is(data.mode & 0o777, 0o700);
  const release = join(target.root, readlinkSync(join(target.root, layout.current.slice(1))).slice(1));
  assert.is(statSync(join(release, "package.json")).uid, 0);
  // Exactly the locked run-time packages: tsx is there, no dev dependency (vite) is.
  const modules = join(release, "node_modules");
  assert.ok(existsSync(join(modules, "tsx")) && !existsSync(join(modules, "vite")));
  for (const s of packagedServices) {
    assert.is(readlinkSync(join(target.root, "etc/systemd/system", s)), "/dev/null", `${s} is masked`);
  }
  // An absolute link inside the target: read it, do not follow it here.
  assert.is(
    readlinkSync(join(target.root, "etc/systemd/system/multi-user.target.wants/jpw.service")),
    layout.unitFile,
    "jpw is enabled",
  );
  const apt = (await target.chroot(["apt-config", "dump", "Unattended-Upgrade::Origins-Pattern"])).join("\n");
  assert.match(apt, /trixie-security|distro_codename\}-security/);
  assert.not.match(apt, /label=Debian";/, "security updates only");
  assert.ok(existsSync(join(target.root, "opt/jpw/tools/debezium-server-3.6.1.Final/run.sh")));
  assert.not.ok(
    existsSync(join(target.root, "var/cache/jpw", debeziumDownload().file)),
    "the tarball is removed once unpacked",
  );
});

test("the deployed system, started as its unit says, writes and reads through the edge; only the edge listens beyond loopback; its files are owner-only", async () => {
  system = startUnit();
  await waitReady();
  console.log(`[deploy-test] system ready at ${elapsed()}`);
  const created = await postUser("Grace Hopper", "grace@example.com");
  assert.is(created.status, 201);
  const { operationId } = (await created.json()) as { operationId: string };
  const read = await fetch(`${edge}/api/users/${operationId}`);
  assert.is(read.status, 200);
  assert.is(((await read.json()) as { email: string }).email, "grace@example.com");
  assert.match(await (await fetch(`${edge}/`)).text(), /<div id="app"|<title>/);

  const pids = new Set(processesIn(target.root).map(String));
  const listening = spawnSync("ss", ["-ltnpH"], { encoding: "utf8" })
    .stdout.split("\n")
    .filter((l) => [...l.matchAll(/pid=(\d+)/g)].some((m) => pids.has(m[1]!)))
    .map((l) => l.split(/\s+/)[3]!);
  const open = listening.filter((a) => !/^(127\.0\.0\.1|\[::1\]|\[::ffff:127\.0\.0\.1\]):/.test(a));
  assert.equal(open, [`*:${ports.HTTP}`], `listening: ${listening.join(" ")}`);

  const loose = await target.chroot([
    "find",
    layout.data,
    "-xdev",
    "(",
    "-type",
    "f",
    "-o",
    "-type",
    "d",
    ")",
    "-perm",
    "/077",
  ]);
  assert.equal(loose, [], "files under the data folder are readable by their owner only");
});

test("a streams.yaml change that would destroy data stops just update with a clear message; the server keeps its release", async () => {
  const before = readlinkSync(join(target.root, layout.current.slice(1)));
  const spec = join(clone, "streams.yaml");
  writeFileSync(spec, readFileSync(spec, "utf8").replace("storage: file", "storage: memory"));
  await git(["commit", "-qam", "WRITES in memory (destructive)"]);
  const out = await justFails(["update"]);
  assert.match(out, /rollout stopped: streams\.yaml of \w+ needs a change that destroys data/);
  assert.match(out, /WRITES must be replaced/);
  assert.is(readlinkSync(join(target.root, layout.current.slice(1))), before);
  await git(["reset", "-q", "--hard", "HEAD~1"]);
  assert.is((await postUser("Ada Lovelace", "ada@example.com")).status, 201, "the system still serves");
});

test("just update ships only what changed, migrates, and a restart drains writes in flight and keeps every write", async () => {
  writeFileSync(
    join(clone, "migrations", "0900_deploy_probe.sql"),
    "create table deploy_probe (id int primary key);\n",
  );
  const index = join(clone, "web", "index.html");
  writeFileSync(
    index,
    readFileSync(index, "utf8").replace(/<title>[^<]*<\/title>/, "<title>jpw, updated</title>"),
  );
  await git(["add", "-A"]);
  await git(["commit", "-qm", "a migration and a new title"]);
  const out = await just(["update"]);
  console.log(`[deploy-test] updated at ${elapsed()}`);
  assert.match(out, /code: 2 changed, 0 removed/);
  assert.match(out, /packages reused/);
  assert.match(out, /applied 0900_deploy_probe\.sql/);

  // The restart systemd would do, while writes are in flight: each one answered 201 must survive.
  const writes = Array.from({ length: 40 }, (_, i) =>
    postUser(`In Flight ${i}`, `flight${i}@example.com`).then(
      async (r) => ({
        status: r.status,
        body: (await r.json().catch(() => ({}))) as { operationId?: string },
      }),
      () => ({ status: 0, body: {} as { operationId?: string } }),
    ),
  );
  await new Promise((r) => setTimeout(r, 50));
  await stopUnit();
  const answered = await Promise.all(writes);
  system = startUnit();
  await waitReady();
  console.log(`[deploy-test] restarted at ${elapsed()}`);
  const committed = answered.filter((w) => w.status === 201);
  for (const w of committed) {
    assert.is(
      (await fetch(`${edge}/api/users/${w.body.operationId}`)).status,
      200,
      `write ${w.body.operationId}`,
    );
  }
  const users = (await (await fetch(`${edge}/api/users?limit=100`)).json()) as { items: { email: string }[] };
  const emails = users.items.map((u) => u.email);
  assert.ok(emails.includes("grace@example.com") && emails.includes("ada@example.com"), "earlier data stays");
  assert.match(await (await fetch(`${edge}/`)).text(), /<title>jpw, updated<\/title>/);
  // The superuser's password was generated on the server, into its owner-only secrets folder.
  const secrets = readSecrets(secretsDirOf(join(target.root, layout.data.slice(1))));
  const url = postgresUrl({
    host: "127.0.0.1",
    port: pgPort,
    database: "jpw",
    role: "postgres",
    password: secrets!.postgres.postgres,
  });
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql`select to_regclass('deploy_probe') as t`;
    assert.is(String(row!.t), "deploy_probe");
  } finally {
    await sql.end();
  }
  console.log(
    `[deploy-test] ${committed.length} of ${answered.length} writes in flight answered 201, all kept`,
  );
});

test.after(async () => {
  await stopUnit().catch(() => {});
  await debeziumCache?.catch((err) =>
    console.log(`[deploy-test] caching the Debezium tarball failed: ${err}`),
  );
  await target?.[Symbol.asyncDispose]();
  if (clone) rmSync(clone, { recursive: true, force: true });
  console.log(`[deploy-test] done at ${elapsed()}`);
});

test.run();
