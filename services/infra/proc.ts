// Running external commands from ops scripts: output streamed with a prefix so a person sees
// progress, and a failure that names the command and shows its last lines.
import { type SpawnOptions, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { color } from "./term.ts";

export class CommandError extends Error {
  override name = "CommandError";
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly output: string[],
  ) {
    super(message);
  }
}

export interface RunOptions extends Pick<SpawnOptions, "cwd" | "env" | "uid" | "gid"> {
  /** Prefix for streamed lines; `false` captures silently (shown only on failure). */
  prefix?: string | false;
  input?: string;
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<string[]> {
  const { prefix = cmd.split("/").pop(), input, ...spawnOpts } = opts;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      ...spawnOpts,
      stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    const lines: string[] = [];
    const onLine = (line: string) => {
      lines.push(line);
      if (lines.length > 2000) lines.shift();
      if (prefix !== false) console.log(`${color.dim(`  ${prefix} |`)} ${line}`);
    };
    createInterface({ input: child.stdout! }).on("line", onLine);
    createInterface({ input: child.stderr! }).on("line", onLine);
    if (input !== undefined) {
      // A command that exits before reading its input must not crash us with EPIPE.
      child.stdin!.on("error", () => {});
      child.stdin!.end(input);
    }
    child.on("error", (err) => reject(new CommandError(`cannot run ${cmd}: ${err.message}`, null, lines)));
    child.on("close", (code, signal) => {
      if (code === 0) return resolve(lines);
      const tail = prefix === false ? `\n${lines.slice(-20).join("\n")}` : "";
      reject(
        new CommandError(
          `${[cmd, ...args].join(" ")} failed (${signal ?? `exit ${code}`})${tail}`,
          code,
          lines,
        ),
      );
    });
  });
}

/** Output of a quick command, or undefined when it cannot run. */
export async function probe(cmd: string, args: string[]): Promise<string | undefined> {
  try {
    return (await run(cmd, args, { prefix: false })).join("\n");
  } catch {
    return undefined;
  }
}
