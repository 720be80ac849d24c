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

test.run();
