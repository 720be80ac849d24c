// Environment parsed once per service by an arktype type that holds the defaults. A bad value
// stops the service at start with one line naming the variable.
import { type Type, type } from "arktype";
import { ConfigError } from "./errors.ts";

export function loadConfig<S extends Type>(
  schema: S,
  env: Record<string, string | undefined> = process.env,
): S["infer"] {
  // Empty variables count as unset, as in most shells' `FOO= cmd` usage.
  const given = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const out = schema(given);
  if (out instanceof type.errors) {
    throw new ConfigError(`invalid configuration: ${[...out].map((e) => e.message).join("; ")}`);
  }
  return out as S["infer"];
}

/** Common pieces of every service's environment. */
export const port = (fallback: number) =>
  type("string.integer.parse").to("0 <= number.integer <= 65535").default(String(fallback));
export const nonNegativeInt = (fallback: number) =>
  type("string.integer.parse").to("number.integer >= 0").default(String(fallback));
export const positiveInt = (fallback: number) =>
  type("string.integer.parse").to("number.integer >= 1").default(String(fallback));
export const logLevel = "'debug' | 'info' | 'warn' | 'error' = 'info'" as const;
