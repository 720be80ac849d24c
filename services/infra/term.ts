// Human-facing output for ops scripts: colour only on a TTY (and never with NO_COLOR), progress as
// "[scope] message" lines so logs stay readable when piped.
const useColor = process.stdout.isTTY === true && !process.env.NO_COLOR;
const paint = (code: number) => (s: string) => (useColor ? `\x1b[${code}m${s}\x1b[0m` : s);

export const color = {
  red: paint(31),
  green: paint(32),
  yellow: paint(33),
  blue: paint(34),
  magenta: paint(35),
  cyan: paint(36),
  dim: paint(2),
  bold: paint(1),
};

export function say(scope: string, message: string): void {
  console.log(`${color.dim(`[${scope}]`)} ${message}`);
}

export function warn(scope: string, message: string): void {
  console.log(`${color.yellow(`[${scope}]`)} ${message}`);
}

export function fail(scope: string, message: string): void {
  console.error(`${color.red(`[${scope}]`)} ${message}`);
}

export function seconds(startMs: number): string {
  return `${((performance.now() - startMs) / 1000).toFixed(1)}s`;
}
