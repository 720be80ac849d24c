// What replay reads from WRITES: the cut (the writers' ack floor), the window of retained history
// up to it, and each command's logged decision.
//
// The cut is read once, at the start, so replay works under live traffic: every command at or
// below both writers' ack floors is settled (committed, or decided with an event logged before its
// ack), and because the stream's last sequence is read after the floors, every decision event of
// those commands is at or below it. Commands after the cut are not replayed.
//
// History is read with one ordered consumer over `writes.>`, which delivers every stored sequence:
// a sequence that does not arrive was removed from history (deleted by hand), or trimmed by the
// history keeper before it could be read. Commands go to spool files (spool.ts) so the stream is
// read once and fast, then applied at Postgres's pace.
import { join } from "node:path";
import {
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type MsgRequest,
} from "@nats-io/jetstream";
import { type } from "arktype";
import { DecisionEvent } from "../shared/outcomes.ts";
import { consumerName, type Table, tables, writeSubject, writesStream } from "../shared/writes.ts";
import { Spool } from "./spool.ts";

/** Where history stands when replay starts. */
export interface Cut {
  /** When WRITES was created: sequences (and snapshots) belong to one incarnation of the stream. */
  streamCreated: string;
  /** The first sequence retained. */
  first: number;
  /** The stream's last sequence, read after the floors. */
  last: number;
  /** Each writer's ack floor (its last sequence when it has nothing pending or unacked). */
  floors: Record<Table, number>;
  /** The writers' ack floor: every command at or below it is settled. */
  floor: number;
  /** Where replay stops: the floor, or an earlier sequence asked for. */
  cut: number;
}

export class ReplayRefused extends Error {
  override name = "ReplayRefused";
}

export async function readCut(jsm: JetStreamManager, until?: number): Promise<Cut> {
  const before = await jsm.streams.info(writesStream).catch((err) => {
    throw /not found/i.test((err as Error).message)
      ? new ReplayRefused(`stream ${writesStream} not found: there is no history to replay`, { cause: err })
      : err;
  });
  const floors = {} as Record<Table, number>;
  for (const table of tables) {
    const name = consumerName(table);
    const c = await jsm.consumers.info(writesStream, name).catch((err) => {
      throw new ReplayRefused(
        `consumer ${writesStream}/${name} not found: its ack floor bounds what can be replayed (just streams apply)`,
        { cause: err },
      );
    });
    // As the history keeper reads it: a writer with nothing left to do has settled everything.
    floors[table] =
      c.num_pending === 0 && c.num_ack_pending === 0 ? before.state.last_seq : c.ack_floor.stream_seq;
  }
  const { state, created } = await jsm.streams.info(writesStream);
  const first = Math.max(1, state.first_seq);
  const floor = Math.max(first - 1, Math.min(...Object.values(floors)));
  if (until !== undefined && until > floor) {
    throw new ReplayRefused(
      `--until ${until} is past the writers' ack floor ${floor}: commands after it are not all settled yet`,
    );
  }
  const cut = until === undefined ? floor : Math.max(first - 1, until);
  return { streamCreated: created, first, last: state.last_seq, floors, floor, cut };
}

/** A stored message named for people: where it is, when it was stored, whose it is. */
export interface Landmark {
  seq: number;
  time: Date;
  operationId: string | undefined;
  /** A command's requestedAt (its row's created_at), when it has one. */
  requestedAt: string | undefined;
}

/** The first command (writes.users or writes.orders) at or after `seq`. */
export async function commandAtOrAfter(jsm: JetStreamManager, seq: number): Promise<Landmark | undefined> {
  // next_by_subj finds the first message at or after seq on a subject (wildcards allowed);
  // writes.* leaves out the decisions on writes.outcomes.<table>. nats.js types only seq gets.
  const query = { seq, next_by_subj: "writes.*" } as unknown as MsgRequest;
  const m = await jsm.streams.getMessage(writesStream, query).catch(() => null);
  if (!m) return undefined;
  return landmark(m.seq, m.time, m.data);
}

/** The message stored at `seq`, if any. */
export async function messageAt(jsm: JetStreamManager, seq: number): Promise<Landmark | undefined> {
  if (seq < 1) return undefined;
  const m = await jsm.streams.getMessage(writesStream, { seq }).catch(() => null);
  return m ? landmark(m.seq, m.time, m.data) : undefined;
}

function landmark(seq: number, time: Date, data: Uint8Array): Landmark {
  const c = peek(data);
  return { seq, time, operationId: c.operationId, requestedAt: c.requestedAt };
}

/** What a message says about itself without being validated (it may be garbage). */
export function peek(data: Uint8Array): { operationId?: string; requestedAt?: string } {
  try {
    const v = JSON.parse(new TextDecoder().decode(data)) as Record<string, unknown> | null;
    return {
      operationId: typeof v?.operationId === "string" ? v.operationId.toLowerCase() : undefined,
      requestedAt: typeof v?.requestedAt === "string" ? v.requestedAt : undefined,
    };
  } catch {
    return {};
  }
}

const tableOf = new Map<string, Table>(tables.map((t) => [writeSubject(t), t]));

/** The command table of a subject (writes.users, writes.orders), or undefined. */
export const commandTable = (subject: string): Table | undefined => tableOf.get(subject);

/** What replay read: every command of the window, spooled per table, and every decision. */
export interface History {
  /** The first sequence read (the stream's first, or a snapshot's floor + 1). */
  from: number;
  cut: number;
  last: number;
  /** The window's commands, per table, in stream order. */
  commands: Record<Table, Spool>;
  /** Users' commands after the cut, for an order within it whose user was created after it. */
  tailUsers: Spool;
  /** Commands after the cut (not replayed). */
  tailCommands: number;
  /** The first decision logged for each command sequence (a decision may be logged twice). */
  decisions: Map<number, DecisionEvent>;
  /** Decision events for commands within the window. */
  decisionEvents: number;
  /** Sequences between `from` and `last` that are not stored (removed from history). */
  removed: number[];
  /** Messages on writes.> that are neither commands nor decisions (nothing consumes them). */
  other: number;
  /** Decision events that do not parse (ignored; named in the summary). */
  unreadable: number[];
  /** Times of the first and last message read within the window. */
  fromTime: Date | undefined;
  cutTime: Date | undefined;
  close(): Promise<void>;
}

export interface ReadProgress {
  seq: number;
  last: number;
  messages: number;
}

/** Reads [from, last] of WRITES into spools under `dir`. */
export async function readHistory(
  js: JetStreamClient,
  jsm: JetStreamManager,
  o: { from: number; cut: number; last: number; dir: string; onProgress?: (p: ReadProgress) => void },
): Promise<History> {
  const commands = {
    users: await Spool.create(join(o.dir, "users.spool")),
    orders: await Spool.create(join(o.dir, "orders.spool")),
  };
  const tailUsers = await Spool.create(join(o.dir, "tail-users.spool"));
  const h: History = {
    from: o.from,
    cut: o.cut,
    last: o.last,
    commands,
    tailUsers,
    tailCommands: 0,
    decisions: new Map(),
    decisionEvents: 0,
    removed: [],
    other: 0,
    unreadable: [],
    fromTime: undefined,
    cutTime: undefined,
    close: async () => {
      await Promise.all([commands.users.close(), commands.orders.close(), tailUsers.close()]);
    },
  };
  let next = o.from;
  let messages = 0;
  try {
    await read();
  } catch (err) {
    await h.close();
    throw err;
  }
  return h;

  async function read(): Promise<void> {
    await readRange(js, { from: o.from, to: o.last, filter: "writes.>" }, async (m) => {
      for (; next < m.seq; next++) h.removed.push(next);
      next = m.seq + 1;
      messages++;
      if (m.seq <= o.cut) {
        h.fromTime ??= m.time;
        h.cutTime = m.time;
      }
      const table = commandTable(m.subject);
      if (table) {
        if (m.seq <= o.cut) await commands[table].add(m.seq, m.data);
        else {
          h.tailCommands++;
          if (table === "users") await tailUsers.add(m.seq, m.data);
        }
      } else if (m.subject.startsWith("writes.outcomes.")) {
        const e = parseDecision(m);
        if (!e) h.unreadable.push(m.seq);
        else if (e.commandSeq >= o.from && !h.decisions.has(e.commandSeq)) {
          h.decisions.set(e.commandSeq, e);
          if (e.commandSeq <= o.cut) h.decisionEvents++;
        }
      } else h.other++;
      if (messages % 5000 === 0) o.onProgress?.({ seq: m.seq, last: o.last, messages });
    });
    for (; next <= o.last; next++) h.removed.push(next);
    o.onProgress?.({ seq: o.last, last: o.last, messages });

    // Sequences missing at the front while the stream now starts after them were trimmed by the
    // history keeper before they could be read: the window is not what was announced.
    const { state } = await jsm.streams.info(writesStream);
    if (h.removed.length > 0 && h.removed[0] === o.from && state.first_seq > o.from) {
      throw new ReplayRefused(
        `history was trimmed while replay read it (${writesStream} now starts at ${state.first_seq}, ` +
          `replay started at ${o.from}): the history keeper removes the oldest applied commands beyond ` +
          "jpw.history.*; run replay again",
      );
    }
  }
}

function parseDecision(m: JsMsg): DecisionEvent | undefined {
  try {
    const e = DecisionEvent(m.json());
    return e instanceof type.errors ? undefined : e;
  } catch {
    return undefined;
  }
}

/**
 * Operation ids of the commands stored after `from` up to the stream's current end, read when it
 * is called (verify: live rows whose command came after the cut are not compared).
 */
export async function commandIdsAfter(
  js: JetStreamClient,
  jsm: JetStreamManager,
  from: number,
): Promise<Set<string>> {
  const { state } = await jsm.streams.info(writesStream);
  const ids = new Set<string>();
  await readRange(js, { from: from + 1, to: state.last_seq, filter: tables.map(writeSubject) }, async (m) => {
    const id = peek(m.data).operationId;
    if (id) ids.add(id);
  });
  return ids;
}

/**
 * Delivers every message of WRITES on `filter` from `from` through `to` (stopping early when no
 * more are stored), in stream order, through an ordered consumer.
 */
async function readRange(
  js: JetStreamClient,
  r: { from: number; to: number; filter: string | string[] },
  onMessage: (m: JsMsg) => Promise<void>,
): Promise<void> {
  if (r.to < r.from) return;
  const consumer = await js.consumers.get(writesStream, {
    filter_subjects: r.filter,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: r.from,
  });
  const messages = await consumer.consume({ max_messages: 2048 });
  let seen = r.from - 1;
  let checked = seen;
  // Nothing more may be stored up to `to` (the end was removed): stop when nothing is pending.
  const watchdog = setInterval(() => {
    if (seen !== checked) {
      checked = seen;
      return;
    }
    consumer
      .info(false)
      .then((i) => {
        if (i.num_pending === 0 && seen === checked) messages.stop();
      })
      .catch(() => {});
  }, 1000);
  try {
    for await (const m of messages) {
      if (m.seq > r.to) break;
      seen = m.seq;
      await onMessage(m);
      if (m.seq >= r.to) break;
    }
  } finally {
    clearInterval(watchdog);
    messages.stop();
    await consumer.delete().catch(() => {});
  }
}
