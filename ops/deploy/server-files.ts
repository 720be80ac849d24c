// Every file the deploy writes on a server, rendered here from the layout and the settings so tests
// can check them (systemd-analyze verify, nft -c, cloud-init schema) without a server.
import { checkEnvValue, layout, publicPorts, type ServerSettings } from "./layout.ts";

/** Debian 13 packages the server needs; everything else comes from the bundle or Maven Central. */
export const serverPackages = [
  "nodejs",
  "npm",
  // Debezium Server (a JDK 21+; the headless runtime is enough).
  "openjdk-21-jre-headless",
  "postgresql-17",
  "redis-server",
  "caddy",
  "nftables",
  "unattended-upgrades",
  "ca-certificates",
  "curl",
];

/**
 * Services these packages install and start on their own. The stack runs its own NATS, Postgres,
 * Redis and Caddy (ports, data and config from ops/stack.ts), so the packaged ones are masked: a
 * second Caddy would take :80, and an idle Postgres or Redis is one more thing to patch and expose.
 */
export const packagedServices = ["caddy.service", "redis-server.service", "postgresql.service"];

/** The command systemd runs, reused verbatim by the deploy test (systemd cannot boot there). */
export const execStart = `/usr/bin/node --import tsx ${layout.current}/ops/stack.ts up`;

/** One unit for the whole stack: ops/stack.ts starts it in order and supervises every process. */
export function unitFile(): string {
  return `# Installed by jetstream-pg-writer's deploy (ops/deploy/server-files.ts); \`just update\` rewrites it.
[Unit]
Description=jetstream-pg-writer: NATS, Postgres, Redis, Debezium, the services and the edge (ops/stack.ts)
After=network-online.target nftables.service
Wants=network-online.target

[Service]
Type=exec
User=${layout.user}
Group=${layout.user}
WorkingDirectory=${layout.current}
EnvironmentFile=${layout.envFile}
ExecStart=${execStart}
# SIGTERM goes to the stack alone, which stops its processes in reverse start order (the edge and the
# producer first, so writes in flight get their answers; NATS and Postgres last); whatever is left
# after it exits is killed.
KillMode=mixed
TimeoutStopSec=180
Restart=always
RestartSec=5s
# Every file the stack creates (generated credentials included) is readable by its owner only.
UMask=0077
StateDirectory=jpw
StateDirectoryMode=0700
LimitNOFILE=65536
# Caddy binds :80 and :443 as the service user.
AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=${layout.data}
ProtectHome=yes
PrivateTmp=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RestrictRealtime=yes
SyslogIdentifier=jpw
# One unit carries every process's lines: the default burst (10000 per 30 s) would drop some under load.
LogRateLimitIntervalSec=30s
LogRateLimitBurst=100000

[Install]
WantedBy=multi-user.target
`;
}

/** The stack's environment on the server (systemd's EnvironmentFile; the \`jpw\` wrapper reads it too). */
export function envFile(s: ServerSettings): string {
  const env: Record<string, string> = {
    JPW_PROFILE: "server",
    // Never hand the system to docker compose, even if someone installs Docker there.
    JPW_NATIVE: "1",
    JPW_DATA_DIR: layout.data,
    JPW_TOOLS_DIR: layout.tools,
    HOME: layout.data,
    ...(s.domain ? { JPW_DOMAIN: s.domain } : {}),
    ...(s.acmeEmail ? { JPW_ACME_EMAIL: s.acmeEmail } : {}),
    ...s.env,
  };
  const lines = Object.entries(env).map(([k, v]) => {
    checkEnvValue(k, v);
    return `${k}=${v}`;
  });
  return `# The stack's environment (ops/deploy/server-files.ts). Settings: \`just deploy ... --env KEY=VALUE\`.\n${lines.join("\n")}\n`;
}

/** The ports the firewall opens for a deployment: ssh, HTTP and, with a domain, HTTPS. */
export function firewallPorts(s: ServerSettings): number[] {
  const ports = publicPorts(s);
  return [s.sshPort, ports.http, ...(ports.https ? [ports.https] : [])];
}

/**
 * The firewall: inbound only ssh, the edge's HTTP port and, with a domain, its HTTPS port (plus
 * loopback, replies and ICMP, which IPv6 needs). Everything internal listens on loopback anyway; this
 * is the second wall. Our own table, replaced as a whole, so other tables are left alone.
 */
export function nftablesConf(open: number[]): string {
  return `#!/usr/sbin/nft -f
# Installed by jetstream-pg-writer's deploy (ops/deploy/server-files.ts).
table inet jpw_firewall
delete table inet jpw_firewall

table inet jpw_firewall {
	chain input {
		type filter hook input priority filter; policy drop;
		iif "lo" accept
		ct state established,related accept
		ct state invalid drop
		meta l4proto icmp accept
		meta l4proto ipv6-icmp accept
		tcp dport { ${[...new Set(open)].join(", ")} } accept
	}

	chain forward {
		type filter hook forward priority filter; policy drop;
	}
}
`;
}

/** Daily package lists and unattended upgrades, security updates only. */
export const autoUpgrades = {
  periodic: `// Installed by jetstream-pg-writer's deploy.
APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";
APT::Periodic::AutocleanInterval "7";
`,
  origins: `// Installed by jetstream-pg-writer's deploy: security updates only (no point-release surprises).
#clear Unattended-Upgrade::Origins-Pattern;
Unattended-Upgrade::Origins-Pattern {
	"origin=Debian,codename=\${distro_codename}-security,label=Debian-Security";
};
Unattended-Upgrade::Remove-Unused-Dependencies "true";
`,
};

/** Keep the journal across reboots, bounded. */
export const journaldConf = `# Installed by jetstream-pg-writer's deploy.
[Journal]
Storage=persistent
SystemMaxUse=2G
`;

/** Read by postgresql-common before the package is installed: no idle default cluster on :5432. */
export const createclusterConf = `# Installed by jetstream-pg-writer's deploy: the stack runs its own cluster under ${layout.data}.
create_main_cluster = false
`;

/** Recipes that are safe on a running server; `up`, `down` and `clean` belong to systemd. */
export const wrapperRecipes = ["status", "streams", "dlq", "migrate"];

/** \`jpw <recipe>\` on the server: the project's own recipes as the service user, with its environment. */
export function wrapperScript(): string {
  return `#!/bin/sh
# jetstream-pg-writer on this server: the project's recipes as the service user, with the stack's
# environment (${layout.envFile}). Start, stop and logs: systemctl / journalctl -u ${layout.unitName}.
#   jpw status | jpw streams plan | jpw dlq list | jpw migrate
set -eu
case "\${1:-}" in
  ${wrapperRecipes.join("|")}) ;;
  *) echo "usage: jpw ${wrapperRecipes.join("|")} [args]  (start/stop: systemctl ... ${layout.unitName}; logs: journalctl -u ${layout.unitName})" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || exec sudo "$0" "$@"
cd ${layout.current}
# The unit's umask: what the recipes write under the data folder stays owner-only.
umask 077
exec runuser -u ${layout.user} -- env -i PATH=/usr/local/bin:/usr/bin:/bin \\
  $(grep -E '^[A-Z][A-Z0-9_]*=' ${layout.envFile}) \\
  ${layout.current}/node_modules/rust-just-linux-x64/bin/just --justfile ${layout.current}/justfile "$@"
`;
}
