import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Spool } from "./spool.ts";

const dir = mkdtempSync(join(tmpdir(), "jpw-spool-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test("records come back in the order added, in batches, including ones larger than a read", async () => {
  const spool = await Spool.create(join(dir, "a.spool"));
  const sizes = [0, 1, 300, 2 << 20, 17, 1 << 20, 5];
  let seq = 1e12;
  for (const size of sizes) await spool.add(seq++, new Uint8Array(size).fill(size % 251));
  const got: { seq: number; size: number; ok: boolean }[] = [];
  for await (const batch of spool.batches(3)) {
    assert.ok(batch.length <= 3);
    for (const r of batch)
      got.push({ seq: r.seq, size: r.data.length, ok: r.data.every((b) => b === r.data.length % 251) });
  }
  assert.equal(
    got,
    sizes.map((size, i) => ({ seq: 1e12 + i, size, ok: true })),
  );
  assert.is(spool.count, sizes.length);
  await spool.close();
});

test("an empty spool yields nothing", async () => {
  const spool = await Spool.create(join(dir, "b.spool"));
  const batches = [];
  for await (const b of spool.batches(10)) batches.push(b);
  assert.equal(batches, []);
  await spool.close();
});

test.run();
