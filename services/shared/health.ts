// /healthz (the process answers), /readyz (every dependency answers; the failing one is named with
// what to do about it) and /metrics (Prometheus text), the same on every service.
import { json, type RouteHandler, textResponse } from "./http.ts";
import type { Registry } from "./metrics.ts";
import { redactSecrets } from "./redact.ts";

export interface ReadinessCheck {
  name: string;
  /** Resolves when the dependency is usable; rejects with an actionable message otherwise. */
  check: () => Promise<void>;
}

const checkTimeoutMs = 2000;

async function runCheck(c: ReadinessCheck): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      c.check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${checkTimeoutMs} ms`)), checkTimeoutMs);
      }),
    ]);
    return "ok";
  } catch (err) {
    // /readyz is read by people and by the reader's /api/system: never a password in it.
    return redactSecrets((err as Error).message || String(err));
  } finally {
    clearTimeout(timer);
  }
}

export function opsRoutes(
  service: string,
  checks: ReadinessCheck[],
  registry: Registry,
): [string, string, RouteHandler][] {
  return [
    ["GET", "/healthz", () => json({ status: "ok", service })],
    [
      "GET",
      "/readyz",
      async () => {
        const results = await Promise.all(checks.map(async (c) => [c.name, await runCheck(c)] as const));
        const ready = results.every(([, r]) => r === "ok");
        return json(
          { status: ready ? "ready" : "not ready", service, checks: Object.fromEntries(results) },
          ready ? 200 : 503,
        );
      },
    ],
    [
      "GET",
      "/metrics",
      () => textResponse(registry.render(), { headers: { "content-type": "text/plain; version=0.0.4" } }),
    ],
  ];
}
