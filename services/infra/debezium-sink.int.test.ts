// Debezium's sink is compiled from the source it is given (a deploy compiles the commit's, not the
// working tree's) into a jar named by that source, once.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { makeTempDir, removeTempDir } from "../testing/process.ts";
import { debeziumSinkJar, debeziumSinkSource } from "./debezium-sink.ts";
import { debeziumHome, tools } from "./tools.ts";

const classFile = "io/debezium/server/nats/jetstream/NatsJetStreamChangeConsumer.class";

test("the sink's jar is compiled from the source given, named by it, and not compiled again", () => {
  const dir = makeTempDir("sink");
  try {
    const o = { home: debeziumHome(), javaHome: tools.javaHome(), dir };
    const other = join(dir, "NatsJetStreamChangeConsumer.java");
    writeFileSync(
      other,
      readFileSync(debeziumSinkSource, "utf8").replace("jetstream-pg-writer sink", "revision B sink"),
    );

    const ours = debeziumSinkJar(o);
    const theirs = debeziumSinkJar({ ...o, source: other });
    assert.is.not(ours, theirs);
    // The class's strings, as compiled into the jar.
    const strings = (jar: string) => {
      const out = mkdtempSync(join(dir, "extract-"));
      const r = spawnSync(join(o.javaHome, "bin", "jar"), ["--extract", "--file", jar, classFile], {
        cwd: out,
      });
      assert.is(r.status, 0, r.stderr?.toString());
      return readFileSync(join(out, classFile)).toString("latin1");
    };
    assert.ok(strings(ours).includes("jetstream-pg-writer sink"));
    assert.ok(strings(theirs).includes("revision B sink"));

    const compiledAt = statSync(ours).mtimeMs;
    assert.is(debeziumSinkJar(o), ours);
    assert.is(statSync(ours).mtimeMs, compiledAt);
  } finally {
    removeTempDir(dir);
  }
});

test.run();
