// NATS subject algebra for the cross-checks the server would only make later (or never: 2.14 accepts
// a consumer filter outside its stream's subjects and the consumer then silently sees nothing).
// Tokens are separated by ".", "*" matches exactly one token, ">" one or more and only at the end.

/** Why `subject` is not a valid stream subject or filter, or undefined when it is. */
export function subjectProblem(subject: string): string | undefined {
  if (subject === "") return "is empty";
  if (/\s/.test(subject)) return "contains whitespace";
  const tokens = subject.split(".");
  for (const [i, t] of tokens.entries()) {
    if (t === "") return "has an empty token (leading, trailing or double dot)";
    if (t.length > 1 && (t.includes("*") || t.includes(">"))) {
      return `has a wildcard inside the token "${t}" (wildcards stand alone: a.*.c, a.>)`;
    }
    if (t === ">" && i !== tokens.length - 1) return "has > before the last token";
  }
  return undefined;
}

/** True when some subject matches both patterns (the server's "subjects overlap", 10065). */
export function subjectsCollide(a: string, b: string): boolean {
  const x = a.split(".");
  const y = b.split(".");
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] === ">" || y[i] === ">") return true;
    if (x[i] !== "*" && y[i] !== "*" && x[i] !== y[i]) return false;
  }
  return x.length === y.length;
}

/** True when every subject matching `inner` also matches `outer`. */
export function subjectIsSubset(inner: string, outer: string): boolean {
  const x = inner.split(".");
  const y = outer.split(".");
  for (let i = 0; i < y.length; i++) {
    const o = y[i]!;
    const t = x[i];
    if (o === ">") return t !== undefined;
    if (t === undefined || t === ">") return false;
    if (o !== "*" && t !== o) return false;
  }
  return x.length === y.length;
}
