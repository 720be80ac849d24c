// Every credential a stack uses, generated the first time it is needed and kept owner-only under
// the stack's data folder: `<data>/secrets/` (0700), one file per secret (0600), so a person can
// `cat` one and nothing else on the machine can. The local stack, the test harness (a temp folder
// per test process), the compose env file and a deployed server (generated on the server itself)
// all take their credentials from here; nothing secret is ever committed.
//
// A secret is 32 random bytes, base64url (43 characters): URL-safe, so it may sit inside a
// DATABASE_URL or REDIS_URL without escaping. Secrets travel to processes through environment
// variables or owner-only files, never through command lines (visible to everyone in `ps`).
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  existsSync,
  linkSync,
  mkdirSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";

/** NATS users: one per service, Debezium, and `admin` (reconciler, `just dlq`, `just nats`, people). */
export const natsUsers = ["admin", "producer", "consumer", "reader", "debezium"] as const;
export type NatsUser = (typeof natsUsers)[number];

/**
 * Postgres roles that log in with a password: the superuser (the stack's administration over TCP,
 * people, tests) and the services' roles, which the migrations create without a password.
 */
export const postgresRoles = ["postgres", "jpw_writer", "jpw_reader", "jpw_cdc", "jpw_producer"] as const;
export type PostgresRole = (typeof postgresRoles)[number];

/** Redis ACL users: `admin` (people, tests, the stack) and the reader's cache user. */
export const redisUsers = ["admin", "reader"] as const;
export type RedisUser = (typeof redisUsers)[number];

export interface Secrets {
  dir: string;
  nats: Record<NatsUser, string>;
  postgres: Record<PostgresRole, string>;
  redis: Record<RedisUser, string>;
}

/** Where a stack keeps its secrets, under its data folder. */
export const secretsDirOf = (dataDir: string) => join(dataDir, "secrets");

/** The file that holds one secret, e.g. `nats-admin`, `postgres-jpw_writer`, `redis-reader`. */
export const secretFile = (dir: string, kind: Kind, name: string) => join(dir, `${kind}-${name}`);

export class SecretsError extends Error {
  override name = "SecretsError";
}

/**
 * The secrets kept in `dir`, each one generated (and written owner-only) the first time it is
 * asked for. Tightens the folder and files to owner-only if something loosened them.
 */
export function loadSecrets(dir: string): Secrets {
  // Only the secrets folder is owner-only: its parents (the data folder) keep the usual mode, since
  // other users (Postgres's, when root runs the stack) must reach their own folders there.
  mkdirSync(dirname(dir), { recursive: true });
  if (!existsSync(dir)) mkdirSync(dir, { mode: 0o700 });
  chmodSync(dir, 0o700);
  return collect(dir, (kind, name) => readOrCreate(secretFile(dir, kind, name)));
}

/**
 * The secrets in `dir` if they are there and this user may read them (another user's stack, or a
 * machine where the stack never ran, has none to give): for `just status` and tools that only print.
 */
export function readSecrets(dir: string): Secrets | undefined {
  try {
    if (!existsSync(dir)) return undefined;
    return collect(dir, (kind, name) => readFileSync(secretFile(dir, kind, name), "utf8").trim());
  } catch {
    return undefined;
  }
}

type Kind = "nats" | "postgres" | "redis";

/** Every secret, each one from `get`. */
function collect(dir: string, get: (kind: Kind, name: string) => string): Secrets {
  const all = <N extends string>(kind: Kind, names: readonly N[]) =>
    Object.fromEntries(names.map((n) => [n, get(kind, n)])) as Record<N, string>;
  return {
    dir,
    nats: all("nats", natsUsers),
    postgres: all("postgres", postgresRoles),
    redis: all("redis", redisUsers),
  };
}

/** 32 random bytes, URL-safe. */
export const newSecret = () => randomBytes(32).toString("base64url");

function readOrCreate(file: string): string {
  if (existsSync(file)) {
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
    const value = readFileSync(file, "utf8").trim();
    if (!/^[A-Za-z0-9_-]{32,}$/.test(value)) {
      throw new SecretsError(
        `${file} does not hold a usable secret (32+ URL-safe characters): delete it to have a new one generated`,
      );
    }
    return value;
  }
  const value = newSecret();
  // Written whole under a temporary name, then linked into place: link() fails if the file exists,
  // so when two starts race the first one wins and both read its secret, never half a file.
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${value}\n`, { mode: 0o600 });
  try {
    linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  } finally {
    unlinkSync(tmp);
  }
  return readOrCreate(file);
}

const kinds: [Kind, readonly string[]][] = [
  ["nats", natsUsers],
  ["postgres", postgresRoles],
  ["redis", redisUsers],
];

/** The environment variable that carries one secret into a container: JPW_PG_JPW_WRITER_PASSWORD, ... */
export const secretVariable = (kind: Kind, name: string) =>
  `JPW_${kind === "postgres" ? "PG" : kind.toUpperCase()}_${name.toUpperCase()}_PASSWORD`;

/** Every secret as environment variables (docker compose's env file). */
export function secretsEnv(s: Secrets): Record<string, string> {
  return Object.fromEntries(
    kinds.flatMap(([kind, names]) =>
      names.map((n) => [secretVariable(kind, n), (s[kind] as Record<string, string>)[n]!]),
    ),
  );
}

/** The secrets a container was given in its environment; a missing one is an error naming it. */
export function secretsFromEnv(env: NodeJS.ProcessEnv, dir = "(environment)"): Secrets {
  return collect(dir, (kind, name) => {
    const v = env[secretVariable(kind, name)];
    if (!v)
      throw new SecretsError(
        `${secretVariable(kind, name)} is not set: create the env file with just compose-env`,
      );
    return v;
  });
}
