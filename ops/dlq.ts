// The dead letters of the write path (stream WRITES_DLQ): list them with their reasons, and replay
// them once their cause is fixed. A replayed command goes back to its original subject as a new
// message, the writer applies it like any other (its outcome record follows), and only after the
// PubAck is the dead letter removed: a replay interrupted halfway loses nothing.
//
//   tsx ops/dlq.ts list [--server nats://…]
//   tsx ops/dlq.ts replay <seq> [<seq> …] | --all [--server nats://…]
import { type JetStreamManager, jetstream, jetstreamManager, type StoredMsg } from "@nats-io/jetstream";
import { type NatsConnection, headers as natsHeaders } from "@nats-io/nats-core";
import { color } from "../services/infra/term.ts";
import { dlqHeaders, dlqStream, replyToHeader } from "../services/shared/writes.ts";
import { parseCommandLine } from "./lib/args.ts";
import { adminNats, adminNatsUrl } from "./lib/operator.ts";

export interface DeadLetter {
  seq: number;
  time: Date;
  subject: string;
  originalSubject: string | undefined;
  operationId: string | undefined;
  reason: string | undefined;
  deliveries: string | undefined;
  size: number;
}

const describe = (m: StoredMsg): DeadLetter => ({
  seq: m.seq,
  time: m.time,
  subject: m.subject,
  originalSubject: m.header?.get(dlqHeaders.subject) || undefined,
  operationId: m.header?.get(dlqHeaders.operationId) || undefined,
  reason: m.header?.get(dlqHeaders.reason) || undefined,
  deliveries: m.header?.get(dlqHeaders.deliveries) || undefined,
  size: m.data.length,
});

/** Every dead letter, oldest first. */
export async function listDeadLetters(jsm: JetStreamManager): Promise<DeadLetter[]> {
  const { state } = await jsm.streams.info(dlqStream);
  const out: DeadLetter[] = [];
  if (state.messages === 0) return out;
  for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(dlqStream, { seq });
    if (m) out.push(describe(m));
  }
  return out;
}

export class ReplayError extends Error {
  override name = "ReplayError";
}

/** Publishes dead letter `seq` back to its original subject, then removes it from the DLQ. */
export async function replayDeadLetter(
  nc: NatsConnection,
  jsm: JetStreamManager,
  seq: number,
): Promise<DeadLetter> {
  const m = await jsm.streams.getMessage(dlqStream, { seq });
  if (!m) throw new ReplayError(`${dlqStream} has no message ${seq}`);
  const letter = describe(m);
  if (!letter.originalSubject?.startsWith("writes.")) {
    throw new ReplayError(`dead letter ${seq} has no ${dlqHeaders.subject} header naming a writes.* subject`);
  }
  const h = natsHeaders();
  for (const [k, values] of [...(m.header ?? [])] as [string, string[]][]) {
    // Our bookkeeping stays behind, and nobody waits on the original reply inbox any more.
    if (/^jpw-/i.test(k) || k.toLowerCase() === replyToHeader.toLowerCase() || /^nats-/i.test(k)) continue;
    for (const v of values) h.append(k, v);
  }
  // A message id of its own: the original's would be a JetStream duplicate within the window, and
  // replaying the same dead letter twice in a row is deduplicated.
  await jetstream(nc).publish(letter.originalSubject, m.data, {
    msgID: `${dlqStream}:${seq}:replay`,
    headers: h,
  });
  await jsm.streams.deleteMessage(dlqStream, seq);
  return letter;
}

function print(l: DeadLetter): void {
  console.log(
    `${color.bold(String(l.seq).padStart(6))}  ${l.time.toISOString()}  ${l.originalSubject ?? l.subject}  ` +
      `${l.operationId ?? "(no operationId)"}  after ${l.deliveries ?? "?"} deliveries\n        ${color.red(l.reason ?? "(no reason)")}`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseCommandLine(
    { allowPositionals: true, options: { server: { type: "string" }, all: { type: "boolean" } } },
    "usage: tsx ops/dlq.ts list | replay <seq> [<seq> …] | replay --all  [--server nats://…]",
  );
  const [command, ...rest] = positionals;
  const nc = await adminNats(adminNatsUrl(values.server));
  try {
    const jsm = await jetstreamManager(nc);
    if (command === "list") {
      const letters = await listDeadLetters(jsm);
      for (const l of letters) print(l);
      console.log(`${letters.length} dead letter(s) in ${dlqStream}`);
    } else if (command === "replay") {
      const seqs = values.all
        ? (await listDeadLetters(jsm)).map((l) => l.seq)
        : rest.map((s) => {
            const n = Number(s);
            if (!Number.isInteger(n) || n < 1)
              throw new ReplayError(`"${s}" is not a message sequence (see just dlq list)`);
            return n;
          });
      if (!seqs.length) throw new ReplayError("name the dead letters to replay (just dlq list), or --all");
      for (const seq of seqs) {
        const l = await replayDeadLetter(nc, jsm, seq);
        console.log(`replayed ${seq} to ${l.originalSubject} (${l.operationId ?? "no operationId"})`);
      }
    } else {
      throw new ReplayError(`unknown command ${command ?? ""}: use list or replay <seq…>|--all`);
    }
  } catch (err) {
    console.error(`[dlq] ${(err as Error).message}`);
    process.exitCode = 1;
  } finally {
    await nc.close();
  }
}
