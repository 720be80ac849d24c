// What one deploy or update ships: a tar the server unpacks and runs server.sh from. Only what the
// server lacks goes in: the commit's files (all of them, or those changed since the deployed
// revision), the UI built here (when its files differ), nats-server and the nats CLI (when their
// versions differ), the rendered config files, and meta.env saying what to do.
import { createHash } from "node:crypto";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { machine, tmpdir } from "node:os";
import { basename, join, relative } from "node:path";
import { debeziumSinkJar, debeziumSinkSource } from "../../services/infra/debezium-sink.ts";
import { root } from "../../services/infra/paths.ts";
import { run } from "../../services/infra/proc.ts";
import { debeziumHome, tools } from "../../services/infra/tools.ts";
import { versions } from "../../services/infra/versions.ts";
import { layout, type ServerSettings } from "./layout.ts";
import {
  autoUpgrades,
  createclusterConf,
  envFile,
  firewallPorts,
  journaldConf,
  nftablesConf,
  packagedServices,
  serverPackages,
  unitFile,
  wrapperScript,
} from "./server-files.ts";
import { shq } from "./ssh.ts";

/**
 * SHA-256 of each Debezium Server distribution the project pins (services/infra/versions.ts), taken
 * from the artifact itself: Maven Central's own .sha1 files are not always reachable, and a checksum
 * committed beside the version is what the server is told to trust.
 */
export const debeziumSha256: Record<string, string> = {
  "3.6.1.Final": "f95567c7107e5ae0a778dce850c36e86487b2c49e131dfc9bbb72c7ac2feb944",
};

export function debeziumDownload(version: string = versions.debezium) {
  const sha256 = debeziumSha256[version];
  if (!sha256) {
    throw new Error(
      `no SHA-256 pinned for Debezium Server ${version}: add it to debeziumSha256 in ops/deploy/bundle.ts (sha256sum of the Maven Central tarball)`,
    );
  }
  const file = `debezium-server-dist-${version}.tar.gz`;
  return {
    version,
    sha256,
    file,
    url: `https://repo1.maven.org/maven2/io/debezium/debezium-server-dist/${version}/${file}`,
  };
}

/** What the server says it runs (its deployed.env), when anything. */
export interface Deployed {
  REVISION?: string;
  WEB_HASH?: string;
  NATS_SERVER_VERSION?: string;
  NATS_CLI_VERSION?: string;
  DEBEZIUM_VERSION?: string;
}

export interface BundleOptions {
  mode: "deploy" | "update";
  commit: string;
  deployed: Deployed;
  settings: ServerSettings;
  allowDestructive?: boolean;
  log?: (line: string) => void;
}

export interface Bundle {
  file: string;
  /** One line per part, for the person watching. */
  summary: string[];
  webHash: string;
  dispose(): void;
}

const git = (args: string[]) => run("git", args, { cwd: root, prefix: false });

export async function buildBundle(o: BundleOptions): Promise<Bundle> {
  const log = o.log ?? (() => {});
  const work = mkdtempSync(join(tmpdir(), "jpw-bundle-"));
  const dispose = () => rmSync(work, { recursive: true, force: true });
  try {
    const dir = join(work, "bundle");
    mkdirSync(join(dir, "files"), { recursive: true });
    const summary: string[] = [];

    // Code: the whole commit, or what changed since the deployed one (when this clone has it).
    const base = o.mode === "update" ? o.deployed.REVISION : undefined;
    const haveBase =
      base !== undefined &&
      (await git(["cat-file", "-e", `${base}^{commit}`]).then(
        () => true,
        () => false,
      ));
    let full = true;
    const changed: string[] = [];
    const removed: string[] = [];
    if (base && haveBase) {
      full = false;
      const lines = (await git(["diff", "--name-status", "--no-renames", base, o.commit])).filter(Boolean);
      for (const line of lines) {
        const [status, path] = line.split("\t") as [string, string];
        (status === "D" ? removed : changed).push(path);
      }
      summary.push(`code: ${changed.length} changed, ${removed.length} removed since ${base.slice(0, 12)}`);
    } else {
      summary.push(
        `code: the whole commit ${o.commit.slice(0, 12)}${base ? ` (${base.slice(0, 12)} is not in this clone)` : ""}`,
      );
    }
    await git([
      "archive",
      "--format=tar",
      "-o",
      join(dir, "code.tar"),
      o.commit,
      ...(full ? [] : ["--", ...changed]),
    ]);
    if (!full && changed.length === 0) {
      // git archive with no paths would pack everything: ship an empty tar instead.
      await run("tar", ["-cf", join(dir, "code.tar"), "-T", "/dev/null"], { prefix: false });
    }
    writeFileSync(join(dir, "changed.txt"), changed.map((f) => `${f}\n`).join(""));
    writeFileSync(join(dir, "removed.txt"), removed.map((f) => `${f}\n`).join(""));

    // The UI, built here from the commit itself: the server installs no dev dependencies (vite).
    log("building the UI of the commit (vite)");
    const src = join(work, "src");
    mkdirSync(src);
    await git(["archive", "--format=tar", "-o", join(work, "src.tar"), o.commit]);
    await run("tar", ["-xf", join(work, "src.tar"), "-C", src], { prefix: false });
    symlinkSync(join(root, "node_modules"), join(src, "node_modules"));
    await run(join(root, "node_modules", ".bin", "vite"), ["build", "--logLevel", "error"], {
      cwd: join(src, "web"),
      prefix: false,
    });
    const dist = join(src, "web", "dist");
    const webHash = hashTree(dist);
    if (full || webHash !== o.deployed.WEB_HASH) {
      await run("tar", ["-cf", join(dir, "web.tar"), "-C", dist, "."], { prefix: false });
      summary.push(`UI: built, ${webHash.slice(0, 12)}`);
    } else {
      summary.push("UI: unchanged");
    }

    // nats-server and the nats CLI, built here with Go (ops/install.ts), shipped when they differ.
    if (
      o.deployed.NATS_SERVER_VERSION !== versions.natsServer ||
      o.deployed.NATS_CLI_VERSION !== versions.natsCli
    ) {
      mkdirSync(join(dir, "tools"));
      copyFileSync(tools.natsServer(), join(dir, "tools", "nats-server"));
      copyFileSync(tools.nats(), join(dir, "tools", "nats"));
      summary.push(`tools: nats-server ${versions.natsServer}, nats CLI ${versions.natsCli}`);
    } else {
      summary.push("tools: unchanged");
    }

    // Debezium's NATS sink, compiled here from the commit's source (a JDK; the server has only a
    // Java runtime) and shipped every time: a few kilobytes, named by its content.
    const sink = debeziumSinkJar({
      home: debeziumHome(),
      javaHome: tools.javaHome(),
      source: join(src, relative(root, debeziumSinkSource)),
    });
    mkdirSync(join(dir, "sink"));
    copyFileSync(sink, join(dir, "sink", basename(sink)));
    summary.push(`Debezium sink: ${basename(sink)}`);

    const files: Record<string, string> = {
      "jpw.service": unitFile(),
      "jpw.env": envFile(o.settings),
      jpw: wrapperScript(),
      "nftables.conf": nftablesConf(firewallPorts(o.settings)),
      "20auto-upgrades": autoUpgrades.periodic,
      "52jpw-unattended-upgrades": autoUpgrades.origins,
      "journald.conf": journaldConf,
      "createcluster.conf": createclusterConf,
    };
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, "files", name), text);

    const debezium = debeziumDownload();
    const meta: Record<string, string> = {
      MODE: o.mode,
      FULL: full ? "1" : "0",
      REVISION: o.commit,
      BASE: base ?? "",
      WEB_HASH: webHash,
      ARCH: machine(),
      ALLOW_DESTRUCTIVE: o.allowDestructive ? "1" : "0",
      JPW_USER: layout.user,
      HOME_DIR: layout.home,
      RELEASES: layout.releases,
      CURRENT: layout.current,
      TOOLS: layout.tools,
      DEPLOYED_FILE: layout.deployedFile,
      DATA: layout.data,
      ETC: layout.etc,
      ENV_FILE: layout.envFile,
      UNIT_NAME: layout.unitName,
      UNIT_FILE: layout.unitFile,
      CACHE: layout.cache,
      WRAPPER: layout.wrapper,
      PACKAGES: serverPackages.join(" "),
      MASK: packagedServices.join(" "),
      NATS_SERVER_VERSION: versions.natsServer,
      NATS_CLI_VERSION: versions.natsCli,
      DEBEZIUM_VERSION: debezium.version,
      DEBEZIUM_URL: debezium.url,
      DEBEZIUM_SHA256: debezium.sha256,
      DEBEZIUM_FILE: debezium.file,
    };
    writeFileSync(
      join(dir, "meta.env"),
      Object.entries(meta)
        .map(([k, v]) => `${k}=${shq(v)}\n`)
        .join(""),
    );
    copyFileSync(join(root, "ops", "deploy", "server.sh"), join(dir, "server.sh"));

    const file = join(work, "bundle.tar");
    await run("tar", ["-cf", file, "-C", dir, "."], { prefix: false });
    return { file, summary, webHash, dispose };
  } catch (err) {
    dispose();
    throw err;
  }
}

/** One hash over a folder's file names and contents, independent of timestamps. */
export function hashTree(dir: string): string {
  const h = createHash("sha256");
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        h.update(`${relative(dir, p)}\0`);
        h.update(readFileSync(p));
        h.update("\0");
      }
    }
  };
  walk(dir);
  return h.digest("hex");
}
