// Where things live on a deployed server, and what a deployment is configured with. One source for
// the files rendered here (server-files.ts), the server-side script (server.sh reads them from the
// bundle's meta.env) and the tests.

export const layout = {
  /** The unprivileged user every process of the stack runs as (no login, no sudo). */
  user: "jpw",
  /** Code and tools, owned by root: the service user can read but not change what it runs. */
  home: "/opt/jpw",
  releases: "/opt/jpw/releases",
  current: "/opt/jpw/current",
  tools: "/opt/jpw/tools",
  /** What was rolled out last: revision, tool versions, the UI's hash (KEY=value lines). */
  deployedFile: "/opt/jpw/deployed.env",
  /** The stack's data (NATS store, Postgres cluster, Redis, Debezium offsets, Caddy's certificates). */
  data: "/var/lib/jpw",
  etc: "/etc/jpw",
  envFile: "/etc/jpw/jpw.env",
  unitName: "jpw.service",
  unitFile: "/etc/systemd/system/jpw.service",
  /** Downloads verified before use (Debezium Server), removed once unpacked. */
  cache: "/var/cache/jpw",
  /** `jpw status`, `jpw streams plan`, ... on the server, as the service user. */
  wrapper: "/usr/local/bin/jpw",
} as const;

/** What a person chooses for a server; everything else follows from the commit being deployed. */
export interface ServerSettings {
  /** The port sshd listens on (the firewall keeps it open). */
  sshPort: number;
  /** A public name pointing at the server: Caddy serves HTTPS for it and redirects HTTP. */
  domain?: string;
  acmeEmail?: string;
  /** Extra environment for the stack (JPW_*_PORT, CONSUMER_*, LOG_LEVEL, ...), KEY=value. */
  env: Record<string, string>;
}

/** The edge's public ports on the server: JPW_HTTP_PORT / JPW_HTTPS_PORT in `env`, else 80 and 443. */
export function publicPorts(s: ServerSettings): { http: number; https?: number } {
  const port = (name: string, fallback: number) => Number(s.env[name] ?? fallback);
  return { http: port("JPW_HTTP_PORT", 80), ...(s.domain ? { https: port("JPW_HTTPS_PORT", 443) } : {}) };
}

/** Values that end up in files systemd and the shell read line by line: no quoting games. */
export function checkEnvValue(key: string, value: string): void {
  if (!/^[A-Z][A-Z0-9_]*$/.test(key)) throw new Error(`--env ${key}=...: names are upper case, digits and _`);
  if (!/^[A-Za-z0-9_./:@,+=-]*$/.test(value)) {
    throw new Error(`--env ${key}=${value}: values may hold letters, digits and _ . / : @ , + = - only`);
  }
}
