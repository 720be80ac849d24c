import { test } from "uvu";
import * as assert from "uvu/assert";
import { type Runtime, startService } from "./service.ts";

for (const runtime of ["node", "deno"] as Runtime[]) {
  test(`a service entry point runs under ${runtime} from the same source, and stops cleanly on SIGTERM`, async () => {
    const svc = await startService({ entry: "services/testing/fixtures/hello-service.ts", runtime });
    const info = (await (await fetch(`${svc.url}/runtime`)).json()) as { runtime: string };
    assert.match(info.runtime, new RegExp(`^${runtime} `));
    const ready = await fetch(`${svc.url}/readyz`);
    assert.is(ready.status, 200);
    const echo = await fetch(`${svc.url}/echo`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ hello: "world" }),
    });
    assert.equal(await echo.json(), { echo: { hello: "world" } });
    const tooBig = await fetch(`${svc.url}/echo`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ pad: "x".repeat(2000) }),
    });
    assert.is(tooBig.status, 413);
    assert.is(tooBig.headers.get("content-type"), "application/problem+json");
    // Without a Content-Length (chunked upload) the limit is enforced while reading.
    const chunked = (text: string) =>
      fetch(`${svc.url}/echo`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: new Blob([text]).stream(),
        duplex: "half",
      } as RequestInit);
    assert.equal(await (await chunked('{"a":1}')).json(), { echo: { a: 1 } });
    assert.is((await chunked(JSON.stringify({ pad: "x".repeat(2000) }))).status, 413);
    const head = await fetch(`${svc.url}/healthz`, { method: "HEAD" });
    assert.is(head.status, 200);
    assert.is(await head.text(), "");
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    assert.match(metrics, /hello_echo_total 4/);
    assert.is(await svc.stop(), 0);
  });
}

test("a bad variable stops the service at start with one line naming it", async () => {
  const err = await startService({
    entry: "services/testing/fixtures/hello-service.ts",
    env: { PORT: "not-a-port" },
    timeoutMs: 10_000,
  }).then(
    () => undefined,
    (e: Error) => e,
  );
  assert.match(err?.message ?? "", /PORT must be a well-formed integer string \(was "not-a-port"\)/);
});

test.run();
