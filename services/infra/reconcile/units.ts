// Human durations and sizes in streams.yaml, converted once to what the NATS API wants:
// nanoseconds for durations, bytes for sizes.

const durationUnits: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
  d: 86_400e9,
  w: 604_800e9,
};

/** `30s`, `2m`, `7d`, `1h30m`, `500ms` or `0` → nanoseconds. */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (s === "0") return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d|w)/gy;
  let total = 0;
  let at = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * durationUnits[m[2]!]!;
    at = re.lastIndex;
  }
  if (at === 0 || at !== s.length) {
    throw new Error(
      `Cannot parse duration "${text}": use a number and a unit (ms, s, m, h, d, w), e.g. 30s or 7d`,
    );
  }
  return Math.round(total);
}

/** Nanoseconds → the shortest human form (`7d`, `2m`, `1h30m`), for plans. */
export function formatDuration(ns: number): string {
  if (ns === 0) return "0";
  const parts: string[] = [];
  let rest = ns;
  for (const unit of ["d", "h", "m", "s", "ms", "us", "ns"]) {
    const size = durationUnits[unit]!;
    if (rest >= size) {
      const n = Math.floor(rest / size);
      parts.push(`${n}${unit}`);
      rest -= n * size;
    }
  }
  return parts.join("");
}

const sizeUnits: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

/** `1GiB`, `512MB`, `64KiB`, `1024`, or -1 (unlimited) → bytes. */
export function parseSize(value: string | number): number {
  if (typeof value === "number") {
    if (Number.isInteger(value) && value >= -1) return value;
    throw new Error(`Cannot parse size ${value}: use whole bytes, -1 for unlimited, or a unit such as 1GiB`);
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const unit = sizeUnits[(m?.[2] || "b").toLowerCase()];
  if (!m || unit === undefined) {
    throw new Error(
      `Cannot parse size "${value}": use a number and a unit (B, KiB, MiB, GiB, KB, MB, GB), e.g. 1GiB`,
    );
  }
  return Math.round(Number(m[1]) * unit);
}

/** Bytes → `1GiB`, `64KiB`, or plain bytes, for plans. */
export function formatSize(bytes: number): string {
  if (bytes < 0) return "unlimited";
  for (const unit of ["TiB", "GiB", "MiB", "KiB"]) {
    const size = sizeUnits[unit.toLowerCase()]!;
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}B`;
}

/** Bytes → `58.3MiB`, `912B`: an amount held, to read at a glance rather than to write back. */
export function roughSize(bytes: number): string {
  for (const unit of ["TiB", "GiB", "MiB", "KiB"]) {
    const size = sizeUnits[unit.toLowerCase()]!;
    if (bytes >= size) return `${(bytes / size).toFixed(1).replace(/\.0$/, "")}${unit}`;
  }
  return `${bytes}B`;
}
