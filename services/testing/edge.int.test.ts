import { once } from "node:events";
import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { startEdge } from "./edge.ts";
import { makeTempDir, removeTempDir } from "./process.ts";

async function upstream(name: string): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end(`${name} ${req.method} ${req.url}`);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server };
}

test("the edge sends writes to the producer, reads to the reader and serves the UI at /", async () => {
  const producer = await upstream("producer");
  const reader = await upstream("reader");
  const web = makeTempDir("web");
  writeFileSync(join(web, "index.html"), "<!doctype html><title>ui</title>");
  await using edge = await startEdge({ producerUrl: producer.url, readerUrl: reader.url, webRoot: web });

  const post = await fetch(`${edge.url}/api/users`, { method: "POST", body: "{}" });
  assert.is(await post.text(), "producer POST /api/users");
  const get = await fetch(`${edge.url}/api/users?limit=2`);
  assert.is(await get.text(), "reader GET /api/users?limit=2");
  const ui = await fetch(`${edge.url}/`);
  assert.match(await ui.text(), /<title>ui<\/title>/);
  const deepLink = await fetch(`${edge.url}/users/123`);
  assert.match(await deepLink.text(), /<title>ui<\/title>/, "unknown paths fall back to the UI");

  producer.server.close();
  reader.server.close();
  removeTempDir(web);
});

test("a write the producer cannot answer is 503 outcome-unknown naming its key; a read, 503 unavailable; never a bare 502", async () => {
  // A producer that takes the request and dies before answering, as a killed process does.
  const keys: string[] = [];
  const dying = createServer((req, res) => {
    keys.push(String(req.headers["idempotency-key"]));
    req.socket.destroy();
    res.end();
  });
  dying.listen(0, "127.0.0.1");
  await once(dying, "listening");
  const producerUrl = `http://127.0.0.1:${(dying.address() as { port: number }).port}`;
  // A reader that is not there at all (a closed port).
  const gone = createServer();
  gone.listen(0, "127.0.0.1");
  await once(gone, "listening");
  const readerUrl = `http://127.0.0.1:${(gone.address() as { port: number }).port}`;
  gone.close();
  const web = makeTempDir("web");
  writeFileSync(join(web, "index.html"), "<!doctype html><title>ui</title>");
  await using edge = await startEdge({ producerUrl, readerUrl, webRoot: web });

  const key = crypto.randomUUID();
  const keyed = await fetch(`${edge.url}/api/users`, {
    method: "POST",
    headers: { "idempotency-key": key, "content-type": "application/json" },
    body: "{}",
  });
  assert.is(keyed.status, 503);
  assert.is(keyed.headers.get("content-type"), "application/problem+json");
  assert.is(keyed.headers.get("retry-after"), "1");
  const problem = (await keyed.json()) as Record<string, string>;
  assert.is(problem.type, "/problems/outcome-unknown");
  assert.is(problem.operationId, key);
  assert.ok(problem.detail?.includes(`Idempotency-Key: ${key}`));

  // Without a key, the edge gave the request one, and names it.
  const keyless = await fetch(`${edge.url}/api/users`, { method: "POST", body: "{}" });
  const named = (await keyless.json()) as Record<string, string>;
  assert.is(named.type, "/problems/outcome-unknown");
  assert.match(
    named.operationId ?? "",
    /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
  );
  assert.ok(keys.includes(named.operationId!), "the producer received the key the edge named");

  // A key the producer would refuse was never applied.
  const badKey = await fetch(`${edge.url}/api/users`, {
    method: "POST",
    headers: { "idempotency-key": 'not-a-uuid"}' },
    body: "{}",
  });
  assert.is(badKey.status, 503);
  assert.is(((await badKey.json()) as Record<string, string>).type, "/problems/unavailable");

  const read = await fetch(`${edge.url}/api/users`);
  assert.is(read.status, 503);
  assert.is(read.headers.get("retry-after"), "1");
  assert.is(((await read.json()) as Record<string, string>).type, "/problems/unavailable");
  // The UI is not the services': it is served as before.
  assert.match(await (await fetch(`${edge.url}/`)).text(), /<title>ui<\/title>/);

  dying.close();
  removeTempDir(web);
});

test.run();
