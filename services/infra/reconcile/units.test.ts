import { suite } from "uvu";
import * as assert from "uvu/assert";
import { formatDuration, formatSize, parseDuration, parseSize, roughSize } from "./units.ts";

const durations = suite("durations");

durations("human durations become nanoseconds", () => {
  assert.is(parseDuration("30s"), 30e9);
  assert.is(parseDuration("2m"), 120e9);
  assert.is(parseDuration("7d"), 7 * 86_400e9);
  assert.is(parseDuration("1h30m"), 5_400e9);
  assert.is(parseDuration("500ms"), 500e6);
  assert.is(parseDuration("1.5s"), 1.5e9);
  assert.is(parseDuration("0"), 0);
});

durations("a duration without a unit or with an unknown one is refused with an example", () => {
  assert.throws(() => parseDuration("30"), /Cannot parse duration "30".*e\.g\. 30s/);
  assert.throws(() => parseDuration("7 days"), /Cannot parse duration "7 days"/);
  assert.throws(() => parseDuration("1y"), /Cannot parse duration/);
  assert.throws(() => parseDuration(""), /Cannot parse duration/);
});

durations("nanoseconds read back as the shortest human form", () => {
  assert.is(formatDuration(7 * 86_400e9), "7d");
  assert.is(formatDuration(5_400e9), "1h30m");
  assert.is(formatDuration(120e9), "2m");
  assert.is(formatDuration(250e6), "250ms");
  assert.is(formatDuration(0), "0");
});

durations.run();

const sizes = suite("sizes");

sizes("binary and decimal units become bytes", () => {
  assert.is(parseSize("1GiB"), 1024 ** 3);
  assert.is(parseSize("256KiB"), 256 * 1024);
  assert.is(parseSize("512MB"), 512e6);
  assert.is(parseSize("1024"), 1024);
  assert.is(parseSize(2048), 2048);
  assert.is(parseSize(-1), -1);
  assert.is(parseSize("1gib"), 1024 ** 3);
});

sizes("an unknown unit or a fraction of a byte is refused", () => {
  assert.throws(() => parseSize("1GB2"), /Cannot parse size/);
  assert.throws(() => parseSize("1 parsec"), /Cannot parse size/);
  assert.throws(() => parseSize(1.5), /whole bytes/);
  assert.throws(() => parseSize(-2), /whole bytes/);
});

sizes("bytes read back in the largest whole binary unit", () => {
  assert.is(formatSize(1024 ** 3), "1GiB");
  assert.is(formatSize(256 * 1024), "256KiB");
  assert.is(formatSize(1000), "1000B");
  assert.is(formatSize(-1), "unlimited");
});

sizes("an amount held reads to one decimal in its largest unit", () => {
  assert.is(roughSize(61_079_552), "58.3MiB");
  assert.is(roughSize(1024 ** 2), "1MiB");
  assert.is(roughSize(912), "912B");
});

sizes.run();
