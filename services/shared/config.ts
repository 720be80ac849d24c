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

/**
 * NATS_URL, NATS_USER and NATS_PASSWORD of a service. nats.js ignores credentials inside a URL, so a
 * URL that carries some is refused at start rather than silently connecting without them (and the
 * URL, printed in logs and readiness, never holds a secret).
 */
export const natsEnv = (user: string) => ({
  NATS_URL: type("string")
    .narrow(
      (url, ctx) =>
        !/^[a-z]+:\/\/[^/@]*@/i.test(url) ||
        ctx.mustBe("a URL without credentials (give them in NATS_USER and NATS_PASSWORD)"),
    )
    .default("nats://127.0.0.1:14222"),
  NATS_USER: type("string").default(user),
  /** Empty: connect without credentials (a nats-server without authorization). */
  NATS_PASSWORD: type("string").default(""),
});
