// The one module that knows which runtime it is on. Everything else uses web APIs, `node:`
// specifiers and npm packages, which Node (tsx) and Deno both provide.
import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { PayloadTooLargeError, ValidationError } from "./errors.ts";
import type { Handler } from "./http.ts";
import { problem, responseText } from "./http.ts";

interface DenoLike {
  version: { deno: string };
  serve(
    opts: { port: number; hostname: string; onListen?: (addr: { port: number }) => void },
    handler: (req: Request) => Response | Promise<Response>,
  ): { addr: { port: number }; shutdown(): Promise<void>; finished: Promise<void> };
  addSignalListener(signal: string, fn: () => void): void;
}

const deno = (globalThis as { Deno?: DenoLike }).Deno;

export const runtime = deno ? `deno ${deno.version.deno}` : `node ${process.versions.node}`;

export interface ServeOptions {
  port: number;
  hostname: string;
  /**
   * Hard cap on a buffered request body. Handlers enforce their own (smaller) limit; this only keeps
   * a client from making the Node adapter buffer without bound.
   */
  maxBodyBytes?: number;
}

export interface Served {
  port: number;
  url: string;
  /** Stops accepting, lets in-flight requests finish (up to `graceMs`), then closes. */
  close(graceMs?: number): Promise<void>;
}

export function serve(handler: Handler, opts: ServeOptions): Promise<Served> {
  return deno ? serveDeno(deno, handler, opts) : serveNode(handler, opts);
}

/** Runs `fn` once on SIGTERM or SIGINT. */
export function onShutdown(fn: (signal: string) => void): void {
  let fired = false;
  const fire = (signal: string) => {
    if (fired) return;
    fired = true;
    fn(signal);
  };
  for (const signal of ["SIGTERM", "SIGINT"]) {
    if (deno) deno.addSignalListener(signal, () => fire(signal));
    else process.once(signal, () => fire(signal));
  }
}

async function serveDeno(d: DenoLike, handler: Handler, opts: ServeOptions): Promise<Served> {
  let listening: (port: number) => void = () => {};
  const ready = new Promise<number>((r) => {
    listening = r;
  });
  const server = d.serve(
    { port: opts.port, hostname: opts.hostname, onListen: (a) => listening(a.port) },
    (req) => {
      try {
        // Deno builds req.url from the Host header itself: hold it to the same rule as Node.
        checkHost(req.headers.get("host"), req.url);
      } catch (err) {
        return problem(err);
      }
      return Promise.resolve(handler(req)).catch((err) => problem(err));
    },
  );
  const port = await ready;
  return {
    port,
    url: `http://${opts.hostname}:${port}`,
    close: async (graceMs = 10_000) => {
      await Promise.race([server.shutdown(), new Promise((r) => setTimeout(r, graceMs))]);
    },
  };
}

async function serveNode(handler: Handler, opts: ServeOptions): Promise<Served> {
  const cap = opts.maxBodyBytes ?? 1024 * 1024;
  const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    handleNode(handler, req, res, cap, opts.hostname).catch(() => res.destroy());
  });
  server.listen(opts.port, opts.hostname);
  await once(server, "listening");
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `http://${opts.hostname}:${port}`,
    close: async (graceMs = 10_000) => {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}

/**
 * What a handler sees on Node: the parts of a web Request it uses (method, url, headers, text/json
 * of the already-buffered body), built lazily. A full undici Request (with its AbortSignal and body
 * stream) costs more than the rest of a small request together; it is built only when a handler
 * reaches for something else (`body`, `signal`, `clone`, ...).
 */
class NodeRequest {
  #headers: Headers | undefined;
  #full: Request | undefined;

  constructor(
    private incoming: IncomingMessage,
    private buffered: Uint8Array | undefined,
    private aborted: () => AbortSignal,
    readonly url: string,
  ) {}

  get method(): string {
    return this.incoming.method ?? "GET";
  }

  get headers(): Headers {
    if (!this.#headers) {
      const h = new Headers();
      const raw = this.incoming.rawHeaders;
      for (let i = 0; i < raw.length; i += 2) h.append(raw[i]!, raw[i + 1]!);
      this.#headers = h;
    }
    return this.#headers;
  }

  text(): Promise<string> {
    return Promise.resolve(this.buffered ? decoder.decode(this.buffered) : "");
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    const b = this.buffered ?? new Uint8Array();
    return Promise.resolve(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
  }

  get full(): Request {
    this.#full ??= new Request(this.url, {
      method: this.method,
      headers: this.headers,
      body: this.buffered?.byteLength ? this.buffered : null,
      signal: this.aborted(),
    });
    return this.#full;
  }

  get body() {
    return this.full.body;
  }

  get signal() {
    return this.full.signal;
  }

  clone() {
    return this.full.clone();
  }
}

const decoder = new TextDecoder();

async function handleNode(
  handler: Handler,
  req: IncomingMessage,
  res: ServerResponse,
  cap: number,
  hostname: string,
): Promise<void> {
  // An AbortSignal is costly to create on Node: only requests that ask for one get it.
  let aborted: AbortController | undefined;
  const signal = () => {
    if (!aborted) {
      const ac = new AbortController();
      res.once("close", () => {
        if (!res.writableFinished) ac.abort();
      });
      aborted = ac;
    }
    return aborted.signal;
  };
  let response: Response;
  try {
    const url = requestUrl(req, hostname);
    const body = req.method === "GET" || req.method === "HEAD" ? undefined : await readBody(req, cap);
    // A structural stand-in for Request: see NodeRequest.
    response = await handler(new NodeRequest(req, body, signal, url) as unknown as Request);
  } catch (err) {
    response = problem(err);
  }
  const out: Record<string, string> = {};
  response.headers.forEach((v, k) => {
    out[k] = v;
  });
  const text = responseText.get(response);
  if (text !== undefined) {
    // One write with a Content-Length: no chunked framing, no body stream.
    out["content-length"] = String(Buffer.byteLength(text));
    res.writeHead(response.status, out);
    res.end(req.method === "HEAD" ? undefined : text);
    return;
  }
  res.writeHead(response.status, out);
  if (!response.body || req.method === "HEAD") {
    // A stream that is not sent must still end: its source may hold resources (an event feed client).
    void response.body?.cancel().catch(() => {});
    res.end();
    return;
  }
  // Streamed bodies (Server-Sent Events) are written chunk by chunk and cancelled when the client leaves.
  const reader = response.body.getReader();
  res.once("close", () => {
    if (!res.writableFinished) void reader.cancel().catch(() => {});
  });
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (!res.write(value)) await once(res, "drain");
  }
  res.end();
}

// RFC 9110 host [":" port]: a registered name (unreserved, sub-delims, percent-encoding), an IPv4
// address, or an IP literal in brackets.
const hostHeader = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=%]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * The absolute URL of a request, from its Host header and origin-form target ("/path?query"), or
 * its absolute-form target. Anything else is a 400 rather than a URL that fails to parse later (a
 * 500) or, worse, parses into another path: a Host of "x/api/users" would move the request to
 * another route.
 */
function requestUrl(req: Pick<IncomingMessage, "headers" | "url">, hostname: string): string {
  const target = req.url ?? "/";
  // absolute-form (what clients send to a proxy), which a server must accept: its authority
  // replaces the Host header.
  if (/^https?:\/\//i.test(target) && URL.canParse(target)) return new URL(target).href;
  if (!target.startsWith("/")) {
    throw new ValidationError(
      `the request target "${target.slice(0, 80)}" is not a path: send the path and query only`,
      [],
      "invalid-request-target",
    );
  }
  // An empty Host (allowed when the target names no authority) means this server.
  const host = req.headers.host || (hostname.includes(":") ? `[${hostname}]` : hostname);
  const url = `http://${host}${target}`;
  checkHost(host, url);
  return url;
}

function checkHost(host: string | null, url: string): void {
  if (host && (!hostHeader.test(host) || !URL.canParse(url))) {
    throw new ValidationError(
      `the Host header "${host.slice(0, 80)}" is not a host name or address with an optional port`,
      [],
      "invalid-host",
    );
  }
}

async function readBody(req: IncomingMessage, cap: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > cap) throw new PayloadTooLargeError(`the body is over the limit of ${cap} bytes`);
    chunks.push(chunk as Buffer);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}
