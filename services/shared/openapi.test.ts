import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { root } from "../infra/paths.ts";
import { tools } from "../infra/tools.ts";
import { parseCents } from "./money.ts";
import { moneyPattern, openApiDocument, portablePattern } from "./openapi.ts";

const methods = new Set(["GET", "POST", "PUT", "PATCH", "DELETE"]);

/**
 * Every route the services register, read from their route tables: each `[method, "/path", handler]`
 * tuple in a service's source (router() takes nothing else). The harness and tests are left out.
 */
function registeredRoutes(): Map<string, string> {
  const found = new Map<string, string>();
  const visit = (file: string) => {
    const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest);
    const walk = (node: ts.Node) => {
      if (ts.isArrayLiteralExpression(node) && node.elements.length === 3) {
        const [method, path] = node.elements;
        if (
          method &&
          path &&
          ts.isStringLiteral(method) &&
          methods.has(method.text) &&
          ts.isStringLiteral(path) &&
          path.text.startsWith("/")
        ) {
          // The router's ":id" is OpenAPI's "{id}".
          const route = `${method.text} ${path.text.replace(/:(\w+)/g, "{$1}")}`;
          found.set(route, relative(root, file));
        }
      }
      ts.forEachChild(node, walk);
    };
    walk(source);
  };
  const dir = join(root, "services");
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const path = join(e.parentPath, e.name);
    if (!e.isFile() || !/\.tsx?$/.test(e.name) || /\.test\.tsx?$/.test(e.name)) continue;
    if (relative(dir, path).startsWith("testing/")) continue;
    visit(path);
  }
  return found;
}

function documentedRoutes(): string[] {
  return Object.entries(openApiDocument.paths).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((k) => methods.has(k.toUpperCase()))
      .map((m) => `${m.toUpperCase()} ${path}`),
  );
}

test("every route a service registers is in the document, and every documented route is registered", () => {
  const registered = registeredRoutes();
  assert.ok(registered.has("POST /api/users"), "the producer's routes are found");
  assert.ok(registered.has("GET /api/users/{id}/orders"), "the reader's routes are found");
  const documented = documentedRoutes();
  const undocumented = [...registered]
    .filter(([r]) => !documented.includes(r))
    .map(([r, f]) => `${r} (${f})`);
  const unregistered = documented.filter((r) => !registered.has(r));
  assert.equal(undocumented, [], "registered but not documented");
  assert.equal(unregistered, [], "documented but not registered");
});

test("the document is valid OpenAPI 3.1 (openapi-spec-validator)", () => {
  const r = spawnSync(tools.openapiSpecValidator(), ["--schema", "3.1", "-"], {
    input: JSON.stringify(openApiDocument),
    encoding: "utf8",
  });
  assert.is(r.status, 0, `${r.stdout}${r.stderr}`);
});

test("the documented money grammar accepts exactly the strings parseCents accepts", () => {
  const pattern = new RegExp(moneyPattern);
  const samples = [
    "0",
    "19.99",
    "19.9",
    "19.",
    ".5",
    "0.001",
    "-1",
    "1e3",
    " 1",
    "9999999999.99",
    "99999999999",
  ];
  for (const s of [...samples, "1".repeat(10), "1".repeat(11), "00.00", "1,000", "١٢"]) {
    assert.is(pattern.test(s), typeof parseCents(s) === "bigint", s);
  }
});

test("derived patterns spell out \\d and \\w as the ASCII classes JavaScript gives them", () => {
  assert.is(portablePattern("^[\\w%+.-]+@\\d{2}\\.\\w$"), "^[A-Za-z0-9_%+.-]+@[0-9]{2}\\.[A-Za-z0-9_]$");
  assert.is(portablePattern("^[\\dA-F]\\\\d$"), "^[0-9A-F]\\\\d$", "an escaped backslash is not a class");
});

test("a request body's schema comes from the type the producer parses it with", () => {
  const user = openApiDocument.components.schemas.UserInput as {
    required: string[];
    additionalProperties: boolean;
    properties: Record<string, { pattern?: string; minLength?: number }>;
  };
  assert.equal(user.required.sort(), ["email", "name"]);
  assert.is(user.additionalProperties, false, "unknown keys are refused");
  // Trimmed first: surrounding whitespace is allowed around the email's own pattern.
  assert.ok(new RegExp(user.properties.email!.pattern!).test("  grace@example.com "));
  assert.not.ok(new RegExp(user.properties.email!.pattern!).test("grace@"));
  assert.is(user.properties.name!.minLength, 1);
  // Inside a type that is itself normalised (OrderInput), a nested trimmed string keeps its limits.
  const order = JSON.stringify(openApiDocument.components.schemas.OrderInput);
  assert.match(order, /"productId":\{"type":"string","minLength":1,/);
});

test.run();
