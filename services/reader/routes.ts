// The GET routes of DESIGN.md, answered from Redis when possible (X-Cache: hit|miss|bypass).
import { NotFoundError, ValidationError } from "../shared/errors.ts";
import { type RouteHandler, textResponse } from "../shared/http.ts";
import type { Counter } from "../shared/metrics.ts";
import { isUuid } from "../shared/operations.ts";
import type { Cache } from "./cache.ts";
import { pageParams } from "./cursor.ts";
import { pageVariant, type Scope } from "./keys.ts";
import type { Store } from "./store.ts";

export interface ReadRoutesOptions {
  cache: Cache;
  store: Store;
  /** reader_cache_requests_total{route, result} */
  outcomes?: Counter;
}

function idParam(params: Record<string, string>, what: string): string {
  const id = params.id ?? "";
  if (!isUuid(id)) {
    throw new ValidationError(`${what} id "${id.slice(0, 80)}" is not a UUID`, [
      { path: "id", message: "must be a UUID" },
    ]);
  }
  return id.toLowerCase();
}

export function readRoutes(o: ReadRoutesOptions): [string, string, RouteHandler][] {
  const answer = async (
    route: string,
    scope: Scope,
    variant: string,
    load: () => Promise<string | undefined>,
    missing: () => NotFoundError,
  ): Promise<Response> => {
    const { body, cache } = await o.cache.get(scope, variant, load);
    o.outcomes?.inc({ route, result: cache });
    if (body === undefined) {
      const err = missing();
      err.headers["x-cache"] = cache;
      throw err;
    }
    return textResponse(body, { headers: { "content-type": "application/json", "x-cache": cache } });
  };

  return [
    [
      "GET",
      "/api/users",
      (_req, _p, url) => {
        const { limit, cursor, after } = pageParams(url);
        return answer(
          "users",
          { kind: "users" },
          pageVariant(limit, cursor),
          () => o.store.users(limit, after),
          () => new NotFoundError("unreachable"),
        );
      },
    ],
    [
      "GET",
      "/api/users/:id",
      (_req, params) => {
        const id = idParam(params, "user");
        return answer(
          "user",
          { kind: "user", id },
          "",
          () => o.store.user(id),
          () => new NotFoundError(`no user ${id}`, "user-not-found"),
        );
      },
    ],
    [
      "GET",
      "/api/users/:id/orders",
      (_req, params, url) => {
        const userId = idParam(params, "user");
        const { limit, cursor, after } = pageParams(url);
        return answer(
          "user-orders",
          { kind: "user-orders", userId },
          pageVariant(limit, cursor),
          () => o.store.userOrders(userId, limit, after),
          () => new NotFoundError(`no user ${userId}`, "user-not-found"),
        );
      },
    ],
    [
      "GET",
      "/api/orders",
      (_req, _p, url) => {
        const { limit, cursor, after } = pageParams(url);
        return answer(
          "orders",
          { kind: "orders" },
          pageVariant(limit, cursor),
          () => o.store.orders(limit, after),
          () => new NotFoundError("unreachable"),
        );
      },
    ],
    [
      "GET",
      "/api/orders/:id",
      (_req, params) => {
        const id = idParam(params, "order");
        return answer(
          "order",
          { kind: "order", id },
          "",
          () => o.store.order(id),
          () => new NotFoundError(`no order ${id}`, "order-not-found"),
        );
      },
    ],
  ];
}
