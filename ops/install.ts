// Installs or verifies everything the project runs, idempotently: Debian packages, a pinned
// nats-server and nats CLI (built with `go install` into the tools folder), a JDK 21+, the
// Debezium Server distribution from Maven Central and a venv of pinned Python tools (the API fuzz
// and the OpenAPI validator). A second run only checks and takes seconds.
//
//   tsx ops/install.ts            everything
//   tsx ops/install.ts --check    verify only, install nothing (exit 1 when something is missing)
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { debeziumSinkJar } from "../services/infra/debezium-sink.ts";
import { toolsDir } from "../services/infra/paths.ts";
import { probe, run } from "../services/infra/proc.ts";
import { color, fail, say, seconds } from "../services/infra/term.ts";
import {
  debeziumHome,
  findJavaHome,
  javaHomeCacheFile,
  natsCliPath,
  natsServerPath,
  pgBinDir,
  python3,
  pythonToolsDir,
  pythonToolsLock,
  tools,
  which,
} from "../services/infra/tools.ts";
import { versions } from "../services/infra/versions.ts";
import { parseCommandLine } from "./lib/args.ts";

const checkOnly =
  parseCommandLine({ options: { check: { type: "boolean" } } }, "usage: tsx ops/install.ts [--check]").values
    .check === true;

/** Debian packages and the program each must provide. */
const aptPackages: Record<string, () => string> = {
  postgresql: () => join(pgBinDir(), "postgres"),
  "redis-server": tools.redisServer,
  caddy: tools.caddy,
  chromium: tools.chromium,
  // The load generator of the benchmarks.
  wrk: tools.wrk,
  // The deploy tests: a Debian 13 root to deploy to, reached over ssh (ops/deploy/test-target.ts).
  debootstrap: () => located("debootstrap"),
  "openssh-client": () => located("ssh"),
  // Python for the API fuzz and the OpenAPI validator (a venv, see ensurePythonTools).
  "python3-venv": python3,
};

function located(program: string): string {
  const path = which(program);
  if (!path) throw new InstallError(`${program} not found`);
  return path;
}

class InstallError extends Error {
  override name = "InstallError";
}

async function ensureAptPackages(): Promise<string> {
  const missing = Object.entries(aptPackages)
    .filter(([, locate]) => {
      try {
        locate();
        return false;
      } catch {
        return true;
      }
    })
    .map(([pkg]) => pkg);
  if (missing.length === 0) return `${Object.keys(aptPackages).join(", ")} present`;
  if (checkOnly) throw new InstallError(`missing Debian packages: ${missing.join(" ")}`);
  const isRoot = process.getuid?.() === 0;
  if (!isRoot && !(await probe("sudo", ["-n", "true"]))) {
    throw new InstallError(
      `Debian packages ${missing.join(" ")} are missing and this user cannot use sudo without a password: ` +
        `run \`sudo apt-get install -y ${missing.join(" ")}\` once, then run this again`,
    );
  }
  const aptGet = (args: string[]) => {
    const cmd = ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", ...args];
    return isRoot
      ? run(cmd[0]!, cmd.slice(1), { prefix: "apt" })
      : run("sudo", ["-n", ...cmd], { prefix: "apt" });
  };
  say("setup", `installing Debian packages: ${missing.join(" ")}`);
  await aptGet(["update", "-q"]);
  await aptGet(["install", "-y", "-q", "--no-install-recommends", ...missing]);
  for (const pkg of missing) aptPackages[pkg]!();
  return `installed ${missing.join(" ")}`;
}

async function goInstall(
  label: string,
  binary: string,
  module: string,
  version: string,
  versionArgs: string[],
): Promise<string> {
  const current = existsSync(binary) ? await probe(binary, versionArgs) : undefined;
  if (current?.includes(version)) return `${label} ${version} (cached)`;
  if (checkOnly) throw new InstallError(`${label} ${version} is not installed at ${binary}`);
  const go = await probe("go", ["version"]);
  if (!go) {
    throw new InstallError(
      `${label} is built from source with Go, and \`go\` is not on PATH: install Go 1.21+ (https://go.dev/dl), then run this again`,
    );
  }
  say("setup", `building ${label} ${version} with ${go.trim()} (first time only, about a minute)`);
  await run("go", ["install", `${module}@${version}`], {
    env: { ...process.env, GOBIN: join(toolsDir, "bin"), GOFLAGS: "-buildvcs=false" },
    prefix: "go",
  });
  const built = await probe(binary, versionArgs);
  if (!built?.includes(version)) {
    throw new InstallError(`${label} built, but \`${binary} ${versionArgs.join(" ")}\` says ${built}`);
  }
  return `${label} ${version} (built)`;
}

async function ensureJava(): Promise<string> {
  const found = findJavaHome(versions.minJava);
  if (!found) {
    throw new InstallError(
      `Debezium Server needs a JDK ${versions.minJava}+ and none was found (JAVA_HOME, /usr/lib/jvm, PATH): ` +
        `install one (e.g. Temurin ${versions.minJava}) or point JAVA_HOME at it, then run this again`,
    );
  }
  await mkdir(toolsDir, { recursive: true });
  await writeFile(javaHomeCacheFile(), `${found.home}\n`);
  return `JDK ${found.major} at ${found.home}`;
}

async function ensureDebezium(): Promise<string> {
  const home = debeziumHome();
  const runner = join(home, `debezium-server-dist-${versions.debezium}-runner.jar`);
  if (existsSync(runner) && existsSync(join(home, "run.sh")))
    return `Debezium Server ${versions.debezium} (cached)`;
  if (checkOnly) throw new InstallError(`Debezium Server ${versions.debezium} is not installed at ${home}`);
  if (!(await probe("mvn", ["-v"]))) {
    throw new InstallError(
      "Debezium Server comes from Maven Central and `mvn` is not on PATH: install Maven (Debian package maven), then run this again",
    );
  }
  const downloads = join(toolsDir, "downloads");
  const artifact = `io.debezium:debezium-server-dist:${versions.debezium}:tar.gz`;
  say("setup", `fetching ${artifact} from Maven Central (about 780 MB, first time only)`);
  await run(
    "mvn",
    [
      "-B",
      "-ntp",
      "-Dstyle.color=never",
      "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy",
      `-Dartifact=${artifact}`,
      `-DoutputDirectory=${downloads}`,
    ],
    { prefix: "mvn" },
  );
  const tarball = join(downloads, `debezium-server-dist-${versions.debezium}.tar.gz`);
  const staging = `${home}.partial`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  say("setup", "unpacking Debezium Server");
  await run("tar", ["xzf", tarball, "-C", staging], { prefix: "tar" });
  await rm(home, { recursive: true, force: true });
  // The archive holds one folder, debezium-server/; an atomic rename makes a half-unpacked tree impossible.
  await rename(join(staging, "debezium-server"), home);
  await rm(staging, { recursive: true, force: true });
  await rm(tarball, { force: true });
  if (!existsSync(runner)) throw new InstallError(`unpacked Debezium Server but ${runner} is missing`);
  return `Debezium Server ${versions.debezium} (installed)`;
}

/** Our NATS sink, compiled against the distribution (a run would compile it too: this fails early). */
async function ensureDebeziumSink(): Promise<string> {
  const jar = debeziumSinkJar({ home: debeziumHome(), javaHome: tools.javaHome() });
  return `Debezium NATS sink ${basename(jar)}`;
}

/**
 * The Python tools in their own venv, from a lock that pins every package. The venv records the
 * lock's hash once complete; a changed lock (or a venv whose Python is gone) rebuilds it.
 */
async function ensurePythonTools(): Promise<string> {
  const lock = readFileSync(pythonToolsLock, "utf8");
  const want = createHash("sha256").update(lock).digest("hex");
  const dir = pythonToolsDir();
  const stamp = join(dir, "jpw-lock.sha256");
  const pinned = /^schemathesis==(\S+)$/m.exec(lock)?.[1] ?? "?";
  const label = `schemathesis ${pinned} and openapi-spec-validator`;
  const current = existsSync(stamp) && readFileSync(stamp, "utf8").trim() === want;
  if (current && (await probe(join(dir, "bin", "schemathesis"), ["--version"]))?.includes(pinned)) {
    return `${label} (cached)`;
  }
  if (checkOnly) throw new InstallError(`${label} are not installed at ${dir}`);
  const python = python3();
  const version = (await probe(python, ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"]))?.trim();
  const [major = 0, minor = 0] = (version ?? "").split(".").map(Number);
  if (major < 3 || (major === 3 && minor < 11)) {
    throw new InstallError(`schemathesis needs Python 3.11+, and ${python} is ${version ?? "not runnable"}`);
  }
  say("setup", `installing ${label} into a Python ${version} venv (first time only, about a minute)`);
  // A venv cannot be moved once built (its scripts name their interpreter): build it in place,
  // and write the stamp last, so a half-built one is rebuilt by the next run.
  await rm(dir, { recursive: true, force: true });
  await run(python, ["-m", "venv", dir], { prefix: "venv" });
  await run(
    join(dir, "bin", "pip"),
    ["install", "--quiet", "--disable-pip-version-check", "--no-input", "-r", pythonToolsLock],
    { prefix: "pip" },
  );
  await writeFile(stamp, `${want}\n`);
  return `${label} (installed)`;
}

async function main(): Promise<void> {
  const started = performance.now();
  say("setup", `${checkOnly ? "checking" : "installing"} tools into ${toolsDir}`);
  const steps: [string, () => Promise<string>][] = [
    ["debian packages", ensureAptPackages],
    [
      "nats-server",
      () =>
        goInstall("nats-server", natsServerPath(), "github.com/nats-io/nats-server/v2", versions.natsServer, [
          "--version",
        ]),
    ],
    [
      "nats CLI",
      () =>
        goInstall("nats CLI", natsCliPath(), "github.com/nats-io/natscli/nats", versions.natsCli, [
          "--version",
        ]),
    ],
    ["java", ensureJava],
    ["debezium", ensureDebezium],
    ["debezium sink", ensureDebeziumSink],
    ["python tools", ensurePythonTools],
  ];
  let failed = 0;
  for (const [name, step] of steps) {
    const t = performance.now();
    try {
      const result = await step();
      say("setup", `${color.green("ok")} ${result} ${color.dim(seconds(t))}`);
    } catch (err) {
      failed++;
      fail("setup", `${name}: ${(err as Error).message}`);
    }
  }
  if (failed) {
    fail("setup", `${failed} step(s) failed after ${seconds(started)}`);
    process.exit(1);
  }
  say("setup", `${color.green("ready")} in ${seconds(started)}`);
}

await main();
