// Locates every external program the project runs. The install step (ops/install.ts) puts the pinned
// ones in the tools folder; Debian packages live where apt puts them. A missing program is an
// actionable error, never a silent skip.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, realpathSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { root, toolsDir } from "./paths.ts";
import { versions } from "./versions.ts";

export class MissingToolError extends Error {
  override name = "MissingToolError";
}

const setupHint = "run `just setup` (npm start and npm test run it for you)";

export function which(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/usr/bin", "/sbin", "/bin"];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

function required(path: string | undefined, what: string, hint = setupHint): string {
  if (path && existsSync(path)) return path;
  throw new MissingToolError(`${what} not found${path ? ` at ${path}` : ""}: ${hint}`);
}

export const natsServerPath = () => join(toolsDir, "bin", "nats-server");
export const natsCliPath = () => join(toolsDir, "bin", "nats");
export const debeziumHome = () => join(toolsDir, `debezium-server-${versions.debezium}`);
/** The venv of the Python tools (schemathesis, openapi-spec-validator), built from the lock below. */
export const pythonToolsDir = () => join(toolsDir, "python-tools");
export const pythonToolsLock = join(root, "services", "infra", "python-tools.txt");
const pythonTool = (name: string) => () =>
  required(join(pythonToolsDir(), "bin", name), `${name} (Python tools, ${pythonToolsLock})`);

/** A python3 that can make venvs (Debian's needs python3-venv for ensurepip). */
export function python3(): string {
  const path = which("python3");
  const ok = path && spawnSync(path, ["-c", "import ensurepip, venv"]).status === 0;
  return required(ok ? path : undefined, "python3 with venv support (Debian package python3-venv)");
}

/** The newest installed PostgreSQL major's bin folder (Debian keeps them out of PATH). */
export function pgBinDir(): string {
  const base = "/usr/lib/postgresql";
  const majors = existsSync(base)
    ? readdirSync(base)
        .filter((d) => /^\d+$/.test(d) && existsSync(join(base, d, "bin", "postgres")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const dir = majors[0] ? join(base, majors[0], "bin") : undefined;
  return dirname(required(dir && join(dir, "postgres"), "PostgreSQL server (Debian package postgresql)"));
}

export const tools = {
  natsServer: () => required(natsServerPath(), `nats-server ${versions.natsServer}`),
  nats: () => required(natsCliPath(), `nats CLI ${versions.natsCli}`),
  postgres: (program = "postgres") => join(pgBinDir(), program),
  redisServer: () => required(which("redis-server"), "redis-server (Debian package redis-server)"),
  redisCli: () => required(which("redis-cli"), "redis-cli (Debian package redis-tools)"),
  caddy: () => required(which("caddy"), "caddy (Debian package caddy)"),
  chromium: () => required(which("chromium"), "chromium (Debian package chromium)"),
  wrk: () => required(which("wrk"), "wrk (Debian package wrk)"),
  debezium: () => required(join(debeziumHome(), "run.sh"), `Debezium Server ${versions.debezium}`),
  schemathesis: pythonTool("schemathesis"),
  openapiSpecValidator: pythonTool("openapi-spec-validator"),
  javaHome: () => {
    const home = readJavaHomeCache() ?? findJavaHome(versions.minJava)?.home;
    return dirname(
      dirname(
        required(
          home && join(home, "bin", "java"),
          `a JDK ${versions.minJava}+ for Debezium Server`,
          `install one (e.g. Temurin ${versions.minJava}+ under /usr/lib/jvm) or set JAVA_HOME, then ${setupHint}`,
        ),
      ),
    );
  },
};

export const javaHomeCacheFile = () => join(toolsDir, "java-home");

function readJavaHomeCache(): string | undefined {
  const file = javaHomeCacheFile();
  if (!existsSync(file)) return undefined;
  const home = readFileSync(file, "utf8").trim();
  return existsSync(join(home, "bin", "java")) ? home : undefined;
}

export function javaMajor(home: string): number | undefined {
  // `java -version` prints to stderr, whatever its exit code.
  const { stdout, stderr } = spawnSync(join(home, "bin", "java"), ["-XshowSettings:properties", "-version"], {
    encoding: "utf8",
  });
  return parseJavaVersion(`${stdout ?? ""}${stderr ?? ""}`);
}

function parseJavaVersion(text: string): number | undefined {
  const m = /java\.specification\.version = (\d+)/.exec(text) ?? /version "(\d+)/.exec(text);
  return m?.[1] ? Number(m[1]) : undefined;
}

/** Finds the newest JDK with at least `min` as its major version: JAVA_HOME, /usr/lib/jvm, then PATH. */
export function findJavaHome(min: number): { home: string; major: number } | undefined {
  const candidates = new Set<string>();
  if (process.env.JAVA_HOME) candidates.add(process.env.JAVA_HOME);
  if (existsSync("/usr/lib/jvm")) {
    for (const d of readdirSync("/usr/lib/jvm")) candidates.add(join("/usr/lib/jvm", d));
  }
  const onPath = which("java");
  if (onPath) candidates.add(dirname(dirname(realpathSync(onPath))));
  let best: { home: string; major: number } | undefined;
  for (const home of candidates) {
    if (!existsSync(join(home, "bin", "java"))) continue;
    const major = javaMajor(home);
    if (major !== undefined && major >= min && (!best || major > best.major)) best = { home, major };
  }
  return best;
}
