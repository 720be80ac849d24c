// The published contract of the HTTP API: an OpenAPI 3.1 document, served by the reader at
// GET /api/openapi.json, linted in the test gate and fuzzed against the running system. Request
// bodies are derived from the arktype types the services parse with, so the document cannot drift
// from the validation; only what has no type is written here: bodies Postgres builds (users,
// orders, pages), the operation view, problem objects, headers and the money grammar.
import { readFileSync } from "node:fs";
import type { JsonSchema, Type } from "arktype";
import { cursorPattern, defaultLimit, maxLimit, timestampPattern } from "../reader/cursor.ts";
import { textResponse } from "./http.ts";
import { maxBodyBytes, OrderInput, UserInput } from "./writes.ts";

type Schema = Record<string, unknown>;

const version = (
  JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  }
).version;

/**
 * A string that is trimmed before its constraints apply (`string.trim` then a length or a
 * format). On the wire, surrounding whitespace is free, so only what trimming cannot break is kept:
 * the minimum length, and the pattern with optional whitespace around it (JSON Schema patterns are
 * ECMAScript regular expressions, whose \s is exactly what String.prototype.trim removes). The
 * maximum length holds after trimming, which no JSON Schema keyword says: it goes in the text.
 */
function trimmedString(out: JsonSchema.String): Schema {
  const { minLength, maxLength, pattern } = out as {
    minLength?: number;
    maxLength?: number;
    pattern?: string;
  };
  const limits = [
    minLength !== undefined && `at least ${minLength}`,
    maxLength !== undefined && `at most ${maxLength}`,
  ].filter(Boolean);
  return {
    type: "string",
    ...(minLength ? { minLength } : {}),
    ...(pattern ? { pattern: `^\\s*(?:${pattern.replace(/^\^/, "").replace(/\$$/, "")})\\s*$` } : {}),
    description: `Surrounding whitespace is trimmed${limits.length ? `; then ${limits.join(" and ")} characters` : ""}.`,
  };
}

/**
 * arktype writes patterns for JavaScript, where \d and \w are ASCII; validators in other languages
 * (Python, Rust) read them as Unicode classes. Spelled out, every validator agrees with ours.
 */
export function portablePattern(pattern: string): string {
  let out = "";
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "\\" && (pattern[i + 1] === "d" || pattern[i + 1] === "w")) {
      const set = pattern[++i] === "d" ? "0-9" : "A-Za-z0-9_";
      out += inClass ? set : `[${set}]`;
    } else if (c === "\\") {
      out += c + (pattern[++i] ?? "");
    } else {
      if (c === "[") inClass = true;
      else if (c === "]") inClass = false;
      out += c;
    }
  }
  return out;
}

/** Every `pattern` in a document, made portable in place. */
function portable<T>(schema: T): T {
  if (Array.isArray(schema)) schema.forEach(portable);
  else if (schema && typeof schema === "object") {
    const s = schema as Schema;
    if (typeof s.pattern === "string") s.pattern = portablePattern(s.pattern);
    Object.values(s).forEach(portable);
  }
  return schema;
}

/** The JSON Schema of what `t` accepts on the wire. */
export function inputSchema(t: Type): Schema {
  // A type that is itself a morph (OrderInput: narrowed, then normalised) renders its input with
  // every nested morph reduced to its bare input, losing e.g. a trimmed string's length: render
  // the morph's input node instead, so each nested morph reaches the fallback below.
  const node = t.internal as unknown as { kind: string; inner: { in?: Type } };
  const root = node.kind === "morph" && node.inner.in ? node.inner.in : t;
  return root.toJsonSchema({
    dialect: null,
    fallback: {
      // A narrowed value (text without NUL or lone surrogates, an order whose total is the items'
      // sum) has no JSON Schema spelling: the base schema documents it, the server's 400 the rest.
      predicate: ({ base }) => base,
      // A morph's input is what the wire carries. A string → string morph here is a trim.
      morph: ({ base, out }) =>
        (base as Schema).type === "string" && (out as Schema | null)?.type === "string"
          ? trimmedString(out as JsonSchema.String)
          : base,
    },
  }) as Schema;
}

/**
 * Money: a plain decimal string with at most two decimals, or a JSON number read from its shortest
 * decimal text (money.ts parseCents; it is a function, not a type, so its grammar is written here
 * and held to parseCents by openapi.test.ts).
 */
export const moneyPattern = "^[0-9]{1,10}(\\.[0-9]{1,2})?$";
const money: Schema = {
  anyOf: [
    { type: "string", pattern: moneyPattern, examples: ["19.99"] },
    { type: "number", minimum: 0, maximum: 9999999999.99, description: "at most 2 decimal places" },
  ],
};

function orderInput(): Schema {
  const s = inputSchema(OrderInput);
  const props = s.properties as Record<string, Schema>;
  props.total = { ...money, description: "Σ quantity × price over the items, to the cent." };
  ((props.items as { items: { properties: Record<string, Schema> } }).items.properties.price as Schema) =
    money;
  return s;
}

const uuid: Schema = { type: "string", format: "uuid" };
const timestamp: Schema = { type: "string", format: "date-time", pattern: timestampPattern.source };
const decimal: Schema = { type: "string", pattern: "^[0-9]+\\.[0-9]{2}$", examples: ["39.98"] };
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

const schemas: Record<string, Schema> = {
  UserInput: inputSchema(UserInput),
  OrderInput: orderInput(),
  User: {
    type: "object",
    required: ["id", "name", "email", "createdAt"],
    properties: { id: uuid, name: { type: "string" }, email: { type: "string" }, createdAt: timestamp },
  },
  Order: {
    type: "object",
    required: ["id", "userId", "items", "total", "createdAt"],
    properties: {
      id: uuid,
      userId: uuid,
      items: {
        type: "array",
        items: {
          type: "object",
          required: ["productId", "quantity", "price"],
          properties: { productId: { type: "string" }, quantity: { type: "integer" }, price: decimal },
        },
      },
      total: decimal,
      createdAt: timestamp,
    },
  },
  UserCreated: {
    type: "object",
    required: ["operationId", "user"],
    properties: { operationId: uuid, user: ref("User") },
  },
  OrderCreated: {
    type: "object",
    required: ["operationId", "order"],
    properties: { operationId: uuid, order: ref("Order") },
  },
  Accepted: {
    type: "object",
    required: ["operationId", "status"],
    properties: { operationId: uuid, status: { const: "accepted" } },
  },
  UserPage: page("User"),
  OrderPage: page("Order"),
  // outcome-http.ts operationView: committed comes from the row, the rest from the operations bucket.
  Operation: {
    type: "object",
    required: ["operationId", "table", "status", "httpStatus", "updatedAt"],
    properties: {
      operationId: uuid,
      table: { enum: ["users", "orders"] },
      status: { enum: ["accepted", "committed", "rejected", "failed"] },
      httpStatus: { type: "integer", minimum: 200, maximum: 599 },
      result: { anyOf: [ref("User"), ref("Order")], description: "The committed row." },
      error: { ...ref("Problem"), description: "Why it was rejected or failed." },
      // The row's createdAt for a commit (microseconds); a record's time otherwise (milliseconds).
      updatedAt: { type: "string", format: "date-time" },
    },
  },
  Problem: {
    type: "object",
    description: "RFC 9457 problem details.",
    required: ["type", "title", "status", "detail"],
    properties: {
      type: { type: "string", pattern: "^/problems/[a-z0-9-]+$", examples: ["/problems/email-taken"] },
      title: { type: "string" },
      status: { type: "integer", minimum: 400, maximum: 599 },
      detail: { type: "string" },
      instance: { type: "string" },
      operationId: uuid,
      errors: {
        type: "array",
        items: {
          type: "object",
          required: ["path", "message"],
          properties: {
            path: {
              type: "string",
              description: "Dotted path into the body (items.0.price), or a parameter.",
            },
            message: { type: "string" },
          },
        },
      },
    },
  },
  Health: {
    type: "object",
    required: ["status", "service"],
    properties: { status: { const: "ok" }, service: { type: "string" } },
  },
  Readiness: {
    type: "object",
    required: ["status", "service", "checks"],
    properties: {
      status: { enum: ["ready", "not ready"] },
      service: { type: "string" },
      checks: {
        type: "object",
        description: 'Each dependency: "ok", or what is wrong with it and what to do.',
        additionalProperties: { type: "string" },
      },
    },
  },
  System: {
    type: "object",
    required: ["at", "jetstream", "writesDlqMessages", "services"],
    properties: {
      at: { type: "string", format: "date-time" },
      jetstream: {
        type: "object",
        required: ["streams"],
        properties: { streams: { type: "array", items: { type: "object" } }, error: { type: "string" } },
      },
      writesDlqMessages: { type: ["integer", "null"] },
      services: { type: "object", additionalProperties: { type: "object" } },
    },
  },
};

function page(item: string): Schema {
  return {
    type: "object",
    required: ["items", "nextCursor"],
    properties: {
      items: { type: "array", items: ref(item) },
      nextCursor: {
        type: ["string", "null"],
        description: "The cursor of the next page (newest first), or null on the last page.",
      },
    },
  };
}

const header = (description: string, schema: Schema = { type: "string" }) => ({ description, schema });
const headers = {
  Location: header("Where the entity (or, for 202, the operation) can be read."),
  RetryAfter: header("Seconds to wait before retrying with the same Idempotency-Key.", {
    type: "string",
    pattern: "^[0-9]+$",
  }),
  IdempotentReplayed: header("The write had already been applied: this is its original answer.", {
    const: "true",
  }),
  XCache: header("Where the body came from.", { enum: ["hit", "miss", "bypass"] }),
};

const json = (schema: Schema) => ({ "application/json": { schema } });

/** A problem response whose `status` member is the HTTP status, with the problem types it can carry. */
function problem(status: number, types: string[], extraHeaders: Record<string, unknown> = {}) {
  return {
    description: `Problem: ${types.map((t) => `\`/problems/${t}\``).join(", ")}.`,
    ...(Object.keys(extraHeaders).length ? { headers: extraHeaders } : {}),
    content: {
      "application/problem+json": {
        schema: { allOf: [ref("Problem"), { properties: { status: { const: status } } }] },
      },
    },
  };
}

const idParam = (description: string) => ({
  name: "id",
  in: "path",
  required: true,
  description,
  schema: uuid,
});
const pageParams = [
  {
    name: "limit",
    in: "query",
    description: `Items per page (default ${defaultLimit}).`,
    schema: { type: "integer", minimum: 1, maximum: maxLimit, default: defaultLimit },
  },
  {
    name: "cursor",
    in: "query",
    description: "The nextCursor of the previous page; empty or absent for the first page.",
    schema: { type: "string", pattern: `^$|${cursorPattern.source}` },
  },
];

const read400 = problem(400, ["validation-failed"]);
const retryAfter = { "Retry-After": { $ref: "#/components/headers/RetryAfter" } };
/** Postgres unreachable (a cached answer does not need it). */
const read503 = problem(503, ["unavailable"], retryAfter);
const cached = (schema: string, description: string) => ({
  description,
  headers: { "X-Cache": { $ref: "#/components/headers/XCache" } },
  content: json(ref(schema)),
});
const notFound = (type: string) => ({
  ...problem(404, [type]),
  headers: { "X-Cache": { $ref: "#/components/headers/XCache" } },
});

function write(table: "users" | "orders") {
  const entity = table === "users" ? "User" : "Order";
  const created = { Location: { $ref: "#/components/headers/Location" } };
  return {
    operationId: table === "users" ? "createUser" : "createOrder",
    summary: `Create ${table === "users" ? "a user" : "an order"}; answers once it is committed`,
    parameters: [
      {
        name: "Idempotency-Key",
        in: "header",
        description:
          "A UUID that identifies this write and becomes the row's primary key. The same key with the same body answers the original result (200); with another body, 422.",
        schema: uuid,
      },
    ],
    requestBody: {
      required: true,
      description: `JSON of at most ${maxBodyBytes} bytes; unknown keys are refused.`,
      content: {
        "application/json": {
          schema: ref(`${entity}Input`),
          example:
            table === "users"
              ? { name: "Grace Hopper", email: "grace@example.com" }
              : {
                  userId: "7d3c2a5e-1b2c-4d5e-8f90-123456789abc",
                  items: [{ productId: "book", quantity: 2, price: "19.99" }],
                  total: "39.98",
                },
        },
      },
    },
    responses: {
      "201": {
        description: "Committed.",
        headers: created,
        content: json(ref(`${entity}Created`)),
        links: {
          [`get${entity}`]: {
            operationId: table === "users" ? "getUser" : "getOrder",
            parameters: { id: "$response.body#/operationId" },
          },
        },
      },
      "200": {
        description: "Already applied with this key and body: the original answer.",
        headers: {
          ...created,
          "Idempotent-Replayed": { $ref: "#/components/headers/IdempotentReplayed" },
        },
        content: json(ref(`${entity}Created`)),
      },
      "202": {
        description: "Durably accepted, not confirmed within the deadline: poll the operation at Location.",
        headers: { Location: { $ref: "#/components/headers/Location" } },
        content: json(ref("Accepted")),
        links: {
          getOperation: { operationId: "getOperation", parameters: { id: "$response.body#/operationId" } },
        },
      },
      "400": problem(400, ["validation-failed", "malformed-json", "invalid-idempotency-key"]),
      "409": problem(409, ["email-taken"]),
      "413": problem(413, ["payload-too-large"]),
      "415": problem(415, ["unsupported-media-type"]),
      "422": problem(
        422,
        table === "users" ? ["idempotency-key-reused"] : ["idempotency-key-reused", "user-not-found"],
      ),
      "500": problem(500, ["write-failed"]),
      "503": problem(503, ["unavailable", "backlog-full"], retryAfter),
    },
  };
}

// The ops routes are answered by each service on its own port (the edge answers /healthz itself).
const services = [
  {
    url: "http://{host}:{port}",
    description: "A service directly: producer 13001, reader 13002, consumer 13003 in the local stack.",
    variables: { host: { default: "127.0.0.1" }, port: { default: "13002" } },
  },
];

const paths = {
  "/api/users": {
    post: write("users"),
    get: {
      operationId: "listUsers",
      summary: "Users, newest first",
      parameters: pageParams,
      responses: { "200": cached("UserPage", "A page of users."), "400": read400, "503": read503 },
    },
  },
  "/api/orders": {
    post: write("orders"),
    get: {
      operationId: "listOrders",
      summary: "Orders, newest first",
      parameters: pageParams,
      responses: { "200": cached("OrderPage", "A page of orders."), "400": read400, "503": read503 },
    },
  },
  "/api/users/{id}": {
    get: {
      operationId: "getUser",
      parameters: [idParam("The user's id.")],
      responses: {
        "200": cached("User", "The user."),
        "400": read400,
        "404": notFound("user-not-found"),
        "503": read503,
      },
    },
  },
  "/api/users/{id}/orders": {
    get: {
      operationId: "listUserOrders",
      summary: "A user's orders, newest first",
      parameters: [idParam("The user's id."), ...pageParams],
      responses: {
        "200": cached("OrderPage", "A page of the user's orders."),
        "400": read400,
        "404": notFound("user-not-found"),
        "503": read503,
      },
    },
  },
  "/api/orders/{id}": {
    get: {
      operationId: "getOrder",
      parameters: [idParam("The order's id.")],
      responses: {
        "200": cached("Order", "The order."),
        "400": read400,
        "404": notFound("order-not-found"),
        "503": read503,
      },
    },
  },
  "/api/operations/{id}": {
    get: {
      operationId: "getOperation",
      summary: "The outcome of a write, kept about 24 hours",
      parameters: [idParam("The write's operationId (its Idempotency-Key).")],
      responses: {
        "200": { description: "The recorded outcome.", content: json(ref("Operation")) },
        "400": read400,
        "404": problem(404, ["operation-not-found"]),
      },
    },
  },
  "/api/events": {
    get: {
      operationId: "streamEvents",
      summary: "Server-Sent Events: every cache invalidation the reader applied",
      responses: {
        "200": {
          description: "`event: invalidation` with a JSON `data` line per invalidation; never ends.",
          content: { "text/event-stream": { schema: { type: "string" } } },
        },
      },
    },
  },
  "/api/system": {
    get: {
      operationId: "getSystem",
      summary: "Streams, consumers, dead letters and every service's readiness",
      responses: { "200": { description: "A snapshot.", content: json(ref("System")) } },
    },
  },
  "/api/openapi.json": {
    get: {
      operationId: "getOpenApi",
      summary: "This document",
      responses: { "200": { description: "OpenAPI 3.1.", content: json({ type: "object" }) } },
    },
  },
  "/healthz": {
    get: {
      operationId: "health",
      summary: "Liveness",
      responses: {
        "200": {
          description: "The process answers (the edge answers plain `ok` for itself).",
          content: { ...json(ref("Health")), "text/plain": { schema: { const: "ok" } } },
        },
      },
    },
  },
  "/readyz": {
    servers: services,
    get: {
      operationId: "readiness",
      summary: "Readiness, naming the failing dependency",
      responses: {
        "200": { description: "Every dependency answers.", content: json(ref("Readiness")) },
        "503": { description: "A dependency does not.", content: json(ref("Readiness")) },
      },
    },
  },
  "/metrics": {
    servers: services,
    get: {
      operationId: "metrics",
      summary: "Prometheus text exposition",
      responses: {
        "200": { description: "Metrics.", content: { "text/plain": { schema: { type: "string" } } } },
      },
    },
  },
};

export const openApiDocument = portable({
  openapi: "3.1.0",
  info: {
    title: "jetstream-pg-writer",
    version,
    description:
      "Writes answer once committed (201), or 202 with an operation to poll; errors are RFC 9457 problems. Money is a decimal string computed in integer cents.",
  },
  servers: [{ url: "/", description: "The edge: writes go to the producer, reads to the reader." }],
  paths,
  components: { schemas, headers },
});

let text: string | undefined;

/** GET /api/openapi.json */
export const openApiRoute = () => {
  text ??= JSON.stringify(openApiDocument);
  return textResponse(text, { headers: { "content-type": "application/json" } });
};
