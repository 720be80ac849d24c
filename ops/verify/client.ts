// One HTTP exchange as the checker records it: the status (or that no answer came), the problem
// type, the operationId and Retry-After a client would act on, and the body.

export interface Answer {
  /** ms since the run started. */
  at: number;
  /** The HTTP status, or 0 when no answer came (refused, reset, timed out). */
  status: number;
  /** The problem type's last segment (`unavailable`, `outcome-unknown`, ...). */
  type?: string;
  operationId?: string;
  retryAfter?: number;
  replayed?: boolean;
  cache?: string;
  body?: unknown;
  /** Why no answer came. */
  error?: string;
  ms: number;
}

export class HttpClient {
  constructor(
    readonly base: string,
    private readonly t0: number,
  ) {}

  post(path: string, body: unknown, headers: Record<string, string>, timeoutMs = 20_000): Promise<Answer> {
    return this.exchange(path, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  }

  get(path: string, timeoutMs = 10_000): Promise<Answer> {
    return this.exchange(path, { signal: AbortSignal.timeout(timeoutMs) });
  }

  private async exchange(path: string, init: RequestInit): Promise<Answer> {
    const started = performance.now();
    const at = Math.round(started - this.t0);
    try {
      const res = await fetch(`${this.base}${path}`, init);
      const text = await res.text();
      let body: unknown = text;
      if (/json/.test(res.headers.get("content-type") ?? "")) {
        try {
          body = JSON.parse(text);
        } catch {}
      }
      const b = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
      const retryAfter = res.headers.get("retry-after");
      return {
        at,
        status: res.status,
        ...(typeof b.type === "string" ? { type: b.type.replace(/^.*\/problems\//, "") } : {}),
        ...(typeof b.operationId === "string" ? { operationId: b.operationId } : {}),
        ...(retryAfter !== null ? { retryAfter: Number(retryAfter) } : {}),
        ...(res.headers.get("idempotent-replayed") === "true" ? { replayed: true } : {}),
        ...(res.headers.get("x-cache") ? { cache: res.headers.get("x-cache")! } : {}),
        body,
        ms: Math.round(performance.now() - started),
      };
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const why = e.name === "TimeoutError" ? "timed out" : (e.cause?.code ?? e.cause?.message ?? e.message);
      return { at, status: 0, error: why, ms: Math.round(performance.now() - started) };
    }
  }
}

/** 503 problem types that say the write was not applied; outcome-unknown says it may have been. */
export const notApplied503 = new Set(["unavailable", "backlog-full"]);
export const unknown503 = "outcome-unknown";

export const describeAnswer = (a: Answer): string =>
  a.status === 0
    ? `no answer (${a.error})`
    : `${a.status}${a.type ? ` ${a.type}` : ""}${a.replayed ? " (replayed)" : ""}`;
