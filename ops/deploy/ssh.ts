// Reaching the server: `user@host[:port]` targets, ssh with key authentication only, a known_hosts
// file of our own (a re-created server at a reused address must not collide with ~/.ssh/known_hosts),
// and remote commands whose output streams back line by line.
import { spawn } from "node:child_process";
import { openSync } from "node:fs";
import { createInterface } from "node:readline";
import { color } from "../../services/infra/term.ts";

export interface Target {
  user: string;
  host: string;
  port: number;
}

export class TargetError extends Error {
  override name = "TargetError";
}

/** `user@host`, `user@host:2222`, `user@[2001:db8::1]:22`; the user is required (root or a sudoer). */
export function parseTarget(spec: string, defaultPort = 22): Target {
  const m = /^([a-z_][a-z0-9_.-]*)@(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/i.exec(spec);
  if (!m)
    throw new TargetError(`${spec} is not a target: use user@host or user@host:port (e.g. root@203.0.113.7)`);
  const port = m[3] ? Number(m[3]) : defaultPort;
  if (port < 1 || port > 65535) throw new TargetError(`${spec}: port ${port} is out of range`);
  return { user: m[1]!, host: m[2]!.replace(/^\[|\]$/g, ""), port };
}

export const formatTarget = (t: Target) =>
  `${t.user}@${t.host.includes(":") ? `[${t.host}]` : t.host}${t.port === 22 ? "" : `:${t.port}`}`;

export interface SshOptions {
  knownHosts: string;
  /** A private key file (JPW_SSH_KEY); without it ssh uses the agent and its defaults. */
  identity?: string;
  /** Allocate a terminal (interactive `just ssh`). */
  tty?: boolean;
}

export function sshArgs(t: Target, o: SshOptions, command?: string): string[] {
  return [
    "-o",
    "BatchMode=yes",
    "-o",
    "PasswordAuthentication=no",
    "-o",
    "ConnectTimeout=10",
    "-o",
    "ServerAliveInterval=15",
    "-o",
    // A new server's key is learned on first contact; a changed one is refused.
    "StrictHostKeyChecking=accept-new",
    "-o",
    `UserKnownHostsFile=${o.knownHosts}`,
    "-o",
    "LogLevel=ERROR",
    ...(o.identity ? ["-i", o.identity, "-o", "IdentitiesOnly=yes"] : []),
    ...(o.tty ? ["-t"] : ["-T"]),
    "-p",
    String(t.port),
    `${t.user}@${t.host}`,
    ...(command === undefined ? [] : [command]),
  ];
}

export class RemoteError extends Error {
  override name = "RemoteError";
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly lines: string[],
  ) {
    super(message);
  }
}

/**
 * Runs a command on the server. `stdinFile` is streamed to it (the bundle); `prefix` prints each line
 * as it arrives, `false` captures silently. Resolves with the output lines.
 */
export function remote(
  t: Target,
  o: SshOptions,
  command: string,
  r: { stdinFile?: string; prefix?: string | false } = {},
): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn("ssh", sshArgs(t, o, command), {
      stdio: [r.stdinFile ? openSync(r.stdinFile, "r") : "ignore", "pipe", "pipe"],
    });
    const lines: string[] = [];
    const onLine = (line: string) => {
      lines.push(line);
      if (r.prefix !== false) console.log(`${color.dim(`  ${r.prefix ?? "server"} |`)} ${line}`);
    };
    createInterface({ input: child.stdout! }).on("line", onLine);
    createInterface({ input: child.stderr! }).on("line", onLine);
    child.on("error", (err) => reject(new RemoteError(`cannot run ssh: ${err.message}`, null, lines)));
    child.on("close", (code) => {
      if (code === 0) return resolve(lines);
      const tail = r.prefix === false ? `: ${lines.slice(-15).join("\n")}` : "";
      // ssh itself exits 255 when it cannot connect or authenticate.
      const what =
        code === 255
          ? `cannot reach ${formatTarget(t)} over ssh (key authentication)`
          : `the server command failed (exit ${code})`;
      reject(new RemoteError(`${what}${tail}`, code, lines));
    });
  });
}

/** Single-quotes a word for the remote shell. */
export const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
