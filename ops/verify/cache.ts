// The cache check, once the system is quiet: every entry the reader serves from Redis (X-Cache: hit)
// must equal what Postgres returns now, within a few seconds of quiescence (far inside the cache
// TTL, so entries expiring cannot pass it). Postgres's answer is the reader's own Store run against
// the database directly, so a hit is compared with exactly the body a miss would build.
import { setTimeout as sleep } from "node:timers/promises";
import type { Sql } from "postgres";
import { Store } from "../../services/reader/store.ts";
import type { Table } from "../../services/shared/writes.ts";
import type { Violation } from "./ledger.ts";

interface Target {
  path: string;
  fresh: () => Promise<string | undefined>;
}

export interface CacheCheck {
  /** Entries served from the cache, compared. */
  hits: number;
  checked: number;
  violations: Violation[];
}

/** Targets: each id's entity and (users) its order lists, and the first pages of both lists. */
export function cacheTargets(sql: Sql, ids: [string, Table][]): Target[] {
  const store = new Store(sql);
  const out: Target[] = [];
  for (const [id, table] of ids) {
    if (table === "users") {
      out.push({ path: `/api/users/${id}`, fresh: () => store.user(id) });
      out.push({ path: `/api/users/${id}/orders`, fresh: () => store.userOrders(id, 20) });
      out.push({ path: `/api/users/${id}/orders?limit=5`, fresh: () => store.userOrders(id, 5) });
    } else {
      out.push({ path: `/api/orders/${id}`, fresh: () => store.order(id) });
    }
  }
  for (const limit of [5, 20, 100]) {
    out.push({ path: `/api/users?limit=${limit}`, fresh: () => store.users(limit) });
    out.push({ path: `/api/orders?limit=${limit}`, fresh: () => store.orders(limit) });
  }
  return out;
}

const same = (a: string, b: string | undefined) => {
  if (b === undefined) return false;
  try {
    return JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b));
  } catch {
    return a === b;
  }
};

/**
 * Reads every target from the reader; a hit that differs from Postgres is looked at again until
 * `deadline` (performance.now() ms), since the last invalidations may still be on their way.
 */
export async function checkCache(
  readerUrl: string,
  targets: Target[],
  deadline: number,
): Promise<CacheCheck> {
  let hits = 0;
  let stale: { t: Target; body: string; fresh: string | undefined }[] = [];
  /** undefined: not served from the cache, or fresh; else what was served. */
  const look = async (t: Target) => {
    const res = await fetch(`${readerUrl}${t.path}`, { signal: AbortSignal.timeout(10_000) });
    const body = await res.text();
    if (res.headers.get("x-cache") !== "hit") return undefined;
    hits++;
    const fresh = await t.fresh();
    return same(body, fresh) ? undefined : { t, body, fresh };
  };
  const queue = [...targets];
  const workers = Array.from({ length: 8 }, async () => {
    for (let t = queue.shift(); t; t = queue.shift()) {
      const r = await look(t).catch(() => undefined);
      if (r) stale.push(r);
    }
  });
  await Promise.all(workers);
  while (stale.length && performance.now() < deadline) {
    await sleep(500);
    const again = await Promise.all(stale.map((s) => look(s.t).catch(() => s)));
    stale = again.filter((r): r is NonNullable<typeof r> => r !== undefined);
  }
  return {
    hits,
    checked: targets.length,
    violations: stale.map((s) => ({
      rule: "cache-fresh",
      what: `GET ${s.t.path} is served from the cache with what Postgres no longer holds`,
      detail: { cached: s.body.slice(0, 600), postgres: s.fresh?.slice(0, 600) ?? "(no such row)" },
    })),
  };
}
