// Waiting with a deadline for what becomes true later: a server ready, a row landed, a process
// gone, a 202 that lands. One loop for the harness, the tests, the local stack and the benchmarks.

export interface UntilOptions {
  /** Pause between two checks (ms). */
  intervalMs?: number;
  /** Asked before every check: an error to stop with at once (the process being waited for exited). */
  giveUp?: () => Error | undefined;
}

export class DeadlineError extends Error {
  override name = "DeadlineError";
}

/**
 * Calls `check` until it returns something other than undefined, null or false, and resolves with
 * that. A check that throws counts as "not yet"; when `timeoutMs` passes, the DeadlineError names
 * `what` and the last error (also its `cause`).
 */
export async function until<T>(
  check: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 30_000,
  what = "the condition",
  o: UntilOptions = {},
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  while (performance.now() < deadline) {
    const stop = o.giveUp?.();
    if (stop) throw stop;
    try {
      const v = await check();
      if (v !== undefined && v !== null && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 50));
  }
  throw new DeadlineError(
    `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (${(last as Error).message})` : ""}`,
    last ? { cause: last } : undefined,
  );
}
