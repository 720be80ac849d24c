// Readiness probes shared by the local stack and the test harness.
import { connect } from "node:net";

/**
 * One Redis PING over a raw socket: no client library, no reconnect logic to hide a dead server.
 * Redis answers a client that has not authenticated with NOAUTH: that too is a server up.
 */
export function redisPing(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ port, host });
    let buf = "";
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.on("error", () => done(false));
    sock.on("connect", () => sock.write("PING\r\n"));
    sock.on("data", (d) => {
      buf += d.toString();
      if (buf.includes("\r\n")) done(buf.startsWith("+PONG") || buf.startsWith("-NOAUTH"));
    });
  });
}

/** Whether anything accepts TCP connections on the port. */
export function portInUse(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ port, host });
    sock.setTimeout(500, () => {
      sock.destroy();
      resolve(false);
    });
    sock.on("connect", () => {
      sock.destroy();
      resolve(true);
    });
    sock.on("error", () => resolve(false));
  });
}

/** 2xx from an HTTP endpoint within a second. */
export async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

/**
 * The JetStream meta leader a node's monitoring endpoint names (/jsz), or undefined while the
 * cluster has none (just started, or electing): until then no stream can be created or changed.
 */
export async function metaLeader(monitorUrl: string): Promise<string | undefined> {
  try {
    const res = await fetch(`${monitorUrl}/jsz`, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) return undefined;
    const jsz = (await res.json()) as { meta_cluster?: { leader?: string } };
    return jsz.meta_cluster?.leader || undefined;
  } catch {
    return undefined;
  }
}
