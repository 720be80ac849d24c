// Our NATS JetStream sink for Debezium Server (debezium/sink/NatsJetStreamChangeConsumer.java says
// why), compiled against the pinned distribution into the tools folder, once per source and version.
// Its jar goes before the distribution's lib/ on the class path, so the class of that name is ours.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { root, toolsDir } from "./paths.ts";
import { versions } from "./versions.ts";

export const debeziumSinkSource = join(root, "debezium", "sink", "NatsJetStreamChangeConsumer.java");

/**
 * The sink's jar for this source and Debezium version, compiled when missing (a JDK's javac). A
 * deploy ships the jar, so a server with only a Java runtime finds it here and compiles nothing.
 */
export function debeziumSinkJar(o: {
  home: string;
  javaHome: string;
  source?: string;
  dir?: string;
}): string {
  const sourceFile = o.source ?? debeziumSinkSource;
  const hash = createHash("sha256")
    .update(versions.debezium)
    .update(readFileSync(sourceFile))
    .digest("hex")
    .slice(0, 16);
  // Named by content: a changed source is compiled again, never stale.
  const dir = o.dir ?? join(toolsDir, "debezium-sink");
  const jar = join(dir, `jpw-nats-sink-${hash}.jar`);
  if (existsSync(jar)) return jar;

  mkdirSync(dir, { recursive: true });
  const work = mkdtempSync(join(dir, ".build-"));
  try {
    const runner = readdirSync(o.home).find((f) => /^debezium-server-.*-runner\.jar$/.test(f));
    const classPath = [...(runner ? [join(o.home, runner)] : []), join(o.home, "lib", "*")].join(":");
    const classes = join(work, "classes");
    run(o.javaHome, sourceFile, "javac", [
      "--release",
      "17",
      "-Xlint:-options",
      "-cp",
      classPath,
      "-d",
      classes,
      sourceFile,
    ]);
    run(o.javaHome, sourceFile, "jar", ["--create", "--file", join(work, "sink.jar"), "-C", classes, "."]);
    // Several runs may start at once (tests): the rename makes one whole jar win, never a half one.
    renameSync(join(work, "sink.jar"), jar);
    return jar;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** A JDK tool, for `sourceFile`: a missing tool or a failure names the JDK and the source. */
function run(javaHome: string, sourceFile: string, program: string, args: string[]): void {
  const path = join(javaHome, "bin", program);
  if (!existsSync(path)) {
    throw new Error(
      `${path} not found: Debezium's sink (${sourceFile}) is compiled with a JDK's ${program}; ` +
        `install a JDK ${versions.minJava}+ (not only a runtime), then run just setup`,
    );
  }
  const r = spawnSync(path, args, { encoding: "utf8" });
  if (r.status !== 0) {
    throw new Error(`${program} failed for ${sourceFile}:\n${r.stderr || r.stdout || r.error?.message}`);
  }
}
