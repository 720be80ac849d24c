// The runtime adapter on a real socket, under Node and Deno: what a client controls before any
// handler runs (the Host header and the request target) is answered, never a 500 or another route.
import { once } from "node:events";
import { connect } from "node:net";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type Runtime, startService } from "../testing/service.ts";

/** One raw HTTP/1.1 request (fetch would set Host itself); the status and body of the answer. */
async function raw(url: string, head: string): Promise<{ status: number; body: string }> {
  const { port, hostname } = new URL(url);
  const socket = connect(Number(port), hostname);
  await once(socket, "connect");
  socket.end(`${head}\r\nConnection: close\r\n\r\n`);
  let text = "";
  for await (const chunk of socket) text += chunk;
  return { status: Number(text.split(" ")[1]), body: text.slice(text.indexOf("\r\n\r\n") + 4) };
}

const problemType = (body: string) => (JSON.parse(body) as { type: string }).type;

for (const runtime of ["node", "deno"] as Runtime[]) {
  test(`under ${runtime}, a Host header that is not host[:port] is a 400 problem, never a 500 or another route`, async () => {
    await using svc = await startService({ entry: "services/testing/fixtures/hello-service.ts", runtime });
    // "x/api/users" would have moved GET /healthz to /api/users/healthz (a 404).
    for (const host of ["x/api/users", "a%zz", "x:99999", "[::1"]) {
      const res = await raw(svc.url, `GET /healthz HTTP/1.1\r\nHost: ${host}`);
      assert.is(res.status, 400, `Host: ${host}`);
      assert.is(problemType(res.body), "/problems/invalid-host", `Host: ${host}`);
    }
    assert.is((await raw(svc.url, "GET /healthz HTTP/1.1\r\nHost: api.example:8080")).status, 200);
    assert.is((await raw(svc.url, "GET /healthz HTTP/1.1\r\nHost: [::1]:80")).status, 200);
    assert.is(
      (await raw(svc.url, "GET /healthz HTTP/1.1\r\nHost:")).status,
      200,
      "an empty Host is this server",
    );
  });
}

test("an absolute-form target is served by its path; one that is neither a path nor a URL is a 400 problem", async () => {
  await using svc = await startService({ entry: "services/testing/fixtures/hello-service.ts" });
  assert.is((await raw(svc.url, "GET http://other.example/healthz HTTP/1.1\r\nHost: localhost")).status, 200);
  const res = await raw(svc.url, "OPTIONS * HTTP/1.1\r\nHost: localhost");
  assert.is(res.status, 400);
  assert.is(problemType(res.body), "/problems/invalid-request-target");
});

test.run();
