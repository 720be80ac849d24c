// Start and stop of a service process: a start-up failure prints one line and exits 1 (a bad
// variable names itself); SIGTERM/SIGINT run the service's own shutdown (drain NATS, end pools),
// bounded by a deadline so a stuck dependency cannot keep the process alive forever.
import { ConfigError } from "./errors.ts";
import { onShutdown } from "./runtime.ts";

export type Stop = () => Promise<void>;

export async function runService(
  service: string,
  start: () => Promise<Stop>,
  shutdownDeadlineMs = 25_000,
): Promise<void> {
  let stop: Stop;
  try {
    stop = await start();
  } catch (err) {
    const reason =
      err instanceof ConfigError ? err.message : `failed to start: ${(err as Error).stack ?? err}`;
    process.stderr.write(`${service}: ${reason}\n`);
    process.exit(1);
  }
  onShutdown(async () => {
    const timer = setTimeout(() => {
      process.stderr.write(
        `${service}: shutdown took longer than ${shutdownDeadlineMs} ms, exiting anyway\n`,
      );
      process.exit(1);
    }, shutdownDeadlineMs);
    try {
      await stop();
      clearTimeout(timer);
      process.exit(0);
    } catch (err) {
      process.stderr.write(`${service}: shutdown failed: ${(err as Error).message}\n`);
      process.exit(1);
    }
  });
}
