// The edges of the shared HTTP code, called with `new Request(...)`: no socket, no server.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { json, readJson, router } from "./http.ts";

const limit = 64;
const calls: string[] = [];
const unexpected: unknown[] = [];

const handler = router(
  [
    [
      "GET",
      "/api/users/:id",
      (_req, params) => {
        calls.push(`GET ${params.id}`);
        return json({ id: params.id });
      },
    ],
    [
      "POST",
      "/api/users",
      async (req) => {
        calls.push("POST");
        return json(await readJson(req, limit), 201);
      },
    ],
    [
      "GET",
      "/api/boom",
      () => {
        throw new Error("connection string postgres://secret@db");
      },
    ],
  ],
  (err) => unexpected.push(err),
);

const base = "http://service";

async function send(path: string, init?: RequestInit) {
  const res = await handler(new Request(`${base}${path}`, init));
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    text,
    body: (text ? JSON.parse(text) : undefined) as Record<string, unknown> | undefined,
  };
}

const postJson = (
  body: string | ReadableStream<Uint8Array>,
  headers: Record<string, string> = {},
): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body,
  ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
});

test.before.each(() => {
  calls.length = 0;
  unexpected.length = 0;
});

test("an unknown path is a 404 problem naming the method and the path", async () => {
  const r = await send("/api/nothing");
  assert.is(r.status, 404);
  assert.is(r.headers.get("content-type"), "application/problem+json");
  assert.is(r.body?.type, "/problems/not-found");
  assert.is(r.body?.detail, "no route for GET /api/nothing");
  assert.is(r.body?.instance, "/api/nothing");
});

test("a method the path does not serve is a 405 whose Allow lists what it serves", async () => {
  const r = await send("/api/users/42", { method: "DELETE" });
  assert.is(r.status, 405);
  assert.is(r.body?.type, "/problems/method-not-allowed");
  assert.is(r.headers.get("allow"), "GET, HEAD, OPTIONS");
  assert.is((await send("/api/users", { method: "PUT" })).headers.get("allow"), "POST, OPTIONS");
  assert.equal(calls, []);
});

test("HEAD on a GET route is answered by the GET handler", async () => {
  const r = await send("/api/users/42", { method: "HEAD" });
  assert.is(r.status, 200);
  assert.is(r.headers.get("content-type"), "application/json");
  assert.equal(calls, ["GET 42"]);
});

test("OPTIONS on a route answers 204 with Allow and runs no handler", async () => {
  const r = await send("/api/users/42", { method: "OPTIONS" });
  assert.is(r.status, 204);
  assert.is(r.headers.get("allow"), "GET, HEAD, OPTIONS");
  assert.is(r.text, "");
  assert.is((await send("/api/users", { method: "OPTIONS" })).headers.get("allow"), "POST, OPTIONS");
  assert.equal(calls, []);
  assert.is((await send("/api/nothing", { method: "OPTIONS" })).status, 404);
});

test("a body declared larger than the limit is a 413", async () => {
  const r = await send("/api/users", postJson("{}", { "content-length": String(limit + 1) }));
  assert.is(r.status, 413);
  assert.is(r.body?.type, "/problems/payload-too-large");
  assert.match(String(r.body?.detail), `the body is ${limit + 1} bytes; the limit is ${limit}`);
});

test("a chunked body that grows past the limit is a 413 while it is read", async () => {
  const chunk = new TextEncoder().encode(`"${"x".repeat(40)}"`);
  let pulled = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      pulled++;
      c.enqueue(chunk);
    },
  });
  const r = await send("/api/users", postJson(body));
  assert.is(r.status, 413);
  assert.is(r.body?.type, "/problems/payload-too-large");
  // An endless body: reading stopped at the limit.
  assert.ok(pulled < 10);
});

test("a chunked body within the limit is read whole", async () => {
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new TextEncoder().encode('{"name":'));
      c.enqueue(new TextEncoder().encode('"Ada"}'));
      c.close();
    },
  });
  const r = await send("/api/users", postJson(body));
  assert.is(r.status, 201);
  assert.equal(r.body, { name: "Ada" });
});

test("a body that is not JSON by its content type is a 415", async () => {
  const r = await send("/api/users", {
    method: "POST",
    headers: { "content-type": "text/plain" },
    body: "{}",
  });
  assert.is(r.status, 415);
  assert.is(r.body?.type, "/problems/unsupported-media-type");
  assert.match(String(r.body?.detail), '"text/plain"');
});

test("malformed JSON and an empty body are 400 malformed-json", async () => {
  const broken = await send("/api/users", postJson('{"name": '));
  assert.is(broken.status, 400);
  assert.is(broken.body?.type, "/problems/malformed-json");
  const empty = await send("/api/users", postJson(" "));
  assert.is(empty.status, 400);
  assert.is(empty.body?.type, "/problems/malformed-json");
});

test("a path parameter arrives percent-decoded", async () => {
  const r = await send("/api/users/a%20b");
  assert.equal(r.body, { id: "a b" });
});

test("a path that is not valid percent-encoding is a 400 malformed-path, not a 500", async () => {
  const r = await send("/api/users/%FF");
  assert.is(r.status, 400);
  assert.is(r.body?.type, "/problems/malformed-path");
  assert.match(String(r.body?.detail), '"%FF"');
  assert.equal(calls, []);
  assert.equal(unexpected, []);
});

test("an unexpected error is a 500 that tells nothing internal, and onError sees it", async () => {
  const r = await send("/api/boom");
  assert.is(r.status, 500);
  assert.is(r.body?.type, "/problems/internal");
  assert.not.match(r.text, /secret/);
  assert.is(unexpected.length, 1);
});

test.run();
