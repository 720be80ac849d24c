// Raw JetStream API requests. The reconciler sends whole configs, with `pedantic` so the server
// refuses rather than silently adjusts a value, and an explicit create/update action; nats.js's
// managers would merge an update into the old config instead (a removed field would survive).
import type { NatsConnection } from "@nats-io/nats-core";
import { ApiError, requestError } from "./errors.ts";

const timeout = 15_000;

interface ApiResponse {
  error?: { code: number; err_code: number; description: string };
}

/** `subject` without the `$JS.API.` prefix, e.g. "STREAM.INFO.WRITES". */
export async function jsApi<T>(nc: NatsConnection, subject: string, body: unknown, what: string): Promise<T> {
  const full = `$JS.API.${subject}`;
  let reply: ApiResponse & T;
  try {
    const msg = await nc.request(full, body === undefined ? "" : JSON.stringify(body), { timeout });
    reply = msg.json<ApiResponse & T>();
  } catch (err) {
    throw requestError(err, what, full);
  }
  if (reply.error) {
    const { err_code, description } = reply.error;
    throw new ApiError(`cannot ${what}: ${description} (JetStream error ${err_code})`, err_code);
  }
  return reply;
}

/** Every page of a paged list (STREAM.LIST, CONSUMER.LIST.<stream>). */
export async function jsList<T>(
  nc: NatsConnection,
  subject: string,
  key: string,
  what: string,
): Promise<T[]> {
  const out: T[] = [];
  for (;;) {
    const page = await jsApi<{ total: number; limit: number } & Record<string, unknown>>(
      nc,
      subject,
      { offset: out.length },
      what,
    );
    const items = (page[key] as T[] | null) ?? [];
    out.push(...items);
    if (items.length === 0 || out.length >= page.total) return out;
  }
}
