// `just deploy / update / ssh / server-logs / go / destroy` (the work is in deploy.ts).
//
//   tsx ops/deploy/cli.ts deploy <user@host[:port]> [--domain D] [--email E] [--env K=V ...] [--allow-dirty]
//   tsx ops/deploy/cli.ts update [--allow-dirty] [--allow-destructive]
//   tsx ops/deploy/cli.ts ssh [command ...]
//   tsx ops/deploy/cli.ts logs [process ...]
//   tsx ops/deploy/cli.ts go [deploy options]
//   tsx ops/deploy/cli.ts destroy [--yes]
import { spawnSync } from "node:child_process";
import { parseArgs } from "node:util";
import { fail } from "../../services/infra/term.ts";
import {
  DeployError,
  deploy,
  destroy,
  go,
  logsCommand,
  sshInteractive,
  sshOptions,
  update,
} from "./deploy.ts";
import { checkEnvValue } from "./layout.ts";
import { parseTarget, RemoteError, sshArgs, TargetError } from "./ssh.ts";
import { requireState } from "./state.ts";
import { VultrError } from "./vultr.ts";

function parseEnv(pairs: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf("=");
    if (at < 1) throw new DeployError(`--env ${pair}: use KEY=VALUE`);
    checkEnvValue(pair.slice(0, at), pair.slice(at + 1));
    env[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return env;
}

const usage = `Usage: tsx ops/deploy/cli.ts <command>

  deploy <user@host[:port]>   install the committed HEAD on a fresh Debian 13 server over ssh
      --domain <name>           serve https://<name> (Caddy gets the certificate; DNS must point here)
      --email <address>         contact for the certificate authority (optional)
      --env KEY=VALUE           extra environment for the stack (repeatable)
      --allow-dirty             ship HEAD even though the working tree has uncommitted changes
  update [--allow-dirty] [--allow-destructive]
                              roll out the committed HEAD to the deployed server
  ssh [command ...]           a shell (or one command) on the deployed server
  logs [process ...]          follow the server's journal (all processes, or the named ones)
  go [deploy options]         create a Vultr server (VULTR_API_KEY), wait for ssh, deploy to it
  destroy [--yes]             delete the Vultr server that go created
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      domain: { type: "string" },
      email: { type: "string" },
      env: { type: "string", multiple: true },
      "allow-dirty": { type: "boolean" },
      "allow-destructive": { type: "boolean" },
      yes: { type: "boolean" },
    },
    strict: command !== "ssh",
  });
  const deployOptions = () => ({
    ...(values.domain ? { domain: String(values.domain) } : {}),
    ...(values.email ? { acmeEmail: String(values.email) } : {}),
    env: parseEnv((values.env as string[] | undefined) ?? []),
    allowDirty: values["allow-dirty"] === true,
  });
  switch (command) {
    case "deploy":
      if (positionals.length !== 1) throw new DeployError(`deploy needs one target (user@host)\n\n${usage}`);
      await deploy(positionals[0]!, deployOptions());
      return 0;
    case "update":
      await update({
        allowDirty: values["allow-dirty"] === true,
        allowDestructive: values["allow-destructive"] === true,
      });
      return 0;
    case "ssh":
      return sshInteractive(rest);
    case "logs": {
      const state = requireState();
      return (
        spawnSync("ssh", sshArgs(parseTarget(state.target), sshOptions(), logsCommand(positionals)), {
          stdio: "inherit",
        }).status ?? 1
      );
    }
    case "go":
      await go(deployOptions());
      return 0;
    case "destroy":
      await destroy(values.yes === true);
      return 0;
    default:
      console.error(usage);
      return command ? 1 : 0;
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  const known =
    err instanceof DeployError ||
    err instanceof TargetError ||
    err instanceof RemoteError ||
    err instanceof VultrError;
  fail("deploy", known ? (err as Error).message : ((err as Error).stack ?? String(err)));
  process.exitCode = 1;
}
