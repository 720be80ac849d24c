// The GET routes of DESIGN.md, answered from Redis when possible (X-Cache: hit|miss|bypass).
import { NotFoundError, ValidationError } from "../shared/errors.ts";
import { type RouteHandler, textResponse } from "../shared/http.ts";
import type { Counter } from "../shared/metrics.ts";
import { isUuid } from "../shared/uuid.ts";
import type { Cache } from "./cache.ts";
import { pageParams } from "./cursor.ts";
import { pageVariant, type Scope } from "./keys.ts";
import type { Store } from "./store.ts";

export interface ReadRoutesOptions {
  cache: Cache;
  store: Store;
  /** The cache outcome of every read, by route: hit, miss or bypass. */
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

  /** A whole table's list, newest first: its scope is the table (never a 404). */
  const list =
    (table: "users" | "orders"): RouteHandler =>
    (_req, _params, url) => {
      const { limit, cursor, after } = pageParams(url);
      return answer(
        table,
        { kind: table },
        pageVariant(limit, cursor),
        () => o.store[table](limit, after),
        () => new NotFoundError("unreachable"),
      );
    };

  /** One row by its id: its own scope, a 404 naming the kind when it does not exist. */
  const entity =
    (kind: "user" | "order"): RouteHandler =>
    (_req, params) => {
      const id = idParam(params, kind);
      return answer(
        kind,
        { kind, id },
        "",
        () => o.store[kind](id),
        () => new NotFoundError(`no ${kind} ${id}`, `${kind}-not-found`),
      );
    };

  return [
    ["GET", "/api/users", list("users")],
    ["GET", "/api/users/:id", entity("user")],
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
    ["GET", "/api/orders", list("orders")],
    ["GET", "/api/orders/:id", entity("order")],
  ];
}
