// Runs on the server after a (re)start, as the service user with the stack's environment: waits
// until every process of the stack answers its own readiness probe (the ones ops/stack.ts waits
// for at start-up), printing who is still starting. Exit 0 when all are ready.
//
//   node --import tsx ops/deploy/server-ready.ts [timeout seconds, default 600]
import { stackProcs } from "../lib/stack-procs.ts";

const timeoutMs = Number(process.argv[2] ?? 600) * 1000;
const started = Date.now();
const procs = await stackProcs();
let waiting = procs.map((p) => p.name);
let lastNote = 0;
while (waiting.length) {
  const ready = await Promise.all(procs.map((p) => p.ready()));
  waiting = procs.filter((_, i) => !ready[i]).map((p) => p.name);
  const elapsed = Math.round((Date.now() - started) / 1000);
  if (!waiting.length) {
    console.log(`[ready] every process is ready (${procs.map((p) => p.name).join(", ")}) after ${elapsed}s`);
    break;
  }
  if (Date.now() - started > timeoutMs) {
    console.error(`[ready] still not ready after ${elapsed}s: ${waiting.join(", ")}`);
    process.exit(1);
  }
  if (Date.now() - lastNote > 5000) {
    console.log(`[ready] waiting for ${waiting.join(", ")} (${elapsed}s)`);
    lastNote = Date.now();
  }
  await new Promise((r) => setTimeout(r, 1000));
}
