// Web-standard HTTP helpers: handlers are `(Request) => Promise<Response>`, so they run on any
// runtime and tests call them with `new Request(...)`, no socket needed.
import { type Type, type } from "arktype";
import {
  AppError,
  type FieldError,
  MethodNotAllowedError,
  MisdirectedError,
  NotFoundError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
  ValidationError,
} from "./errors.ts";
import { redactSecrets } from "./redact.ts";

export type Handler = (req: Request) => Promise<Response> | Response;

/**
 * The text of responses built from a string. Reading a web Response body back through its stream
 * costs tens of microseconds per request on Node; the Node adapter (runtime.ts) writes this text
 * directly instead. Deno reads the Response itself.
 */
export const responseText = new WeakMap<Response, string>();

/** A Response with a text body the Node adapter can write without touching the body stream. */
export function textResponse(text: string, init: ResponseInit): Response {
  const res = new Response(text, init);
  responseText.set(res, text);
  return res;
}

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return textResponse(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** The one mapping from errors to RFC 9457 problem responses. Unknown errors are a 500 without internals. */
export function problem(err: unknown, instance?: string): Response {
  const body = problemBody(err, instance);
  return textResponse(JSON.stringify(body), {
    status: body.status,
    headers: { "content-type": "application/problem+json", ...(err instanceof AppError ? err.headers : {}) },
  });
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  /** The write a problem concerns, when it concerns one. */
  operationId?: string;
  /** What is wrong with which field of a 400. */
  errors?: FieldError[];
  [member: string]: unknown;
}

/** The problem object alone, for outcomes that travel as data (the consumer's replies, the operations KV). */
export function problemBody(err: unknown, instance?: string): ProblemBody {
  if (err instanceof AppError) {
    return {
      type: `/problems/${err.type}`,
      title: err.title,
      status: err.status,
      detail: redactSecrets(err.message),
      ...(instance ? { instance } : {}),
      ...err.extra,
    };
  }
  return {
    type: "/problems/internal",
    title: "Internal error",
    status: 500,
    detail: "the server failed to handle this request; it has been logged",
    ...(instance ? { instance } : {}),
  };
}

/** arktype's problems as field errors: `{path: "items.0.price", message: "must be ..."}`. */
export function fieldErrors(errors: type.errors): FieldError[] {
  return [...errors].map((e) => ({
    path: e.path.join("."),
    // arktype says "must be removed" for an undeclared key; to a client it is simply not allowed.
    message: /must be removed/.test(e.problem) ? "is not allowed" : e.problem,
  }));
}

/** Parse at the boundary: the value, or a ValidationError listing every problem. */
export function parseWith<S extends Type>(schema: S, data: unknown, what = "request body"): S["infer"] {
  const out = schema(data);
  if (out instanceof type.errors) {
    const errors = fieldErrors(out);
    throw new ValidationError(
      `${what} is invalid: ${errors.map((e) => `${e.path || "body"} ${e.message}`).join("; ")}`,
      errors,
    );
  }
  return out as S["infer"];
}

/**
 * Reads a JSON body of at most `limit` bytes. 415 unless the content type is JSON, 413 past the
 * limit (checked on Content-Length first, then while reading), 400 for malformed JSON.
 */
export async function readJson(req: Request, limit: number): Promise<unknown> {
  const ct = req.headers.get("content-type") ?? "";
  if (!/^application\/([\w.+-]+\+)?json\b/i.test(ct)) {
    throw new UnsupportedMediaTypeError(
      `send the body as application/json (got ${ct ? `"${ct}"` : "no content type"})`,
    );
  }
  const declared = Number(req.headers.get("content-length") ?? Number.NaN);
  if (declared > limit)
    throw new PayloadTooLargeError(`the body is ${declared} bytes; the limit is ${limit}`);
  // With a declared length within the limit, HTTP framing bounds the body: take it whole, which on
  // the Node adapter skips building a web Request and its body stream. Otherwise (chunked) read it
  // chunk by chunk and stop at the limit.
  const text = Number.isInteger(declared) ? await req.text() : await readText(req, limit);
  if (text.length > limit) throw new PayloadTooLargeError(`the body is over the limit of ${limit} bytes`);
  if (!text.trim()) throw new ValidationError("the body is empty: send a JSON object", [], "malformed-json");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ValidationError(`the body is not valid JSON: ${(err as Error).message}`, [], "malformed-json", {
      cause: err,
    });
  }
}

async function readText(req: Request, limit: number): Promise<string> {
  if (!req.body) return "";
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new PayloadTooLargeError(`the body is over the limit of ${limit} bytes`);
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(chunks.length === 1 ? chunks[0] : concat(chunks, size));
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

export type RouteHandler = (
  req: Request,
  params: Record<string, string>,
  url: URL,
) => Promise<Response> | Response;

interface Route {
  method: string;
  parts: string[];
  handler: RouteHandler;
}

/**
 * A small router: `/api/users/:id` patterns, 404 and 405 as problems, and every thrown error mapped
 * by `problem()`. A GET route answers HEAD too; OPTIONS on a known path answers 204 with `Allow`
 * and runs no handler. `onError` sees unexpected (non-AppError) errors for logging.
 *
 * `elsewhere`: methods other services answer on paths of the same API (public-routes.ts, behind one
 * edge). They count in `Allow` (OPTIONS, 405), and such a request reaching this service is a 421.
 */
export function router(
  routes: [method: string, pattern: string, handler: RouteHandler][],
  onError: (err: unknown, req: Request) => void = () => {},
  elsewhere: readonly (readonly [method: string, pattern: string, service: string])[] = [],
): Handler {
  const misdirected =
    (method: string, service: string): RouteHandler =>
    (_req, _params, url) => {
      throw new MisdirectedError(
        `${method} ${url.pathname} is answered by the ${service}: send it through the edge`,
      );
    };
  const table: Route[] = [
    ...routes,
    ...elsewhere.map(([m, p, service]) => [m, p, misdirected(m, service)] as const),
  ].map(([method, pattern, handler]) => ({
    method,
    parts: pattern.split("/").filter(Boolean),
    handler,
  }));
  return async (req) => {
    const url = new URL(req.url);
    const segments = url.pathname.split("/").filter(Boolean);
    const allowed: string[] = [];
    try {
      for (const r of table) {
        const params = match(r.parts, segments);
        if (!params) continue;
        if (r.method !== req.method && !(r.method === "GET" && req.method === "HEAD")) {
          allowed.push(r.method);
          continue;
        }
        return await r.handler(req, params, url);
      }
      if (allowed.length) {
        const allow = allowedMethods(allowed);
        if (req.method === "OPTIONS") return new Response(null, { status: 204, headers: { allow } });
        throw new MethodNotAllowedError(`${req.method} is not allowed on ${url.pathname}`, allow);
      }
      throw new NotFoundError(`no route for ${req.method} ${url.pathname}`);
    } catch (err) {
      if (!(err instanceof AppError)) onError(err, req);
      return problem(err, url.pathname);
    }
  };
}

/** The `Allow` header of a path: its routes' methods, HEAD with GET, and OPTIONS. */
function allowedMethods(methods: string[]): string {
  const all = new Set(methods);
  if (all.has("GET")) all.add("HEAD");
  all.add("OPTIONS");
  return [...all].join(", ");
}

function match(parts: string[], segments: string[]): Record<string, string> | undefined {
  if (parts.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    const s = segments[i]!;
    if (p.startsWith(":")) params[p.slice(1)] = decodeSegment(s);
    else if (p !== s) return undefined;
  }
  return params;
}

/** A path parameter as text; a broken percent-encoding (`%FF`, `%zz`) is the client's error. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch (err) {
    throw new ValidationError(
      `the path segment "${segment.slice(0, 80)}" is not valid percent-encoded UTF-8`,
      [],
      "malformed-path",
      { cause: err },
    );
  }
}
