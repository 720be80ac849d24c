// How the command-line tools (the reconciler, `just dlq`, the stack itself) and people reach the
// servers as their administrators: credentials in the URL given, else NATS_USER/NATS_PASSWORD,
// else the local stack's own secrets (<JPW_DATA_DIR>/secrets, readable by its owner only).
import { dataDir } from "../../services/infra/paths.ts";
import { readSecrets, type Secrets, secretsDirOf } from "../../services/infra/secrets.ts";

export const stackSecretsDir = () => secretsDirOf(dataDir);

/** The local stack's secrets, if this user may read them. */
export const stackSecrets = (): Secrets | undefined => readSecrets(stackSecretsDir());

/** Admin credentials for a NATS server a tool connects to (connectTo uses a URL's own first). */
export function adminNatsAuth(
  env: NodeJS.ProcessEnv = process.env,
): { user: string; pass: string } | undefined {
  if (env.NATS_USER) return { user: env.NATS_USER, pass: env.NATS_PASSWORD ?? "" };
  const secrets = stackSecrets();
  return secrets ? { user: "admin", pass: secrets.nats.admin } : undefined;
}
