// Metadata keys of streams.yaml that mean something beyond the server: the reconciler checks their
// values and plans with them. The services read the same keys at run time from the stream info.
import { parseDuration, parseSize } from "./units.ts";

/** `derived`: the stream holds data rebuilt or compensated from elsewhere, so it may skip fsync. */
export const durabilityKey = "jpw.durability";
export const derived = "derived";

/** Applied history the keeper keeps in a command log (a duration, a size); absent = unlimited. */
export const historyMaxAgeKey = "jpw.history.max_age";
export const historyMaxBytesKey = "jpw.history.max_bytes";

/** On a writer consumer: the backlog (pending + unacknowledged) at which the producer answers 503. */
export const backlogMaxMsgsKey = "jpw.backlog.max_msgs";

/** Why a value of one of our keys cannot be used, or undefined when it can (or the key is not ours). */
export function metadataProblem(key: string, value: string): string | undefined {
  try {
    if (key === durabilityKey && value !== derived) {
      return `must be "${derived}" (the only kind this tool knows), or left out`;
    }
    if (key === historyMaxAgeKey) parseDuration(value);
    if (key === historyMaxBytesKey) parseSize(value);
    if (key === backlogMaxMsgsKey && !/^[1-9]\d*$/.test(value)) return "must be a whole number above 0";
  } catch (err) {
    return (err as Error).message;
  }
  return undefined;
}

/**
 * The history keeper's limits in a stream's metadata, in nanoseconds and bytes; 0 = unlimited, as
 * is a value that does not parse (made by hand on the server: the keeper cannot use it either).
 */
export function historyLimits(metadata: Record<string, string>): { maxAge: number; maxBytes: number } {
  const read = (key: string, parse: (v: string) => number) => {
    try {
      const v = metadata[key];
      return v === undefined ? 0 : Math.max(0, parse(v));
    } catch {
      return 0;
    }
  };
  return { maxAge: read(historyMaxAgeKey, parseDuration), maxBytes: read(historyMaxBytesKey, parseSize) };
}
