// The checker's operator: what a person does beside the clients. Publishes garbage and valid
// commands by hand on writes.* (as the admin NATS user), and changes rows with SQL as the superuser
// (renames, deletes), which the cache must follow through CDC. Rows it touches are its own from
// then on: no client works on them again, and the checks expect what the operator left.
import { setTimeout as sleep } from "node:timers/promises";
import { type JetStreamClient, jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Sql } from "postgres";
import { canonical, type Table, writeSubject } from "../../services/shared/writes.ts";
import { garbage, orderPayload, userPayload } from "./data.ts";
import type { HandCommand, Ledger } from "./ledger.ts";
import type { Rng } from "./rng.ts";

export interface OperatorContext {
  nc: NatsConnection;
  sql: Sql;
  ledger: Ledger;
  rng: Rng;
  stopping(): boolean;
  now(): number;
  tag(): string;
}

export async function runOperator(ctx: OperatorContext): Promise<void> {
  const js = jetstream(ctx.nc, { timeout: 5000 });
  let n = 0;
  while (!ctx.stopping()) {
    await sleep(ctx.rng.int(500, 3000));
    if (ctx.stopping()) return;
    n++;
    switch (ctx.rng.weighted({ garbage: 3, command: 2, rename: 2, "delete-order": 1, "delete-user": 1 })) {
      case "garbage":
        await publish(
          ctx,
          js,
          ctx.rng.pick(["users", "orders"] as const),
          garbage(ctx.rng, `g${n}-${ctx.tag()}`),
          true,
        );
        break;
      case "command":
        await handCommand(ctx, js);
        break;
      case "rename":
        await rename(ctx, n);
        break;
      case "delete-order":
        await remove(ctx, "orders");
        break;
      case "delete-user":
        await remove(ctx, "users");
        break;
    }
  }
}

async function publish(
  ctx: OperatorContext,
  js: JetStreamClient,
  table: Table,
  body: string,
  isGarbage: boolean,
  command?: { id: string; fp: string },
): Promise<void> {
  const record: HandCommand = {
    table,
    id: command?.id ?? "",
    ...(command ? { fp: command.fp } : {}),
    body,
    at: ctx.now(),
    stored: "unknown",
    garbage: isGarbage,
  };
  ctx.ledger.hand.push(record);
  try {
    await js.publish(writeSubject(table), body);
    record.stored = true;
  } catch (err) {
    // A timeout leaves it unknown; an answer that refused it (no stream) means not stored.
    if (!/timeout/i.test((err as Error).message)) record.stored = false;
  }
}

/** A valid command published by hand (no Reply-To: nobody waits for its answer). */
async function handCommand(ctx: OperatorContext, js: JetStreamClient): Promise<void> {
  const id = ctx.rng.uuid();
  const userId = ctx.rng.chance(0.5)
    ? ctx.ledger.someSettled("users", (k) => ctx.rng.int(0, k - 1))
    : undefined;
  const payload = userId ? orderPayload(ctx.rng, ctx.tag(), userId) : userPayload(ctx.rng, ctx.tag());
  const data = payload.data!;
  const body = JSON.stringify({
    operationId: id,
    table: payload.table,
    op: "create",
    data,
    requestedAt: new Date().toISOString(),
  });
  ctx.ledger.operatorOwned.add(id);
  await publish(ctx, js, payload.table, body, false, { id, fp: canonical(payload.table, data) });
}

/** Whether a failed statement may still have been applied (the connection broke after sending it). */
function uncertain(err: unknown): boolean {
  const code = String((err as { code?: unknown }).code ?? "");
  if (code === "CONNECT_TIMEOUT" || code === "ECONNREFUSED") return false;
  // A server-side error (an SQLSTATE) means the statement failed.
  if (/^[0-9A-Z]{5}$/.test(code)) return false;
  return true;
}

async function statement<T>(run: () => Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      run(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("the statement got no answer in 10 s")), 10_000);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function rename(ctx: OperatorContext, n: number): Promise<void> {
  const id = ctx.ledger.someSettled("users", (k) => ctx.rng.int(0, k - 1));
  if (!id) return;
  ctx.ledger.operatorOwned.add(id);
  const name = `Renamed by hand ${n}`;
  const at = ctx.now();
  try {
    await statement(() => ctx.sql`update users set name = ${name} where id = ${id}`);
    ctx.ledger.manual.push({ kind: "rename", table: "users", id, name, certain: true, at });
  } catch (err) {
    if (uncertain(err))
      ctx.ledger.manual.push({ kind: "rename", table: "users", id, name, certain: false, at });
  }
}

async function remove(ctx: OperatorContext, table: Table): Promise<void> {
  const id = ctx.ledger.someSettled(table, (k) => ctx.rng.int(0, k - 1));
  if (!id) return;
  ctx.ledger.operatorOwned.add(id);
  const at = ctx.now();
  try {
    // A user with orders stays (the foreign key): only users without any are deleted.
    const rows =
      table === "orders"
        ? await statement(() => ctx.sql`delete from orders where id = ${id} returning id`)
        : await statement(
            () =>
              ctx.sql`delete from users u where id = ${id}
                and not exists (select 1 from orders o where o.user_id = u.id) returning id`,
          );
    if (rows.length) ctx.ledger.manual.push({ kind: "delete", table, id, certain: true, at });
  } catch (err) {
    if (uncertain(err)) ctx.ledger.manual.push({ kind: "delete", table, id, certain: false, at });
  }
}
