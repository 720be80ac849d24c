import { once } from "node:events";
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { until } from "../infra/until.ts";
import { startTcpProxy } from "./tcp-proxy.ts";

/** An echo server: every byte comes back on the same connection. */
async function echoServer(): Promise<Server & { port: number }> {
  const srv = createServer((s) => {
    s.on("error", () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  return Object.assign(srv, { port: (srv.address() as { port: number }).port });
}

async function client(port: number): Promise<Socket & { received: () => string; error?: Error }> {
  const s = tcpConnect({ host: "127.0.0.1", port });
  let got = "";
  const c = Object.assign(s, { received: () => got, error: undefined as Error | undefined });
  s.on("data", (d) => {
    got += d.toString();
  });
  s.on("error", (err) => {
    c.error = err;
  });
  await once(s, "connect");
  return c;
}

test("passes bytes both ways, and keeps their order when the delay changes between chunks", async () => {
  const echo = await echoServer();
  await using proxy = await startTcpProxy({ target: { port: echo.port } });
  const c = await client(proxy.port);
  c.write("a");
  await until(() => c.received() === "a", 5000, "the echo");
  proxy.setMode({ kind: "delay", ms: 300 });
  c.write("b");
  proxy.setMode({ kind: "delay", ms: 1 });
  c.write("c");
  proxy.setMode({ kind: "pass" });
  c.write("d");
  await until(() => c.received().length === 4, 5000, "every chunk");
  assert.is(c.received(), "abcd");
  assert.is(proxy.accepted, 1);
  c.destroy();
  echo.close();
});

test("a black-holed link forwards nothing and closes nothing; healed, everything arrives", async () => {
  const echo = await echoServer();
  await using proxy = await startTcpProxy({ target: { port: echo.port } });
  const c = await client(proxy.port);
  proxy.setMode({ kind: "blackhole" });
  c.write("lost?");
  await sleep(300);
  assert.is(c.received(), "", "nothing came back through the black hole");
  assert.is(c.destroyed, false);
  assert.is(proxy.open, 1);
  proxy.setMode({ kind: "pass" });
  await until(() => c.received() === "lost?", 5000, "the held bytes");
  c.destroy();
  echo.close();
});

test("reset breaks every open connection and refuses new ones until the link passes again", async () => {
  const echo = await echoServer();
  await using proxy = await startTcpProxy({ target: { port: echo.port } });
  const open = await client(proxy.port);
  proxy.setMode({ kind: "reset" });
  await until(() => open.destroyed, 5000, "the open connection to break");
  assert.is((open.error as NodeJS.ErrnoException | undefined)?.code, "ECONNRESET");
  const late = tcpConnect({ host: "127.0.0.1", port: proxy.port });
  const [err] = (await once(late, "error").catch((e) => [e])) as [NodeJS.ErrnoException];
  assert.is(err.code, "ECONNRESET");
  proxy.setMode({ kind: "pass" });
  const again = await client(proxy.port);
  again.write("back");
  await until(() => again.received() === "back", 5000, "the echo after the reset");
  again.destroy();
  echo.close();
});

test.run();
