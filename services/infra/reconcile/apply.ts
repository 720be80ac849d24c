// Carries out a plan. Unchanged objects get no request at all (nats-server#5526: even a no-op
// update of a clustered work-queue stream dropped NAK-delayed messages). A change that destroys
// data (a replace, or an update lowering a limit below what the object holds) is made only when
// destruction was allowed; without it apply makes every other change, then refuses with
// DestructiveChangeError naming each one left out. So an upgrade that needs one replace still
// brings everything else up to date, and nothing is ever lost without the flag.
import type { NatsConnection } from "@nats-io/nats-core";
import { DestructiveChangeError } from "./errors.ts";
import { jsApi } from "./js-api.ts";
import { type Change, label, type Plan, type PlanOptions, plan } from "./plan.ts";
import { destruction } from "./render.ts";
import { type DesiredState, loadSpecFile, type SpecOptions } from "./spec.ts";

export interface ApplyOptions {
  /**
   * Allow replacements (delete and recreate) and limits lowered below what an object holds, which
   * lose messages or consumer state.
   */
  allowDestructive?: boolean;
  /** One line per step, as it happens. */
  log?: (line: string) => void;
}

export interface ApplyResult {
  created: number;
  updated: number;
  replaced: number;
  deleted: number;
}

export async function apply(nc: NatsConnection, p: Plan, opts: ApplyOptions = {}): Promise<ApplyResult> {
  const log = opts.log ?? (() => {});
  // Deletions are never refused here: they happen only with --prune, which asked for them.
  const refused = opts.allowDestructive
    ? []
    : p.changes.filter((c) => c.action === "replace" || c.shrinks?.length);
  const changes = p.changes.filter((c) => !refused.includes(c));
  const result: ApplyResult = { created: 0, updated: 0, replaced: 0, deleted: 0 };
  const step = async (what: string, fn: () => Promise<unknown>) => {
    await fn();
    log(`${what}: done`);
  };
  const streams = changes.filter((c) => c.kind !== "consumer");
  const consumers = changes.filter((c) => c.kind === "consumer");
  const replacedStreams = new Set(streams.filter((c) => c.action === "replace").map((c) => c.name));

  // Deletions first: a pruned stream may hold the subjects a new one is about to take.
  for (const c of consumers.filter((c) => c.action === "delete")) {
    await step(`delete ${label(c)}`, () => deleteConsumer(nc, c));
    result.deleted++;
  }
  for (const c of streams.filter((c) => c.action === "delete")) {
    await step(`delete ${label(c)}`, () => deleteStream(nc, c));
    result.deleted++;
  }
  // Updates before creations: an update may release subjects a new stream is declared with.
  for (const action of ["replace", "update", "create"] as const) {
    for (const c of streams.filter((c) => c.action === action)) {
      if (action === "replace") {
        await step(`replace ${label(c)}`, async () => {
          await deleteStream(nc, c);
          await createStream(nc, c);
        });
        result.replaced++;
      } else if (action === "update") {
        await step(`update ${label(c)}`, () => updateStream(nc, c));
        result.updated++;
      } else {
        await step(`create ${label(c)}`, () => createStream(nc, c));
        result.created++;
      }
    }
  }
  for (const c of consumers) {
    if (c.action === "replace") {
      await step(`replace ${label(c)}`, async () => {
        // Its stream's replacement already took the old one with it.
        if (!replacedStreams.has(c.stream!)) await deleteConsumer(nc, c);
        await writeConsumer(nc, c, "create");
      });
      result.replaced++;
    } else if (c.action === "update") {
      await step(`update ${label(c)}`, () => writeConsumer(nc, c, "update"));
      result.updated++;
    } else if (c.action === "create") {
      await step(`create ${label(c)}`, () => writeConsumer(nc, c, "create"));
      result.created++;
    }
  }
  if (refused.length) throw refusal(refused, result);
  return result;
}

function refusal(refused: Change[], done: ApplyResult): DestructiveChangeError {
  const made = done.created + done.updated + done.replaced + done.deleted;
  const them = refused.length === 1 ? "it" : "them";
  const how = refused.every((c) => c.action === "replace") ? `delete and recreate ${them}` : `make ${them}`;
  return new DestructiveChangeError(
    `refusing to apply: ${refused.map(destruction).join("; ")}. ${
      made
        ? `Every other change was made (${done.created} created, ${done.updated} updated, ${done.deleted} deleted).`
        : "Nothing was changed."
    } Re-run with --allow-destructive to ${how}`,
    done,
  );
}

const createStream = (nc: NatsConnection, c: Change) =>
  jsApi(nc, `STREAM.CREATE.${c.name}`, { ...c.request, pedantic: true }, `create ${label(c)}`);

const updateStream = (nc: NatsConnection, c: Change) =>
  jsApi(nc, `STREAM.UPDATE.${c.name}`, { ...c.request, pedantic: true }, `update ${label(c)}`);

const deleteStream = (nc: NatsConnection, c: Change) =>
  jsApi(nc, `STREAM.DELETE.${c.name}`, undefined, `delete ${label(c)}`);

const deleteConsumer = (nc: NatsConnection, c: Change) =>
  jsApi(nc, `CONSUMER.DELETE.${c.stream}.${c.name}`, undefined, `delete ${label(c)}`);

/** create fails if a different consumer exists (10148); update fails if none does (10149). */
const writeConsumer = (nc: NatsConnection, c: Change, action: "create" | "update") =>
  jsApi(
    nc,
    `CONSUMER.CREATE.${c.stream}.${c.name}`,
    { stream_name: c.stream, config: c.request, action, pedantic: true },
    `${action} ${label(c)}`,
  );

export interface ReconcileOptions extends ApplyOptions, PlanOptions {}

/** Plans and applies in one go: what the stack start-up and the test harness call. */
export async function reconcile(
  nc: NatsConnection,
  desired: DesiredState,
  opts: ReconcileOptions = {},
): Promise<{ plan: Plan; result: ApplyResult }> {
  const p = await plan(nc, desired, opts);
  const result = await apply(nc, p, opts);
  return { plan: p, result };
}

/** Applies streams.yaml (or `file`) to the server at `nc`; never destroys data, never prunes. */
export async function applyStreamsFile(
  nc: NatsConnection,
  file?: string,
  opts: SpecOptions = {},
): Promise<void> {
  await reconcile(nc, loadSpecFile(file, opts));
}
