// What the deployer remembers between commands: the target, its settings and, for `just go`, the
// Vultr server behind it. A git-ignored folder (.deploy/, or JPW_DEPLOY_DIR) holding state.json and
// the server's known_hosts; nothing secret (the API token stays in the environment).
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type } from "arktype";
import { root } from "../../services/infra/paths.ts";

export const deployDir = () => process.env.JPW_DEPLOY_DIR || join(root, ".deploy");
export const knownHostsFile = () => join(deployDir(), "known_hosts");
const stateFile = () => join(deployDir(), "state.json");

const DeployState = type({
  /** user@host[:port] as given to `just deploy` (or made by `just go`). */
  target: "string",
  "domain?": "string",
  "acmeEmail?": "string",
  env: "Record<string, string>",
  "vultr?": { instanceId: "string", region: "string", plan: "string" },
  /** The commit the server runs, after a deploy or update completed. */
  "revision?": "string",
  "deployedAt?": "string",
});
export type DeployState = typeof DeployState.infer;

export function loadState(): DeployState | undefined {
  if (!existsSync(stateFile())) return undefined;
  const out = DeployState(JSON.parse(readFileSync(stateFile(), "utf8")));
  if (out instanceof type.errors)
    throw new Error(`${stateFile()} is damaged (${out.summary}): fix or delete it`);
  return out;
}

export function requireState(): DeployState {
  const s = loadState();
  if (!s)
    throw new Error("no server yet: run `just deploy <user@host>` (or `just go` to create one at Vultr)");
  return s;
}

export function saveState(s: DeployState): void {
  mkdirSync(deployDir(), { recursive: true, mode: 0o700 });
  const tmp = `${stateFile()}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(s, null, 2)}\n`);
  renameSync(tmp, stateFile());
}

export function forgetServer(): void {
  rmSync(stateFile(), { force: true });
  rmSync(knownHostsFile(), { force: true });
}
