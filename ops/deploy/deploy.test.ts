// What the deploy decides on this machine, before and without a server: targets, refusals, the
// dirty-tree rule, the server's journal command, and the files it renders.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { machine, tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { caddyfile } from "../../services/infra/caddyfile.ts";
import { tools } from "../../services/infra/tools.ts";
import { checkProbe, headCommit, logsCommand, parseProbe } from "./deploy.ts";
import { envFile, unitFile } from "./server-files.ts";
import { parseTarget } from "./ssh.ts";

test("targets are user@host with an optional port (IPv6 in brackets)", () => {
  assert.equal(parseTarget("root@203.0.113.7"), { user: "root", host: "203.0.113.7", port: 22 });
  assert.equal(parseTarget("deploy@[2001:db8::1]:2222"), { user: "deploy", host: "2001:db8::1", port: 2222 });
  assert.throws(() => parseTarget("203.0.113.7"), /use user@host/);
});

const debian13 = [
  "ID=debian",
  "VERSION_ID=13",
  "PRETTY_NAME=Debian GNU/Linux 13 (trixie)",
  `ARCH=${machine()}`,
  "UID=0",
];

test("a Debian 13 server of this machine's architecture is accepted; another release, architecture or a user without sudo is refused", () => {
  checkProbe(parseProbe(debian13));
  const with_ = (line: string) => parseProbe([...debian13, line]);
  assert.throws(() => checkProbe(with_("VERSION_ID=12")), /supports Debian 13 \(trixie\) only/);
  assert.throws(() => checkProbe(with_("ID=ubuntu")), /supports Debian 13/);
  assert.throws(() => checkProbe(with_("ARCH=riscv64")), /the server is riscv64, this machine/);
  assert.throws(() => checkProbe(with_("UID=1000")), /neither root nor allowed passwordless sudo/);
  checkProbe(parseProbe([...debian13, "UID=1000", "SUDO=yes"]));
});

test("a dirty working tree is refused unless --allow-dirty, and HEAD is what ships either way", async () => {
  const repo = mkdtempSync(join(tmpdir(), "jpw-dirty-"));
  try {
    const git = (...args: string[]) =>
      execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd: repo });
    git("init", "-q");
    writeFileSync(join(repo, "a.txt"), "one");
    git("add", "a.txt");
    git("commit", "-qm", "one");
    const head = git("rev-parse", "HEAD").toString().trim();
    assert.is(await headCommit(false, repo), head);
    writeFileSync(join(repo, "a.txt"), "two");
    await headCommit(false, repo).then(
      () => assert.unreachable("a dirty tree was accepted"),
      (err: Error) =>
        assert.match(err.message, /uncommitted changes \(1 file\(s\), e\.g\. a\.txt\).*--allow-dirty/),
    );
    assert.is(await headCommit(true, repo), head);
  } finally {
    rmSync(repo, { recursive: true, force: true });
  }
});

test("just server-logs follows the unit's journal, filtered by the stack's process prefixes", () => {
  assert.is(logsCommand([]), "journalctl -u jpw.service --follow --lines 100 --output cat");
  assert.match(logsCommand(["producer", "consumer"]), /--grep '\^\(producer\|consumer\) \+\\\|'$/);
  assert.throws(() => logsCommand(["x; rm -rf /"]), /not a process name/);
});

test("the unit passes this machine's systemd-analyze verify without a warning", () => {
  const dir = mkdtempSync(join(tmpdir(), "jpw-unit-"));
  try {
    writeFileSync(join(dir, "jpw.service"), unitFile());
    const out = execFileSync("systemd-analyze", ["verify", join(dir, "jpw.service")], { stdio: "pipe" });
    assert.is(out.toString(), "");
  } catch (err) {
    assert.unreachable(String((err as { stderr?: Buffer }).stderr ?? err));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the server's environment file takes settings that systemd and the shell read alike, nothing else", () => {
  const env = envFile({ sshPort: 22, domain: "shop.example.com", env: { LOG_LEVEL: "debug" } });
  assert.match(env, /^JPW_PROFILE=server$/m);
  assert.match(env, /^JPW_DOMAIN=shop\.example\.com$/m);
  assert.match(env, /^LOG_LEVEL=debug$/m);
  assert.throws(() => envFile({ sshPort: 22, env: { LOG_LEVEL: "a b" } }), /values may hold/);
  assert.throws(() => envFile({ sshPort: 22, env: { "lower-case": "x" } }), /names are upper case/);
});

test("with a domain the edge serves HTTPS there, redirects HTTP, and answers its health probe on loopback (Caddy accepts it)", () => {
  const text = caddyfile({
    port: 80,
    httpsPort: 443,
    domain: "shop.example.com",
    acmeEmail: "ops@example.com",
    producer: "127.0.0.1:13001",
    reader: "127.0.0.1:13002",
    webRoot: "/srv/web",
    loopback: false,
  });
  const dir = mkdtempSync(join(tmpdir(), "jpw-caddy-"));
  try {
    writeFileSync(join(dir, "Caddyfile"), text);
    const json = JSON.parse(
      execFileSync(tools.caddy(), ["adapt", "--adapter", "caddyfile", "--config", join(dir, "Caddyfile")], {
        stdio: "pipe",
      }).toString(),
    );
    const http = json.apps.http;
    assert.is(http.https_port, 443);
    assert.is(http.http_port, 80);
    const hosts = JSON.stringify(
      Object.values(http.servers as Record<string, { routes: unknown }>).map((s) => s.routes),
    );
    assert.match(hosts, /shop\.example\.com/);
    assert.match(hosts, /127\.0\.0\.1/);
    assert.not.match(text, /auto_https off/);
    assert.match(text, /email ops@example\.com/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
