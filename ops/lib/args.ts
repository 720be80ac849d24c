// The command lines of ops/ entry points, read by node:util parseArgs. A wrong flag ends the process
// with parseArgs's message and the command's usage (exit 1), not a stack trace.
import { type ParseArgsConfig, parseArgs } from "node:util";

export function parseCommandLine<const T extends ParseArgsConfig>(
  config: T,
  usage: string,
  argv: string[] = process.argv.slice(2),
) {
  try {
    return parseArgs({ ...config, args: argv });
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${usage}`);
    process.exit(1);
  }
}
