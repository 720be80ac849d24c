// Credentials of the servers a test uses. Servers the harness starts get fresh ones, generated
// into a temp folder of the test process by the same module as every stack's (services/infra/
// secrets.ts). Servers given by NATS_URL, DATABASE_URL or REDIS_URL bring their admin credentials
// in the URL itself (as `just status` prints them), and the services' credentials come from that
// stack's secrets folder: JPW_SECRETS_DIR, else the local stack's (<JPW_DATA_DIR>/secrets).
import { dataDir } from "../infra/paths.ts";
import { loadSecrets, readSecrets, type Secrets, secretsDirOf } from "../infra/secrets.ts";
import { makeTempDir } from "./process.ts";

let ephemeral: Secrets | undefined;

/** Secrets of the servers this test process starts (one set per process, removed at exit). */
export function testSecrets(): Secrets {
  ephemeral ??= loadSecrets(makeTempDir("secrets"));
  return ephemeral;
}

/** Secrets of a stack whose servers a test reuses; `what` names the variable, for the error. */
export function reusedSecrets(what: string): Secrets {
  const dir = process.env.JPW_SECRETS_DIR || secretsDirOf(dataDir);
  const found = readSecrets(dir);
  if (!found) {
    throw new Error(
      `${what} points at servers this test did not start: their services' credentials are read from ${dir}, which this user cannot read. Set JPW_SECRETS_DIR to that stack's secrets folder, or unset ${what}`,
    );
  }
  return found;
}

/** The user and password inside a URL (nats://admin:pw@host), and the URL without them. */
export function splitCredentials(url: string): { url: string; user?: string; pass?: string } {
  const u = new URL(url);
  if (!u.username) return { url };
  const user = decodeURIComponent(u.username);
  const pass = decodeURIComponent(u.password);
  u.username = "";
  u.password = "";
  return { url: u.toString().replace(/\/$/, ""), user, pass };
}
