// The checks over the final state, once the system is quiet: every row explained by a write that
// may have made it, every confirmed write's row as confirmed, every 202 resolved to the truth,
// every refusal honest, every command settled, the dead-letter queue holding exactly the garbage
// and the failed. Pure functions of the ledger and what was read from the servers, so each rule
// is tested on its own (checks.test.ts).
import {
  type OrderRow,
  orderResult,
  resultData,
  type UserRow,
  userResult,
} from "../../services/shared/rows.ts";
import { canonical, type OrderResult, type Table, type UserResult } from "../../services/shared/writes.ts";
import { type Answer, describeAnswer, notApplied503 } from "./client.ts";
import type { Attempt, Ledger, Violation } from "./ledger.ts";

export interface Row {
  table: Table;
  id: string;
  result: UserResult | OrderResult;
  fp: string;
}

export interface Snapshot {
  rows: Map<string, Row[]>;
  /** lower(email) → ids holding it. */
  emails: Map<string, string[]>;
}

export function snapshotOf(users: UserRow[], orders: OrderRow[]): Snapshot {
  const rows = new Map<string, Row[]>();
  const emails = new Map<string, string[]>();
  const add = (table: Table, id: string, result: UserResult | OrderResult) => {
    const list = rows.get(id) ?? [];
    list.push({ table, id, result, fp: canonical(table, resultData(table, result)) });
    rows.set(id, list);
  };
  for (const u of users) {
    add("users", u.id, userResult(u));
    const e = u.email.toLowerCase();
    emails.set(e, [...(emails.get(e) ?? []), u.id]);
  }
  for (const o of orders) add("orders", o.id, orderResult(o));
  return { rows, emails };
}

export interface DeadLetter {
  seq: number;
  operationId?: string;
  reason?: string;
  body: string;
}

/** What an answer tells a client about whether its write was applied. */
export type Verdict = "applied" | "refused" | "unknown";

export function verdict(ans: Answer): Verdict {
  if (ans.status === 201 || ans.status === 200) return "applied";
  if ([400, 409, 413, 415, 422].includes(ans.status)) return "refused";
  if (ans.status === 500 && ans.type === "write-failed") return "refused";
  if (ans.status === 503 && notApplied503.has(ans.type ?? "")) return "refused";
  // 202 (resolved separately), outcome-unknown, no answer, any other 5xx.
  return "unknown";
}

/** Whether the attempt could have made a row: not every answer it got said "not applied". */
function mayHaveApplied(a: Attempt): boolean {
  if (a.resolution?.status === "committed") return true;
  return a.answers.length === 0 || a.answers.some((x) => verdict(x) !== "refused");
}

const refusalsOf = (a: Attempt) => a.answers.map(describeAnswer).join(", ");

export interface CheckInput {
  ledger: Ledger;
  snapshot: Snapshot;
  dlq: DeadLetter[];
  /** Tiny limits: the operations bucket may drop a rejected write's record before it is read. */
  tiny: boolean;
  /** Records to look up a hand command's outcome: id → operation status (committed, rejected, ...). */
  operations: Map<string, string>;
}

export interface CheckResult {
  violations: Violation[];
  /** Things worth saying that break no promise (a record the tiny bucket dropped). */
  notes: string[];
}

export function checkFinal(input: CheckInput): CheckResult {
  const { ledger, snapshot } = input;
  const violations: Violation[] = [];
  const notes: string[] = [];
  const byId = new Map<string, Attempt[]>();
  const keylessByFp = new Map<string, Attempt[]>();
  for (const a of ledger.attempts) {
    if (a.id) byId.set(a.id, [...(byId.get(a.id) ?? []), a]);
    else if (a.payload.fp) keylessByFp.set(a.payload.fp, [...(keylessByFp.get(a.payload.fp) ?? []), a]);
  }
  const handById = new Map(ledger.hand.filter((h) => !h.garbage).map((h) => [h.id, h]));
  const manualOf = (id: string) => ledger.manual.filter((m) => m.id === id);
  const detail = (id: string) => ({
    id,
    attempts: (byId.get(id) ?? []).map(describeAttempt),
    rows: snapshot.rows.get(id) ?? [],
    manual: manualOf(id),
    hand: handById.get(id),
    deadLetters: input.dlq.filter((d) => d.operationId === id),
  });
  const violate = (rule: string, what: string, id?: string) =>
    violations.push({ rule, what, ...(id ? { detail: detail(id) } : {}) });

  // Every row: one per key, made by a write that may have made it.
  for (const [id, rows] of snapshot.rows) {
    if (rows.length > 1) violate("one-row-per-key", `key ${id} has a row in both users and orders`, id);
    for (const row of rows) {
      const renamed = manualOf(id).find((m) => m.kind === "rename");
      if (renamed?.kind === "rename" && (row.result as UserResult).name === renamed.name) continue;
      const hand = handById.get(id);
      if (hand && hand.fp === row.fp) continue;
      const attempts = (byId.get(id) ?? []).filter(
        (a) => a.payload.fp === row.fp && a.payload.table === row.table,
      );
      const keyless = (keylessByFp.get(row.fp) ?? []).filter((a) => a.payload.table === row.table);
      if (attempts.length === 0 && keyless.length === 0) {
        violate(
          "row-explained",
          `${row.table} ${id} holds ${row.fp}, which no request under that key sent`,
          id,
        );
        continue;
      }
      if (![...attempts, ...keyless].some(mayHaveApplied)) {
        violate(
          "refused-not-applied",
          `${row.table} ${id} was applied, but every answer said it was not: ${attempts.map(refusalsOf).join(" | ")}`,
          id,
        );
      }
    }
  }

  for (const a of ledger.attempts) {
    const id = a.id;
    if (!id) continue;
    const rows = snapshot.rows.get(id) ?? [];
    const manual = manualOf(id);
    const deleted = manual.some((m) => m.kind === "delete");
    const renamed = manual.some((m) => m.kind === "rename");
    const same = rows.find((r) => r.table === a.payload.table && r.fp === a.payload.fp);
    for (const ans of a.answers) {
      if ((ans.status === 201 || ans.status === 200) && a.payload.validity === "valid" && !deleted) {
        const confirmed = (ans.body as Record<string, unknown>)?.[
          a.payload.table === "users" ? "user" : "order"
        ] as { createdAt?: string } | undefined;
        const row = rows.find((r) => r.table === a.payload.table);
        if (!row)
          violate("confirmed-kept", `${ans.status} for ${a.payload.table} ${id}, and no row holds it`, id);
        else if (!renamed && (row.fp !== a.payload.fp || row.result.createdAt !== confirmed?.createdAt)) {
          violate(
            "confirmed-kept",
            `${ans.status} for ${a.payload.table} ${id}, but the row differs from the answer`,
            id,
          );
        }
      }
      if (ans.status === 409 && ans.type === "email-taken" && a.payload.table === "users") {
        const email = (a.payload.data as { email: string }).email.toLowerCase();
        const holders = (snapshot.emails.get(email) ?? []).filter((h) => h !== id);
        const ownerDeleted = ledger.manual.some(
          (m) => m.kind === "delete" && ledger.emails.get(m.id)?.toLowerCase() === email,
        );
        if (holders.length === 0 && !ownerDeleted) {
          violate("email-taken-true", `409 email-taken for ${email}, but no other user holds that email`, id);
        }
      }
      if (ans.status === 422 && ans.type === "idempotency-key-reused" && !deleted) {
        if (!rows.some((r) => r.fp !== a.payload.fp || r.table !== a.payload.table)) {
          violate(
            "key-reused-true",
            `422 idempotency-key-reused for ${id}, but no other payload holds the key`,
            id,
          );
        }
      }
      if (ans.status === 422 && ans.type === "user-not-found" && a.payload.table === "orders") {
        const userId = (a.payload.data as { userId: string }).userId;
        const user = ledger.committed.get(userId);
        if (user && user.at < ans.at && !ledger.operatorOwned.has(userId)) {
          violate(
            "user-not-found-true",
            `422 user-not-found for order ${id}, sent ${ans.at - user.at} ms after its user ${userId} was confirmed`,
            id,
          );
        }
      }
      if (ans.status === 500 && ans.type === "write-failed" && !input.dlq.some((d) => d.operationId === id)) {
        violate("failed-dead-lettered", `500 write-failed for ${id}, and nothing in WRITES_DLQ`, id);
      }
      if (ans.status === 202 && ans === a.answers.find((x) => x.status === 202)) {
        const r = a.resolution?.status;
        if (r === "committed") {
          if (rows.length === 0 && !deleted)
            violate("accepted-resolves", `202 resolved committed, and no row holds ${id}`, id);
        } else if (r === "rejected" || r === "failed") {
          if (same && !deleted)
            violate("accepted-resolves", `202 resolved ${r}, but the row holds this payload`, id);
          if (r === "failed" && !input.dlq.some((d) => d.operationId === id)) {
            violate("failed-dead-lettered", `202 resolved failed for ${id}, and nothing in WRITES_DLQ`, id);
          }
        } else if (r === "404" && input.tiny && rows.length === 0) {
          notes.push(`202 for ${id}: its record was gone before it was read (tiny operations bucket)`);
        } else {
          violate("accepted-resolves", `202 for ${id} never resolved (last seen: ${r ?? "not polled"})`, id);
        }
      }
    }
  }

  // Commands published by hand: a valid one is committed or rejected, never left.
  for (const h of ledger.hand) {
    if (h.garbage || h.stored !== true) continue;
    const rows = snapshot.rows.get(h.id) ?? [];
    const deleted = ledger.manual.some((m) => m.kind === "delete" && m.id === h.id);
    if (rows.some((r) => r.fp === h.fp) || deleted) continue;
    const status = input.operations.get(h.id);
    if (status === "rejected") continue;
    if ((status === undefined || status === "404") && input.tiny) {
      notes.push(`hand command ${h.id}: no row and no record (the tiny bucket may have dropped it)`);
      continue;
    }
    violate(
      "hand-settled",
      `a command published by hand on writes.${h.table} ended ${status ?? "nowhere"}`,
      h.id,
    );
  }

  // The dead-letter queue: exactly the garbage and the failed. The producer refuses what is
  // invalid before publishing, so a write of a client (or a valid command by hand) that is dead-
  // lettered is one the system failed to apply: with the faults healed, that is a finding too.
  const garbage = ledger.hand.filter((h) => h.garbage);
  const garbageBodies = new Set(garbage.map((g) => g.body));
  const lettered = new Set(input.dlq.map((d) => d.body));
  for (const d of input.dlq) {
    if (garbageBodies.has(d.body)) continue;
    const known = d.operationId && (byId.has(d.operationId) || handById.has(d.operationId));
    violations.push({
      rule: known ? "valid-applied" : "dlq-exact",
      what: known
        ? `a valid write was dead-lettered (${d.operationId}): ${d.reason ?? "no reason"}`
        : `dead letter ${d.seq} is neither garbage nor a write of this run: ${d.reason ?? ""}`,
      detail: { ...d, ...(d.operationId ? detail(d.operationId) : {}) },
    });
  }
  for (const g of garbage) {
    if (g.stored === true && !lettered.has(g.body)) {
      violations.push({
        rule: "dlq-exact",
        what: `garbage published on writes.${g.table} is not in WRITES_DLQ`,
        detail: g,
      });
    }
  }
  return { violations, notes };
}

function describeAttempt(a: Attempt) {
  return {
    attempt: a.n,
    story: a.story,
    client: a.client,
    table: a.payload.table,
    validity: a.payload.validity,
    ...(a.payload.note ? { note: a.payload.note } : {}),
    key: a.keySent ?? "(none)",
    sent: a.payload.body,
    answers: a.answers.map((x) => ({
      at: x.at,
      ms: x.ms,
      answer: describeAnswer(x),
      ...(x.body !== undefined ? { body: x.body } : {}),
    })),
    ...(a.resolution ? { resolution: a.resolution } : {}),
  };
}
