import type { WriteResult } from "../api.ts";

export interface FormErrors {
  fields: Record<string, string>;
  form?: string;
}

/**
 * Where each problem belongs in a form: field errors of a 400 by their path, and the conflicts
 * that concern one field (a taken email, an unknown user) at that field. The rest is form-level.
 */
export function fieldErrorsOf(result: WriteResult | undefined): FormErrors {
  const p = result?.problem;
  if (!p) return { fields: {} };
  const fields: Record<string, string> = {};
  for (const e of p.errors ?? []) fields[e.path || "body"] = `${e.path ? "" : "The body "}${e.message}`;
  const slug = p.type.split("/").pop();
  if (slug === "email-taken") fields.email = p.detail ?? "This email is already taken.";
  if (slug === "user-not-found") fields.userId = p.detail ?? "This user does not exist.";
  const form = Object.keys(fields).length ? undefined : (p.detail ?? p.title);
  return form ? { fields, form } : { fields };
}
