// Which Postgres failures are worth another delivery, and how long to wait before it. The defect
// to avoid: classifying by message text or SQLSTATE alone, so a refused socket (no SQLSTATE) was
// acked as permanent and the write lost. Here only errors that a given row will always cause are
// permanent; everything else, including what we did not foresee, is retried.

const connectionCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
]);

/** Postgres is unreachable or going away: stop pulling until it answers again. */
export function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== "string") return false;
  // 08xxx connection exceptions, 57P01-57P03 admin/crash shutdown, cannot connect now.
  return connectionCodes.has(code) || code.startsWith("08") || /^57P0[123]$/.test(code);
}

/**
 * A data or integrity error that this row will raise every time (class 22 data exception, class 23
 * integrity violation). Retrying cannot help; in a batch it means "apply one by one".
 */
export function isRowError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" && (code.startsWith("22") || code.startsWith("23"));
}

export const isForeignKeyViolation = (err: unknown) => (err as { code?: unknown }).code === "23503";

export interface RetryPolicy {
  baseMs: number;
  maxMs: number;
}

/** Delay before the next delivery: base × 2^(n−1), capped; `deliveryCount` is 1-based. */
export function retryDelay(deliveryCount: number, policy: RetryPolicy): number {
  const exp = Math.min(Math.max(deliveryCount, 1) - 1, 30);
  return Math.min(policy.maxMs, policy.baseMs * 2 ** exp);
}

export function describe(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === "string" ? ` (${e.code})` : "";
  return `${typeof e.message === "string" ? e.message : String(err)}${code}`;
}
