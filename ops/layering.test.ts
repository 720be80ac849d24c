// The import graph points one way: ops → services, web → services/shared, and no file imports
// another that imports it back (type-only imports included). Run alone: tsx ops/layering.test.ts
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { root } from "../services/infra/paths.ts";

const skip = new Set(["node_modules", "dist", "artifacts"]);

function sources(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (skip.has(e.name) || e.name.startsWith(".")) continue;
    const path = join(dir, e.name);
    if (e.isDirectory()) sources(path, out);
    else if (/\.tsx?$/.test(e.name) && !e.name.endsWith(".d.ts")) out.push(path);
  }
  return out;
}

// Static imports and re-exports (`import type` too), and dynamic import("...").
const specifier = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["'](\.{1,2}\/[^"']+)["']/gm;

/** file (relative to the root) → the files it imports (relative to the root). */
export function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const dir of ["services", "ops", "web"]) {
    for (const file of sources(join(root, dir))) {
      const text = readFileSync(file, "utf8");
      const targets = [...text.matchAll(specifier)].map((m) => relative(root, resolve(dirname(file), m[1]!)));
      graph.set(relative(root, file), targets);
    }
  }
  return graph;
}

/** Strongly connected components with more than one file, or a file importing itself (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

const graph = importGraph();

test("no file under services/ or web/ imports anything under ops/", () => {
  const upward = [...graph].flatMap(([file, targets]) =>
    file.startsWith("ops/") ? [] : targets.filter((t) => t.startsWith("ops/")).map((t) => `${file} → ${t}`),
  );
  assert.equal(upward, []);
});

test("the UI (web/src) imports from services/ only what services/shared declares", () => {
  // Browser tests (web/tests) may use the test harness like any other test.
  const reach = [...graph].flatMap(([file, targets]) =>
    file.startsWith("web/src/")
      ? targets
          .filter((t) => t.startsWith("services/") && !t.startsWith("services/shared/"))
          .map((t) => `${file} → ${t}`)
      : [],
  );
  assert.equal(reach, []);
});

test("no file imports another that imports it back, directly or around a cycle", () => {
  assert.equal(cycles(graph), []);
});

test("the consumer speaks outcomes, not HTTP: nothing it imports reaches the HTTP helpers or errors", () => {
  const http = ["services/shared/http.ts", "services/shared/errors.ts", "services/shared/outcome-http.ts"];
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const t of graph.get(file) ?? []) visit(t);
  };
  for (const file of graph.keys()) {
    const work = file.startsWith("services/consumer/") && !/\.test\.ts$|\/main\.ts$/.test(file);
    if (work) visit(file);
  }
  assert.equal(
    http.filter((f) => seen.has(f)),
    [],
  );
});

test("the graph is read from real imports (a known edge is found)", () => {
  assert.ok(graph.get("ops/lib/stack-setup.ts")?.includes("services/infra/migrate.ts"));
});

test.run();
