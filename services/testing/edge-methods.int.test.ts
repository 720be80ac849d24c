// Every route through a real edge (Caddy) in front of the real producer and reader: OPTIONS and
// 405 name every method a path allows, whichever service answers; HEAD answers like GET without a
// body; none of them runs a write or holds anything open. And the event stream is bounded: a client
// past the cap gets 503 + Retry-After, and every client that goes away is released.
import { writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import postgres from "postgres";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { until } from "../infra/until.ts";
import { publicRoutes } from "../shared/public-routes.ts";
import { writesStream } from "../shared/writes.ts";
import { startEdge } from "./edge.ts";
import { startNats } from "./nats.ts";
import { startPostgres } from "./postgres.ts";
import { makeTempDir, removeTempDir } from "./process.ts";
import { startReader } from "./reader.ts";
import { startRedis } from "./redis.ts";
import { testSecrets } from "./secrets.ts";
import { applyStreams } from "./streams.ts";
import { startWritePath } from "./write-path.ts";

const nats = await startNats();
const pg = await startPostgres();
const redis = await startRedis();
const db = await pg.createDatabase("edge_methods");
await applyStreams(nats.url);
const writePath = await startWritePath({ natsUrl: nats.url, databaseUrl: db.urlAs("jpw_writer") });
const reader = await startReader({
  nats,
  db,
  redis,
  env: {
    PRODUCER_URL: writePath.producer.url,
    CONSUMER_URL: writePath.consumer.url,
    SSE_MAX_CLIENTS: "2",
    // Behind a proxy a client that left is noticed at the next writes to it: keep-alives.
    SSE_KEEPALIVE_MS: "500",
  },
});
const web = makeTempDir("web");
writeFileSync(join(web, "index.html"), "<!doctype html><title>ui</title>");
const edge = await startEdge({ producerUrl: writePath.producer.url, readerUrl: reader.url, webRoot: web });
const sql = postgres(db.url, { max: 1, onnotice: () => {} });
const nc = await nats.connect();
const jsm = await jetstreamManager(nc);

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Any method (fetch refuses TRACE and CONNECT), the body read whole. */
function raw(url: string, method: string, body?: string): Promise<Raw> {
  // With its length: Node sends a DELETE body without framing otherwise.
  const headers = body
    ? { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) }
    : {};
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        text += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const id = "7d3c2a5e-1b2c-4d5e-8f90-123456789abc";
/** A concrete path for each pattern of the public API. */
const concrete = (pattern: string) => pattern.replace(":id", id);
const methodsOf = (pattern: string) => {
  const own = publicRoutes.filter(([, p]) => p === pattern).map(([m]) => m);
  return new Set([...own, ...(own.includes("GET") ? ["HEAD"] : []), "OPTIONS"]);
};
const allowSet = (r: Raw) =>
  new Set(
    String(r.headers.allow ?? "")
      .split(",")
      .map((m) => m.trim())
      .filter(Boolean),
  );
const patterns = [...new Set(publicRoutes.map(([, p]) => p))];

/** What a request could have changed: rows, commands in WRITES, event-stream clients. */
async function state() {
  const [{ users, orders }] = (await sql`
    select (select count(*) from users)::int as users, (select count(*) from orders)::int as orders`) as [
    { users: number; orders: number },
  ];
  const writes = (await jsm.streams.info(writesStream)).state.last_seq;
  return { users, orders, writes, sse: await sseClients() };
}

async function sseClients(): Promise<number> {
  const text = await (await fetch(`${reader.url}/metrics`)).text();
  return Number(/^jpw_reader_sse_clients (\d+)$/m.exec(text)?.[1] ?? Number.NaN);
}

const methods = suite("methods through the edge");

methods(
  "OPTIONS on every API path answers 204 with every method the path allows, and does nothing",
  async () => {
    const before = await state();
    for (const p of patterns) {
      const res = await raw(`${edge.url}${concrete(p)}`, "OPTIONS");
      assert.is(res.status, 204, `OPTIONS ${p}`);
      assert.equal(allowSet(res), methodsOf(p), `Allow of ${p}`);
    }
    assert.equal(await state(), before);
  },
);

methods(
  "PUT, PATCH, DELETE and TRACE on every API path are 405 with the same Allow, and write nothing",
  async () => {
    const before = await state();
    for (const p of patterns) {
      for (const m of ["PUT", "PATCH", "DELETE", "TRACE"]) {
        const res = await raw(
          `${edge.url}${concrete(p)}`,
          m,
          m === "TRACE" ? undefined : '{"name":"x","email":"x@example.com"}',
        );
        assert.is(res.status, 405, `${m} ${p}: ${res.body}`);
        assert.equal(allowSet(res), methodsOf(p), `Allow of ${m} ${p}`);
        assert.match(String(res.headers["content-type"]), /application\/problem\+json/);
      }
    }
    assert.equal(await state(), before);
  },
);

methods(
  "HEAD answers like GET on every readable path, without a body, and opens no event stream",
  async () => {
    for (const p of patterns.filter((x) => methodsOf(x).has("GET"))) {
      const path = concrete(p);
      const head = await raw(`${edge.url}${path}`, "HEAD");
      assert.is(head.body, "", `HEAD ${p} has no body`);
      if (p === "/api/events") {
        assert.is(head.status, 200);
        assert.is(head.headers["content-type"], "text/event-stream");
        continue;
      }
      const get = await raw(`${edge.url}${path}`, "GET");
      assert.is(head.status, get.status, `HEAD ${p} answers like GET`);
      assert.is(head.headers["content-type"], get.headers["content-type"]);
    }
    assert.is(await sseClients(), 0);
  },
);

methods(
  "what the edge serves itself (/healthz, the UI) answers GET, HEAD and OPTIONS, and 405 to the rest",
  async () => {
    for (const path of ["/healthz", "/", "/index.html", "/users/123"]) {
      assert.is((await raw(`${edge.url}${path}`, "GET")).status, 200, `GET ${path}`);
      const head = await raw(`${edge.url}${path}`, "HEAD");
      assert.is(head.status, 200, `HEAD ${path}`);
      assert.is(head.body, "");
      const options = await raw(`${edge.url}${path}`, "OPTIONS");
      assert.is(options.status, 204, `OPTIONS ${path}`);
      assert.equal(allowSet(options), new Set(["GET", "HEAD", "OPTIONS"]));
      for (const m of ["TRACE", "POST", "DELETE"]) {
        const res = await raw(`${edge.url}${path}`, m);
        assert.is(res.status, 405, `${m} ${path}`);
        assert.equal(allowSet(res), new Set(["GET", "HEAD", "OPTIONS"]));
      }
    }
  },
);

methods(
  "a write sent to the reader directly is a 421 that names the producer; through the edge it is a 201",
  async () => {
    const body = JSON.stringify({ name: "Grace", email: "grace@example.com" });
    const direct = await raw(`${reader.url}/api/users`, "POST", body);
    assert.is(direct.status, 421);
    assert.match(direct.body, /answered by the producer/);
    const viaEdge = await raw(`${edge.url}/api/users`, "POST", body);
    assert.is(viaEdge.status, 201, viaEdge.body);
  },
);

const panel = suite("the system panel through the edge");

panel(
  "it is computed once for concurrent requests, names peers without addresses or secrets, and counts ephemeral consumers",
  async () => {
    // An ephemeral consumer, as a `nats` CLI session or a client's watch would leave.
    const ephemeral = await jsm.consumers.add(writesStream, {
      filter_subject: "writes.users",
      inactive_threshold: 60_000_000_000,
    });
    await new Promise((r) => setTimeout(r, 1100));
    const bodies = await Promise.all(
      Array.from({ length: 20 }, async () => (await fetch(`${edge.url}/api/system`)).text()),
    );
    assert.is(new Set(bodies).size, 1, "one snapshot answers every concurrent request");
    const text = bodies[0]!;
    const body = JSON.parse(text) as {
      jetstream: { streams: { name: string; consumers: { name: string }[]; ephemeral: { count: number } }[] };
      services: Record<string, Record<string, unknown>>;
    };
    const writes = body.jetstream.streams.find((s) => s.name === writesStream)!;
    assert.equal(writes.consumers.map((c) => c.name).sort(), ["orders-writer", "users-writer"]);
    assert.is(writes.ephemeral.count, 1);
    assert.is(body.services.producer?.ready, true);
    assert.is(body.services.producer?.url, undefined, "peers are named, not addressed");
    assert.not.match(text, /127\.0\.0\.1|:\/\/[^"]*@/, "no address, no URL with credentials");
    const secrets = testSecrets();
    for (const s of [
      ...Object.values(secrets.nats),
      ...Object.values(secrets.postgres),
      ...Object.values(secrets.redis),
    ]) {
      assert.not.ok(text.includes(s), "no secret");
    }
    await jsm.consumers.delete(writesStream, ephemeral.name);
  },
);

const leftovers = suite("requests leave no state behind on the servers");

leftovers(
  "200 identical replays, reads, operations, the system panel and event streams leave no consumer",
  async () => {
    const consumers = async () => {
      const out: { stream: string; name: string; durable: boolean }[] = [];
      for await (const st of jsm.streams.list()) {
        for await (const c of jsm.consumers.list(st.config.name)) {
          out.push({ stream: st.config.name, name: c.name, durable: Boolean(c.config.durable_name) });
        }
      }
      return out;
    };
    const before = await consumers();
    const body = { name: "Replayed", email: "replayed@example.com" };
    const first = await raw(`${edge.url}/api/users`, "POST", JSON.stringify(body));
    assert.is(first.status, 201, first.body);
    const id = (JSON.parse(first.body) as { operationId: string }).operationId;
    // The same request again and again, as a client's retry storm would: each a replay.
    const replays = await Promise.all(
      Array.from({ length: 200 }, () =>
        fetch(`${edge.url}/api/users`, {
          method: "POST",
          headers: { "content-type": "application/json", "idempotency-key": id },
          body: JSON.stringify(body),
        }).then(async (r) => {
          await r.body?.cancel();
          return r.status;
        }),
      ),
    );
    assert.equal([...new Set(replays)], [200]);
    for (const path of [`/api/users/${id}`, "/api/users", `/api/operations/${id}`, "/api/system"]) {
      assert.is((await raw(`${edge.url}${path}`, "GET")).status, 200, path);
    }
    const ac = new AbortController();
    await fetch(`${edge.url}/api/events`, { signal: ac.signal });
    ac.abort();
    await until(async () => (await sseClients()) === 0, 10_000, "the event stream to be released");
    // What was there before: the durable consumers of streams.yaml, nothing ephemeral, nothing new.
    assert.equal(await consumers(), before);
    assert.ok(
      before.every((c) => c.durable),
      `ephemeral consumers: ${JSON.stringify(before.filter((c) => !c.durable))}`,
    );
  },
);

const events = suite("the event stream is bounded");

events("past its cap a client gets 503 + Retry-After; every client that goes away is released", async () => {
  const open = () => {
    const ac = new AbortController();
    const res = fetch(`${edge.url}/api/events`, { signal: ac.signal });
    return { ac, res };
  };
  const a = open();
  const b = open();
  assert.is((await a.res).status, 200);
  assert.is((await b.res).status, 200);
  await until(async () => (await sseClients()) === 2, 5000, "two event-stream clients");
  const refused = await fetch(`${edge.url}/api/events`);
  assert.is(refused.status, 503);
  assert.ok(Number(refused.headers.get("retry-after")) > 0);
  assert.match(String(refused.headers.get("content-type")), /problem\+json/);

  a.ac.abort();
  await until(async () => (await sseClients()) === 1, 10_000, "the client that left to be released");
  const c = open();
  assert.is((await c.res).status, 200, "its place is free again");
  b.ac.abort();
  c.ac.abort();
  await until(async () => (await sseClients()) === 0, 10_000, "every client to be released");

  // Many short-lived clients leave nothing behind either.
  for (let i = 0; i < 20; i++) {
    const x = open();
    await x.res;
    x.ac.abort();
  }
  await until(async () => (await sseClients()) === 0, 10_000, "every client to be released");
});

events.after(async () => {
  await nc.close();
  await sql.end();
  await edge.stop();
  await reader.stop();
  await writePath[Symbol.asyncDispose]();
  await db.drop();
  for (const server of [redis, pg, nats]) await server[Symbol.asyncDispose]();
  removeTempDir(web);
});

methods.run();
panel.run();
leftovers.run();
events.run();
