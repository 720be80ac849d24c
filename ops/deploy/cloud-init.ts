// The user-data a new server boots with (`just go`). It only prepares the host: an admin user with
// the deployer's key and passwordless sudo, no root or password logins, the firewall and unattended
// security upgrades. Everything else is `just deploy`'s job, so any Debian 13 host can be deployed to.
import { stringify } from "yaml";
import { autoUpgrades, nftablesConf } from "./server-files.ts";

export const adminUser = "deploy";

export function userData(o: { publicKey: string; sshPort?: number }): string {
  const config = {
    users: [
      {
        name: adminUser,
        groups: ["sudo"],
        sudo: "ALL=(ALL) NOPASSWD:ALL",
        shell: "/bin/bash",
        lock_passwd: true,
        ssh_authorized_keys: [o.publicKey.trim()],
      },
    ],
    disable_root: true,
    ssh_pwauth: false,
    package_update: true,
    package_upgrade: true,
    packages: ["nftables", "unattended-upgrades"],
    write_files: [
      // Before the deploy knows whether there is a domain, 443 is open too; the deploy narrows it.
      { path: "/etc/nftables.conf", permissions: "0755", content: nftablesConf([o.sshPort ?? 22, 80, 443]) },
      { path: "/etc/apt/apt.conf.d/20auto-upgrades", content: autoUpgrades.periodic },
      { path: "/etc/apt/apt.conf.d/52jpw-unattended-upgrades", content: autoUpgrades.origins },
    ],
    runcmd: [
      ["systemctl", "enable", "--now", "nftables.service"],
      ["systemctl", "enable", "--now", "unattended-upgrades.service"],
    ],
  };
  return `#cloud-config\n${stringify(config, { lineWidth: 0 })}`;
}
