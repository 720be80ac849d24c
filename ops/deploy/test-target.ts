// A fresh Debian 13 (trixie) host for the deploy tests, without a cloud: a debootstrap root (cached
// as a tarball in the tools folder) unpacked into a temp folder, with its own sshd on a loopback
// port, reached with real ssh and key authentication as a sudoer, the way `just go`'s cloud-init
// leaves a server. systemd cannot boot here, so the tests start the deployed system with the unit's
// own ExecStart (startUnit).
//
// The root shares this machine's network namespace: a policy-rc.d keeps package installs from
// starting services, every port is picked free at run time, and nothing loads firewall rules
// (`nft -c` checks them in a network namespace of its own). Disposal kills every process whose root
// is the target, unmounts /proc and removes the folder without crossing into any mount.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toolsDir } from "../../services/infra/paths.ts";
import { run } from "../../services/infra/proc.ts";
import { adminUser } from "./cloud-init.ts";
import { layout } from "./layout.ts";

const mirror = "http://deb.debian.org/debian";
/**
 * What the cached root holds beyond debootstrap's default set: what a cloud image has (sshd, sudo,
 * CA certificates, cloud-init) and what `just go`'s cloud-init adds (nftables, unattended-upgrades).
 */
const include = ["openssh-server", "sudo", "ca-certificates"];
// debootstrap cannot resolve cloud-init's Python dependencies itself: apt installs these after it.
const addons = ["cloud-init", "nftables", "unattended-upgrades"];
const cacheDir = () => join(toolsDir, "deploy-test");
const debArch = () =>
  (({ x64: "amd64", arm64: "arm64" }) as Record<string, string>)[process.arch] ?? process.arch;

export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error("the deploy tests need root (debootstrap, chroot, mount): run them as root, as CI does");
  }
}

/** The cached trixie root (a tarball), made with debootstrap the first time (about two minutes). */
export async function trixieImage(log: (line: string) => void = () => {}): Promise<string> {
  requireRoot();
  const key = createHash("sha256")
    .update(JSON.stringify({ include, addons, mirror, v: 1 }))
    .digest("hex")
    .slice(0, 12);
  const image = join(cacheDir(), `trixie-${debArch()}-${key}.tar`);
  if (existsSync(image)) return image;
  mkdirSync(cacheDir(), { recursive: true });
  // One builder at a time (test files run in parallel); the others wait for its image.
  const lock = `${image}.lock`;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (existsSync(image)) return image;
      const age = Date.now() - statSync(lock).mtimeMs;
      if (age > 20 * 60_000) rmSync(lock, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  if (existsSync(image)) {
    rmSync(lock, { recursive: true, force: true });
    return image;
  }
  const build = mkdtempSync(join(tmpdir(), "jpw-debootstrap-"));
  try {
    log(`debootstrap trixie (${debArch()}) with ${[...include, ...addons].join(", ")}: first time only`);
    await run(
      "debootstrap",
      [`--arch=${debArch()}`, `--include=${include.join(",")}`, "trixie", join(build, "root"), mirror],
      { prefix: false },
    );
    const root = join(build, "root");
    // Installs must not start services in a root that shares this machine's network.
    writeFileSync(
      join(root, "usr/sbin/policy-rc.d"),
      "#!/bin/sh\n# deploy tests: start nothing\nexit 101\n",
      {
        mode: 0o755,
      },
    );
    // As a cloud image: updates and security updates (unattended-upgrades reads these).
    writeFileSync(
      join(root, "etc/apt/sources.list"),
      `deb ${mirror} trixie main\ndeb ${mirror} trixie-updates main\ndeb http://deb.debian.org/debian-security trixie-security main\n`,
    );
    writeFileSync(join(root, "etc/resolv.conf"), readFileSync("/etc/resolv.conf"));
    const aptGet = (args: string[]) =>
      run("chroot", [root, "/usr/bin/env", "DEBIAN_FRONTEND=noninteractive", "apt-get", ...args], {
        prefix: false,
      });
    await aptGet(["update", "-q"]);
    await aptGet(["install", "-y", "-q", "--no-install-recommends", ...addons]);
    await aptGet(["clean"]);
    const partial = `${image}.${process.pid}.partial`;
    await run("tar", ["-cf", partial, "-C", root, "."], { prefix: false });
    renameSync(partial, image);
    return image;
  } finally {
    unmountUnder(build);
    rmSync(build, { recursive: true, force: true });
    rmSync(lock, { recursive: true, force: true });
  }
}

export interface TestTarget extends AsyncDisposable {
  root: string;
  sshPort: number;
  /** The private key the deployer uses (JPW_SSH_KEY). */
  key: string;
  /** user@127.0.0.1:port for `just deploy`. */
  target: string;
  /** A command inside the target, as root (or another user), with a clean environment. */
  chroot(cmd: string[], o?: { user?: string; input?: string }): Promise<string[]>;
  /** Hard-links the .debs the target downloaded into the cache, for the next run. */
  keepDownloads(): void;
}

/** Unpacks a fresh target, prepares it as cloud-init would and starts its sshd on a free port. */
export async function startTarget(o: { sshPort: number; log?: (line: string) => void }): Promise<TestTarget> {
  const image = await trixieImage(o.log);
  const base = mkdtempSync(join(tmpdir(), "jpw-deploy-target-"));
  const root = join(base, "root");
  let sshd: ChildProcess | undefined;
  const dispose = async () => {
    sshd?.kill("SIGTERM");
    await killProcessesIn(root);
    unmountUnder(base);
    // --one-file-system: never descend into anything still mounted below the root.
    spawnSync("rm", ["-rf", "--one-file-system", base]);
  };
  process.once("exit", () => {
    if (!existsSync(base)) return;
    for (const pid of processesIn(root)) tryKill(pid, "SIGKILL");
    unmountUnder(base);
    spawnSync("rm", ["-rf", "--one-file-system", base]);
  });
  try {
    mkdirSync(root);
    await run("tar", ["-xf", image, "-C", root], { prefix: false });
    await run("mount", ["-t", "proc", "proc", join(root, "proc")], { prefix: false });
    const chroot = (cmd: string[], c: { user?: string; input?: string } = {}) =>
      run(
        "chroot",
        [
          ...(c.user ? [`--userspec=${c.user}:${c.user}`] : []),
          root,
          "/usr/bin/env",
          "-i",
          "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
          "LANG=C.UTF-8",
          ...cmd,
        ],
        { prefix: false, ...(c.input !== undefined ? { input: c.input } : {}) },
      );

    // This machine reaches the package registries through CAs of its own; so must its "server".
    const extraCas = "/usr/local/share/ca-certificates";
    if (existsSync(extraCas)) {
      for (const f of readdirSync(extraCas)) copyFileSync(join(extraCas, f), join(root, extraCas, f));
      await chroot(["update-ca-certificates"]);
    }
    seedDownloads(root);

    // What `just go`'s cloud-init does: an admin user with the deployer's key and passwordless sudo.
    const key = join(base, "id_ed25519");
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "jpw-deploy-test", "-f", key], {
      prefix: false,
    });
    await chroot(["useradd", "--create-home", "--shell", "/bin/bash", "--groups", "sudo", adminUser]);
    writeFileSync(join(root, "etc/sudoers.d", adminUser), `${adminUser} ALL=(ALL) NOPASSWD:ALL\n`, {
      mode: 0o440,
    });
    const sshDir = join(root, "home", adminUser, ".ssh");
    mkdirSync(sshDir, { mode: 0o700 });
    copyFileSync(`${key}.pub`, join(sshDir, "authorized_keys"));
    await chroot(["chown", "-R", `${adminUser}:${adminUser}`, `/home/${adminUser}/.ssh`]);
    mkdirSync(join(root, "run/sshd"), { recursive: true });

    sshd = spawn(
      "chroot",
      [
        root,
        "/usr/sbin/sshd",
        "-D",
        "-e",
        "-p",
        String(o.sshPort),
        "-o",
        "ListenAddress=127.0.0.1",
        "-o",
        "PasswordAuthentication=no",
        "-o",
        "PermitRootLogin=no",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    const sshdLog: string[] = [];
    sshd.stderr!.on("data", (d) => sshdLog.push(String(d)));
    for (let i = 0; !sshdLog.join("").includes("Server listening"); i++) {
      if (i > 100 || sshd.exitCode !== null)
        throw new Error(`sshd in the target did not start: ${sshdLog.join("")}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return {
      root,
      sshPort: o.sshPort,
      key,
      target: `${adminUser}@127.0.0.1:${o.sshPort}`,
      chroot,
      keepDownloads: () => keepDownloads(root),
      [Symbol.asyncDispose]: dispose,
    };
  } catch (err) {
    await dispose();
    throw err;
  }
}

// Warm runs: apt's .debs and the Debezium tarball come from the tools folder (hard links), so only
// the first run downloads them. The deploy still verifies the tarball's checksum before using it.
const aptCache = () => join(cacheDir(), "apt-archives");
const downloads = () => join(cacheDir(), "downloads");

function linkOrCopy(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch {
    copyFileSync(from, to);
  }
}

function seedDownloads(root: string): void {
  for (const [from, to] of [
    [aptCache(), join(root, "var/cache/apt/archives")],
    [downloads(), join(root, layout.cache.slice(1))],
  ] as const) {
    if (!existsSync(from)) continue;
    mkdirSync(to, { recursive: true });
    for (const f of readdirSync(from)) if (!existsSync(join(to, f))) linkOrCopy(join(from, f), join(to, f));
  }
}

function keepDownloads(root: string): void {
  const archives = join(root, "var/cache/apt/archives");
  mkdirSync(aptCache(), { recursive: true });
  for (const f of readdirSync(archives).filter((f) => f.endsWith(".deb"))) {
    if (!existsSync(join(aptCache(), f))) linkOrCopy(join(archives, f), join(aptCache(), f));
  }
}

/** Fetches the Debezium tarball into the tools folder for later runs, verified like the server does. */
export async function cacheDebeziumTarball(d: { url: string; sha256: string; file: string }): Promise<void> {
  const dest = join(downloads(), d.file);
  if (existsSync(dest)) return;
  mkdirSync(downloads(), { recursive: true });
  const partial = `${dest}.${process.pid}.partial`;
  try {
    await run("curl", ["-fsSL", "--retry", "3", "-o", partial, d.url], { prefix: false });
    const sum = (await run("sha256sum", [partial], { prefix: false }))[0]!.split(" ")[0];
    if (sum !== d.sha256) throw new Error(`${d.url}: SHA-256 ${sum}, expected ${d.sha256}`);
    renameSync(partial, dest);
  } finally {
    rmSync(partial, { force: true });
  }
}

/** Processes whose root directory is inside the target (sshd sessions escape our process group). */
export function processesIn(root: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const r = readlinkSync(`/proc/${d}/root`);
      if (r === root || r.startsWith(`${root}/`)) out.push(Number(d));
    } catch {}
  }
  return out;
}

function tryKill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {}
}

async function killProcessesIn(root: string): Promise<void> {
  for (const pid of processesIn(root)) tryKill(pid, "SIGTERM");
  for (let i = 0; i < 100 && processesIn(root).length; i++) await new Promise((r) => setTimeout(r, 100));
  for (const pid of processesIn(root)) tryKill(pid, "SIGKILL");
  for (let i = 0; i < 50 && processesIn(root).length; i++) await new Promise((r) => setTimeout(r, 100));
}

/** Unmounts everything mounted at or below `dir`, deepest first. */
function unmountUnder(dir: string): void {
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    if (spawnSync("umount", [m]).status !== 0) spawnSync("umount", ["-l", m]);
  }
}
