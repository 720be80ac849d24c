// The public HTTP API as the edge serves it: which service answers each method on each path. The
// edge (services/infra/caddyfile.ts) sends writes to the producer and everything else under /api
// to the reader; each service's router takes the rows it does not serve, so that OPTIONS and 405
// answers name every method a path allows, wherever the request lands (e.g. OPTIONS /api/users,
// answered by the reader, says POST too). Each service's own routes are the source of what it serves; a
// test through a real edge checks that they and this table agree.
export type Service = "producer" | "reader";

export const publicRoutes: readonly [method: string, pattern: string, service: Service][] = [
  ["POST", "/api/users", "producer"],
  ["POST", "/api/orders", "producer"],
  ["GET", "/api/users", "reader"],
  ["GET", "/api/users/:id", "reader"],
  ["GET", "/api/users/:id/orders", "reader"],
  ["GET", "/api/orders", "reader"],
  ["GET", "/api/orders/:id", "reader"],
  ["GET", "/api/operations/:id", "reader"],
  ["GET", "/api/events", "reader"],
  ["GET", "/api/system", "reader"],
  ["GET", "/api/openapi.json", "reader"],
];

/** The routes another service serves: for `router(..., servedElsewhere(service))`. */
export const servedElsewhere = (service: Service) => publicRoutes.filter(([, , s]) => s !== service);

/** The paths the edge sends writes (POST) to the producer for. */
export const writePaths = publicRoutes
  .filter(([m, , s]) => m === "POST" && s === "producer")
  .map(([, p]) => p);
