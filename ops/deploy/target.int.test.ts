// The files the deploy and `just go` put on a server, checked by Debian 13's own tools inside a
// fresh trixie root (cached after the first run): cloud-init's schema, nftables' parser, systemd's
// unit verifier. Nothing is loaded or started.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { run } from "../../services/infra/proc.ts";
import { freePort } from "../../services/testing/ports.ts";
import { userData } from "./cloud-init.ts";
import { firewallPorts, nftablesConf, unitFile } from "./server-files.ts";
import { startTarget, type TestTarget } from "./test-target.ts";

let target: TestTarget;

// Set up in the first test rather than a before hook, whose failures uvu does not print.
test("a fresh trixie root is ready (debootstrap the first time, then from the cache)", async () => {
  target = await startTarget({ sshPort: await freePort() });
  assert.match(await target.chroot(["cat", "/etc/debian_version"]).then((l) => l.join("")), /^13\./);
});

test("the user-data of just go passes Debian 13's cloud-init schema", async () => {
  writeFileSync(
    join(target.root, "tmp/user-data"),
    userData({ publicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE test" }),
  );
  const out = await target.chroot(["cloud-init", "schema", "--config-file", "/tmp/user-data"]);
  assert.match(out.join("\n"), /Valid schema/);
});

test("cloud-init's schema check catches a wrong key (so the check above means something)", async () => {
  writeFileSync(
    join(target.root, "tmp/bad-user-data"),
    `${userData({ publicKey: "ssh-ed25519 AAAA test" })}ssh_pwauthx: false\n`,
  );
  await target.chroot(["cloud-init", "schema", "--config-file", "/tmp/bad-user-data"]).then(
    () => assert.unreachable("a wrong key passed"),
    (err: Error) => assert.match(err.message, /ssh_pwauthx/),
  );
});

// `nft -c` parses and checks the rules against the kernel without committing them; a network
// namespace of its own keeps even the check away from this machine's tables.
const nftCheck = (file: string) =>
  run("unshare", ["--net", "chroot", target.root, "nft", "-c", "-f", file], { prefix: false });

test("the firewall rules (deploy and cloud-init) pass nft -c and open only ssh, HTTP and HTTPS", async () => {
  const deployRules = nftablesConf(firewallPorts({ sshPort: 22, domain: "shop.example.com", env: {} }));
  writeFileSync(join(target.root, "tmp/deploy.nft"), deployRules);
  await nftCheck("/tmp/deploy.nft");
  assert.match(deployRules, /tcp dport \{ 22, 80, 443 \} accept/);
  assert.match(deployRules, /policy drop/);
  const plain = nftablesConf(firewallPorts({ sshPort: 2222, env: {} }));
  assert.match(
    plain,
    /tcp dport \{ 2222, 80 \} accept/,
    "no domain: nothing listens on 443, so it stays closed",
  );
  const cloud =
    /path: \/etc\/nftables.conf\n\s+permissions: "0755"\n\s+content: \|\n([\s\S]*?)\n {2}- path/.exec(
      userData({ publicKey: "ssh-ed25519 AAAA test" }),
    );
  assert.ok(cloud, "user-data writes /etc/nftables.conf");
  writeFileSync(join(target.root, "tmp/cloud.nft"), cloud[1]!.replace(/^ {6}/gm, ""));
  await nftCheck("/tmp/cloud.nft");
});

test("nft -c rejects a broken rule (so the check above means something)", async () => {
  writeFileSync(join(target.root, "tmp/bad.nft"), "table inet x { chain y { tcp dport nonsense accept } }\n");
  await nftCheck("/tmp/bad.nft").then(
    () => assert.unreachable("a broken rule passed"),
    (err: Error) => assert.match(err.message, /Error/),
  );
});

test("the unit passes Debian 13's systemd-analyze verify without a warning", async () => {
  // verify wants the binaries the unit names; the deploy installs node, here a stand-in is enough.
  writeFileSync(join(target.root, "usr/bin/node"), "#!/bin/sh\n", { mode: 0o755 });
  writeFileSync(join(target.root, "etc/systemd/system/jpw.service"), unitFile());
  const out = await target.chroot(["systemd-analyze", "verify", "/etc/systemd/system/jpw.service"]);
  assert.equal(
    out.filter((l) => l.includes("jpw.service")),
    [],
  );
});

test.after(async () => {
  await target?.[Symbol.asyncDispose]();
});

test.run();
