import { test } from "uvu";
import * as assert from "uvu/assert";
import { problem } from "../shared/http.ts";
import { parseWriteRequest } from "./request.ts";

const post = (body: string | null, headers: Record<string, string> = {}) =>
  new Request("http://producer/api/users", {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });

/** The response the router would send for what parseWriteRequest throws. */
async function refusal(req: Request, table: "users" | "orders" = "users") {
  try {
    await parseWriteRequest(req, table);
  } catch (err) {
    const res = problem(err);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }
  throw new Error("expected the request to be refused");
}

const ada = JSON.stringify({ name: "Ada", email: "ada@example.com" });

test("a valid user becomes a create command keyed by the Idempotency-Key, lower-cased", async () => {
  const key = "0B8E3A52-7F0C-4C5E-9F59-4F5C2A3B1C11";
  const w = await parseWriteRequest(post(ada, { "idempotency-key": key }), "users", new Date(0));
  assert.is(w.operationId, key.toLowerCase());
  assert.equal(JSON.parse(w.body), {
    operationId: key.toLowerCase(),
    table: "users",
    op: "create",
    data: { name: "Ada", email: "ada@example.com" },
    requestedAt: "1970-01-01T00:00:00.000Z",
  });
  assert.is(w.msgId, `${key.toLowerCase()}:${w.hash}`);
});

test("without a key the producer makes one, so two identical requests are two writes", async () => {
  const a = await parseWriteRequest(post(ada), "users");
  const b = await parseWriteRequest(post(ada), "users");
  assert.match(a.operationId, /^[0-9a-f-]{36}$/);
  assert.is.not(a.operationId, b.operationId);
  assert.is(a.hash, b.hash);
});

test("an Idempotency-Key that is not a UUID is a 400 naming the header", async () => {
  const r = await refusal(post(ada, { "idempotency-key": "order-42" }));
  assert.is(r.status, 400);
  assert.is(r.body.type, "/problems/invalid-idempotency-key");
  assert.equal(r.body.errors, [{ path: "Idempotency-Key", message: "must be a UUID" }]);
});

test("a body that is not JSON is a 415, malformed JSON a 400, over 64 KiB a 413", async () => {
  const text = await refusal(
    new Request("http://producer/api/users", {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: ada,
    }),
  );
  assert.is(text.status, 415);
  const broken = await refusal(post("{name:"));
  assert.is(broken.status, 400);
  assert.is(broken.body.type, "/problems/malformed-json");
  const big = await refusal(post(JSON.stringify({ name: "x".repeat(70_000), email: "a@b.co" })));
  assert.is(big.status, 413);
});

test("field errors and unknown keys come back as a 400 with every problem listed", async () => {
  const r = await refusal(post(JSON.stringify({ name: "", email: "nope", role: "admin" })));
  assert.is(r.status, 400);
  assert.is(r.body.type, "/problems/validation-failed");
  const paths = (r.body.errors as { path: string }[]).map((e) => e.path).sort();
  assert.equal(paths, ["email", "name", "role"]);
});

test("an order whose total is not the items' sum is a 400 on total", async () => {
  const body = JSON.stringify({
    userId: crypto.randomUUID(),
    items: [{ productId: "book", quantity: 3, price: "19.99" }],
    total: 59.96,
  });
  const r = await refusal(post(body), "orders");
  assert.is(r.status, 400);
  assert.equal(r.body.errors, [
    { path: "total", message: "must be the sum of quantity × price over the items (59.97) (was 59.96)" },
  ]);
});

test("a well-formed traceparent is passed on, anything else is dropped", async () => {
  const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  assert.is((await parseWriteRequest(post(ada, { traceparent: tp }), "users")).traceparent, tp);
  assert.is((await parseWriteRequest(post(ada, { traceparent: "junk" }), "users")).traceparent, undefined);
});

test.run();
