// just streams plan | just streams apply: make a NATS server match streams.yaml, safely.
//
//   tsx ops/reconcile/cli.ts plan|apply [--json] [--allow-destructive] [--prune]
//                                      [--file <path>] [--server <nats url>] [--monitor <http url>]
import { main } from "./command.ts";

process.exitCode = await main(process.argv.slice(2));
