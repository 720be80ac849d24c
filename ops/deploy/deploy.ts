// The deploy commands (cli.ts is their command line): deploy and update over ssh, a shell and the
// journal on the server, and go/destroy at Vultr.
//
// Environment: JPW_SSH_KEY (a private key file; default: ssh's own), JPW_DEPLOY_DIR (where the
// state lives; default .deploy/), and for go/destroy VULTR_API_KEY and JPW_VULTR_* (vultr.ts).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { homedir, machine } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline/promises";
import { root } from "../../services/infra/paths.ts";
import { run } from "../../services/infra/proc.ts";
import { color, say, seconds, warn } from "../../services/infra/term.ts";
import { type Bundle, buildBundle, type Deployed } from "./bundle.ts";
import { adminUser, userData } from "./cloud-init.ts";
import { layout, publicPorts, type ServerSettings } from "./layout.ts";
import { formatTarget, parseTarget, remote, type SshOptions, shq, sshArgs, type Target } from "./ssh.ts";
import {
  type DeployState,
  deployDir,
  forgetServer,
  knownHostsFile,
  loadState,
  requireState,
  saveState,
} from "./state.ts";
import { loadVultrSettings, VultrClient } from "./vultr.ts";

export class DeployError extends Error {
  override name = "DeployError";
}

export const sshOptions = (tty = false): SshOptions => ({
  knownHosts: knownHostsFile(),
  ...(process.env.JPW_SSH_KEY ? { identity: process.env.JPW_SSH_KEY } : {}),
  tty,
});

/** What the server is, and what of ours it runs: KEY=value lines from one short ssh command. */
export interface Probe extends Deployed {
  ID?: string;
  VERSION_ID?: string;
  PRETTY_NAME?: string;
  ARCH?: string;
  UID?: string;
  SUDO?: string;
}

const probeCommand = `. /etc/os-release 2>/dev/null; echo "ID=\${ID:-}"; echo "VERSION_ID=\${VERSION_ID:-}"; echo "PRETTY_NAME=\${PRETTY_NAME:-}"; echo "ARCH=$(uname -m)"; echo "UID=$(id -u)"; if [ "$(id -u)" != 0 ] && sudo -n true 2>/dev/null; then echo SUDO=yes; fi; cat ${layout.deployedFile} 2>/dev/null || true`;

export function parseProbe(lines: string[]): Probe {
  const out: Record<string, string> = {};
  for (const line of lines) {
    const at = line.indexOf("=");
    if (at > 0) out[line.slice(0, at)] = line.slice(at + 1);
  }
  return out as Probe;
}

/** Refuses what the deploy cannot serve: another OS or release, another architecture, no root. */
export function checkProbe(p: Probe, localArch = machine()): void {
  if (p.ID !== "debian" || p.VERSION_ID !== "13") {
    throw new DeployError(
      `the server runs ${p.PRETTY_NAME || `${p.ID ?? "an unknown OS"} ${p.VERSION_ID ?? ""}`.trim()}: the deploy supports Debian 13 (trixie) only`,
    );
  }
  if (p.ARCH !== localArch) {
    throw new DeployError(
      `the server is ${p.ARCH}, this machine ${localArch}: nats-server and the nats CLI are built here, so both must match`,
    );
  }
  if (p.UID !== "0" && p.SUDO !== "yes") {
    throw new DeployError(
      "the ssh user is neither root nor allowed passwordless sudo (sudo -n): use root@host or such a user",
    );
  }
}

async function probe(t: Target): Promise<Probe> {
  const p = parseProbe(await remote(t, sshOptions(), probeCommand, { prefix: false }));
  checkProbe(p);
  return p;
}

/** The commit to ship: HEAD, refusing a dirty tree (what is shipped is what is committed) unless told. */
export async function headCommit(allowDirty: boolean, cwd = root): Promise<string> {
  const dirty = (
    await run("git", ["status", "--porcelain", "--untracked-files=normal"], { cwd, prefix: false })
  ).filter(Boolean);
  if (dirty.length && !allowDirty) {
    throw new DeployError(
      `the working tree has uncommitted changes (${dirty.length} file(s), e.g. ${dirty[0]!.slice(3)}): commit them, or pass --allow-dirty to ship HEAD without them`,
    );
  }
  if (dirty.length) warn("deploy", `shipping HEAD; ${dirty.length} uncommitted change(s) stay here`);
  return (await run("git", ["rev-parse", "HEAD"], { cwd, prefix: false }))[0]!.trim();
}

function settingsOf(s: DeployState, t: Target): ServerSettings {
  return {
    sshPort: t.port,
    env: s.env,
    ...(s.domain ? { domain: s.domain } : {}),
    ...(s.acmeEmail ? { acmeEmail: s.acmeEmail } : {}),
  };
}

/** Builds the bundle, streams it to the server and runs server.sh there as root. */
async function ship(t: Target, p: Probe, bundleOptions: Parameters<typeof buildBundle>[0]): Promise<void> {
  const started = performance.now();
  let bundle: Bundle | undefined;
  try {
    bundle = await buildBundle({ ...bundleOptions, log: (l) => say("deploy", l) });
    for (const line of bundle.summary) say("deploy", line);
    const sudo = p.UID === "0" ? "" : "sudo -n ";
    const script =
      'set -e; d=$(mktemp -d /tmp/jpw-bundle.XXXXXX); trap \'rm -rf "$d"\' EXIT; tar -x -C "$d" -f -; bash "$d/server.sh" "$d"';
    say("deploy", `shipping to ${formatTarget(t)} and running server.sh there`);
    await remote(t, sshOptions(), `${sudo}bash -c ${shq(script)}`, { stdinFile: bundle.file });
    say("deploy", `${color.green("done")} in ${seconds(started)}`);
  } finally {
    bundle?.dispose();
  }
}

export async function deploy(
  spec: string,
  o: {
    domain?: string;
    acmeEmail?: string;
    env: Record<string, string>;
    allowDirty: boolean;
    vultr?: DeployState["vultr"];
  },
): Promise<void> {
  const t = parseTarget(spec);
  const commit = await headCommit(o.allowDirty);
  const state: DeployState = {
    target: formatTarget(t),
    env: o.env,
    ...(o.domain ? { domain: o.domain } : {}),
    ...(o.acmeEmail ? { acmeEmail: o.acmeEmail } : {}),
    ...(o.vultr ? { vultr: o.vultr } : loadState()?.vultr ? { vultr: loadState()!.vultr } : {}),
  };
  say("deploy", `checking ${formatTarget(t)}`);
  const p = await probe(t);
  say("deploy", `${p.PRETTY_NAME} on ${p.ARCH}${p.REVISION ? `, running ${p.REVISION.slice(0, 12)}` : ""}`);
  // Remembered before the work starts, so `just ssh` and `just server-logs` reach a half-done server.
  saveState(state);
  await ship(t, p, { mode: "deploy", commit, deployed: p, settings: settingsOf(state, t) });
  saveState({ ...state, revision: commit, deployedAt: new Date().toISOString() });
  const http = publicPorts(settingsOf(state, t)).http;
  const host = t.host.includes(":") ? `[${t.host}]` : t.host;
  const url = o.domain ? `https://${o.domain}` : `http://${host}${http === 80 ? "" : `:${http}`}`;
  say("deploy", `${commit.slice(0, 12)} deployed: ${url}  (just update, just ssh, just server-logs)`);
}

export async function update(o: { allowDirty: boolean; allowDestructive: boolean }): Promise<void> {
  const state = requireState();
  const t = parseTarget(state.target);
  const commit = await headCommit(o.allowDirty);
  const p = await probe(t);
  if (!p.REVISION)
    throw new DeployError(`${state.target} has nothing deployed yet: run just deploy ${state.target}`);
  if (p.REVISION === commit) {
    say("update", `${state.target} already runs ${commit.slice(0, 12)}: nothing to roll out`);
    return;
  }
  say("update", `${state.target}: ${p.REVISION.slice(0, 12)} → ${commit.slice(0, 12)}`);
  await ship(t, p, {
    mode: "update",
    commit,
    deployed: p,
    settings: settingsOf(state, t),
    allowDestructive: o.allowDestructive,
  });
  saveState({ ...state, revision: commit, deployedAt: new Date().toISOString() });
}

export function sshInteractive(args: string[]): number {
  const state = requireState();
  const t = parseTarget(state.target);
  const command = args.length ? args.join(" ") : undefined;
  const r = spawnSync("ssh", sshArgs(t, { ...sshOptions(command === undefined) }, command), {
    stdio: "inherit",
  });
  return r.status ?? 1;
}

/** journalctl on the server; names filter on the stack's "name | line" prefixes. */
export function logsCommand(names: string[]): string {
  for (const n of names) {
    if (!/^[a-z][a-z0-9-]*$/.test(n))
      throw new DeployError(`${n} is not a process name (nats, postgres, producer, ...)`);
  }
  const grep = names.length ? ` --grep ${shq(`^(${names.join("|")}) +\\|`)}` : "";
  return `journalctl -u ${layout.unitName} --follow --lines 100 --output cat${grep}`;
}

function publicKey(): string {
  const candidates = process.env.JPW_SSH_KEY
    ? [`${process.env.JPW_SSH_KEY}.pub`]
    : ["id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"].map((f) => join(homedir(), ".ssh", f));
  const found = candidates.find((f) => existsSync(f));
  if (!found) {
    throw new DeployError(
      `no public key at ${candidates.join(", ")}: create one (ssh-keygen -t ed25519) or point JPW_SSH_KEY at a private key`,
    );
  }
  return readFileSync(found, "utf8").trim();
}

/** Retries a trivial ssh command until the server answers and cloud-init has finished. */
async function waitForSsh(t: Target, timeoutMs = 10 * 60_000): Promise<void> {
  const started = Date.now();
  for (;;) {
    try {
      await remote(t, sshOptions(), "sudo -n cloud-init status --wait >/dev/null 2>&1 || true; echo ok", {
        prefix: false,
      });
      return;
    } catch (err) {
      if (Date.now() - started > timeoutMs) throw err;
      say("go", `waiting for ssh on ${t.host} (${Math.round((Date.now() - started) / 1000)}s)`);
      await new Promise((r) => setTimeout(r, 10_000));
    }
  }
}

export async function go(o: Parameters<typeof deploy>[1]): Promise<void> {
  const settings = loadVultrSettings();
  const existing = loadState();
  if (existing?.vultr) {
    throw new DeployError(
      `a server from just go exists already (${existing.target}, Vultr ${existing.vultr.instanceId}): just update rolls out to it, just destroy removes it`,
    );
  }
  const vultr = new VultrClient(settings.VULTR_API_KEY);
  const key = publicKey();
  const osId = await vultr.osId(settings.JPW_VULTR_OS);
  const sshKeyId = await vultr.sshKeyId(`jpw-${settings.JPW_VULTR_LABEL}`, key);
  say("go", `creating ${settings.JPW_VULTR_PLAN} in ${settings.JPW_VULTR_REGION} (image ${osId})`);
  const created = await vultr.createInstance({
    region: settings.JPW_VULTR_REGION,
    plan: settings.JPW_VULTR_PLAN,
    osId,
    label: settings.JPW_VULTR_LABEL,
    sshKeyId,
    userData: userData({ publicKey: key }),
  });
  const vultrState = {
    instanceId: created.id,
    region: settings.JPW_VULTR_REGION,
    plan: settings.JPW_VULTR_PLAN,
  };
  // Remembered at once: whatever fails later, just destroy can still find it.
  saveState({ target: `${adminUser}@0.0.0.0`, env: o.env, vultr: vultrState });
  const running = await vultr.waitRunning(created.id, {
    progress: (i) => say("go", `server ${i.id}: ${i.status}${i.server_status ? `, ${i.server_status}` : ""}`),
  });
  const target = `${adminUser}@${running.main_ip}`;
  saveState({ target, env: o.env, vultr: vultrState });
  await waitForSsh(parseTarget(target));
  await deploy(target, { ...o, vultr: vultrState });
}

export async function destroy(yes: boolean): Promise<void> {
  const state = requireState();
  if (!state.vultr) {
    throw new DeployError(
      `${state.target} was not created by just go: remove it where you made it (the state is in ${deployDir()})`,
    );
  }
  if (!yes) {
    if (!process.stdin.isTTY)
      throw new DeployError("destroy deletes the server and all its data: pass --yes to confirm");
    const rl = createInterface({ input: process.stdin, output: process.stdout });
    const answer = await rl.question(
      `Delete ${state.target} (Vultr ${state.vultr.instanceId}) and all its data? Type yes: `,
    );
    rl.close();
    if (answer.trim() !== "yes") throw new DeployError("not confirmed: nothing was deleted");
  }
  const vultr = new VultrClient(loadVultrSettings().VULTR_API_KEY);
  await vultr.deleteInstance(state.vultr.instanceId);
  forgetServer();
  say("destroy", `deleted Vultr server ${state.vultr.instanceId} (${state.target})`);
}
