// The write path as tests and benchmarks use it: the consumer and the producer as real processes
// against a test's NATS and database, and a client that speaks to the producer like any other.

import type { PostgresRole } from "../infra/secrets.ts";
import { until } from "../infra/until.ts";
import { natsAuthFor } from "./nats.ts";
import { postgresPasswordFor } from "./postgres.ts";
import { type RunningService, type Runtime, startService } from "./service.ts";

// Tests of the write path wait with it; it lives with the other infrastructure helpers.

export interface WritePath extends AsyncDisposable {
  producer: RunningService;
  consumer: RunningService;
  /** Starts the consumer again after stop() or kill(), with the same settings. */
  restartConsumer(): Promise<void>;
}

export async function startWritePath(opts: {
  natsUrl: string;
  /** The database as jpw_writer (the producer reads it as jpw_producer). */
  databaseUrl: string;
  runtime?: Runtime;
  consumerEnv?: Record<string, string>;
  producerEnv?: Record<string, string>;
}): Promise<WritePath> {
  // Each service as its own NATS user, with the permissions it has in every stack.
  const natsEnv = (user: "consumer" | "producer") => {
    const { pass } = natsAuthFor(opts.natsUrl, user);
    return { NATS_URL: opts.natsUrl, NATS_USER: user, NATS_PASSWORD: pass };
  };
  const consumerSpec = {
    entry: "services/consumer/main.ts",
    name: "consumer",
    runtime: opts.runtime ?? "node",
    env: { ...natsEnv("consumer"), DATABASE_URL: opts.databaseUrl, ...opts.consumerEnv },
  };
  let consumer = await startService(consumerSpec);
  const producer = await startService({
    entry: "services/producer/main.ts",
    name: "producer",
    runtime: opts.runtime ?? "node",
    env: {
      ...natsEnv("producer"),
      DATABASE_URL: asRole(opts.databaseUrl, "jpw_producer"),
      ...opts.producerEnv,
    },
  });
  // Ready means attached to both consumers: writes sent now are answered, not 202'd by a cold start.
  await until(async () => (await fetch(`${consumer.url}/readyz`)).ok, 20_000, "the consumer to be ready");
  await until(async () => (await fetch(`${producer.url}/readyz`)).ok, 20_000, "the producer to be ready");
  return {
    producer,
    get consumer() {
      return consumer;
    },
    async restartConsumer() {
      consumer = await startService(consumerSpec);
      await until(async () => (await fetch(`${consumer.url}/readyz`)).ok, 20_000, "the consumer to be ready");
    },
    async [Symbol.asyncDispose]() {
      await producer.stop();
      await consumer.stop();
    },
  };
}

/** The same database as another role, with that role's password (one of the harness's servers). */
function asRole(url: string, role: PostgresRole): string {
  const u = new URL(url);
  u.username = role;
  u.password = encodeURIComponent(postgresPasswordFor(url, role));
  return u.toString();
}

export interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

export async function postJson(
  baseUrl: string,
  path: string,
  body: unknown,
  key?: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await fetch(`${baseUrl}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(key ? { "idempotency-key": key } : {}), ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}
