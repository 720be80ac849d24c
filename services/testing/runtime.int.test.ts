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
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    assert.match(metrics, /hello_echo_total 2/);
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
