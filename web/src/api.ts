// The HTTP API as the UI sees it: same origin, JSON in and out, problem+json for errors. Every
// write returns what the UI shows about it: status, operationId, round-trip time, body, problem.
// The shapes of users, orders, problems and operations are the services' own (services/shared).
import type { ProblemBody as Problem } from "../../services/shared/http.ts";
import type { OperationView as Operation } from "../../services/shared/outcome-http.ts";
import type { OrderResult as Order, UserResult as User } from "../../services/shared/writes.ts";

export type { Operation, Order, Problem, User };

/** A page of GET /api/users, /api/orders, /api/users/:id/orders (newest first). */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface WriteResult {
  status: number;
  operationId: string | undefined;
  replayed: boolean;
  location: string | null;
  retryAfter: string | null;
  roundTripMs: number;
  body: unknown;
  problem: Problem | undefined;
}

const isProblem = (res: Response) => (res.headers.get("content-type") ?? "").includes("problem+json");

async function readBody(res: Response): Promise<unknown> {
  const text = await res.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** POSTs a write with its Idempotency-Key; never throws for an HTTP status, only for a dead network. */
export async function postWrite(path: string, body: unknown, idempotencyKey: string): Promise<WriteResult> {
  const started = performance.now();
  const res = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json", "idempotency-key": idempotencyKey },
    body: JSON.stringify(body),
  });
  const parsed = await readBody(res);
  const roundTripMs = performance.now() - started;
  const problem = isProblem(res) ? (parsed as Problem) : undefined;
  const fromBody = (parsed as { operationId?: string } | undefined)?.operationId;
  return {
    status: res.status,
    operationId: fromBody ?? problem?.operationId ?? idempotencyKey,
    replayed: res.headers.get("idempotent-replayed") === "true",
    location: res.headers.get("location"),
    retryAfter: res.headers.get("retry-after"),
    roundTripMs,
    body: parsed,
    problem,
  };
}

export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    message: string,
    readonly status: number,
    readonly problem?: Problem,
  ) {
    super(message);
  }
}

export async function getJson<T>(path: string): Promise<{ data: T; cache: string | null }> {
  const res = await fetch(path, { headers: { accept: "application/json" } });
  const parsed = await readBody(res);
  if (!res.ok) {
    const problem = isProblem(res) ? (parsed as Problem) : undefined;
    throw new ApiError(problem?.detail ?? `${path} answered ${res.status}`, res.status, problem);
  }
  return { data: parsed as T, cache: res.headers.get("x-cache") };
}

export const pageQuery = (limit: number, cursor?: string | null) =>
  `?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
