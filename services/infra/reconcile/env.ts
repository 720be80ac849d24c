// ${NAME} and ${NAME:-default} in streams.yaml values, for what differs per environment (one replica
// locally, three in a cluster). Substituted inside parsed scalars rather than in the raw text, so a
// value can never inject YAML structure, comments are left alone, and an error points at its line.
import { type Document, isScalar, type LineCounter, parse, Scalar, visit } from "yaml";

const reference = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export interface EnvProblem {
  line: number | undefined;
  message: string;
}

/**
 * Replaces references in every value scalar of `doc`; returns one problem per unset variable.
 * `written` receives each substituted scalar's text as the file has it, for messages that name the
 * variable to set.
 */
export function substituteEnv(
  doc: Document,
  env: Record<string, string | undefined>,
  lines: LineCounter,
  written?: Map<Scalar, string>,
): EnvProblem[] {
  const problems: EnvProblem[] = [];
  visit(doc, {
    Scalar(key, node) {
      // Keys are names of objects and fields: never substituted.
      if (key === "key" || typeof node.value !== "string" || !node.value.includes("${")) return;
      written?.set(node, node.value);
      const text = node.value.replace(reference, (whole, name: string, fallback?: string) => {
        const value = env[name];
        if (value !== undefined && value !== "") return value;
        if (fallback !== undefined) return fallback;
        problems.push({
          line: node.range ? lines.linePos(node.range[0]).line : undefined,
          message: `${name} is not set and ${whole} has no default (write \${${name}:-value})`,
        });
        return whole;
      });
      // A plain (unquoted) scalar takes the type its new text has in YAML: ${JPW_REPLICAS:-1} is
      // the number 1. Only scalars: a variable holding "[a, b]" stays the string "[a, b]".
      let value: unknown = text;
      if (node.type === Scalar.PLAIN) {
        try {
          const typed = parse(text);
          if (typed === null || ["string", "number", "boolean"].includes(typeof typed)) value = typed;
        } catch {
          // Not valid YAML on its own (e.g. "a: b: c"): keep it as text.
        }
      }
      if (isScalar(node)) node.value = value;
    },
  });
  return problems;
}

/** The first variable `text` refers to ("${JPW_REPLICAS:-1}" → "JPW_REPLICAS"), if any. */
export function variableIn(text: string | undefined): string | undefined {
  return text === undefined ? undefined : /\$\{([A-Za-z_][A-Za-z0-9_]*)/.exec(text)?.[1];
}
