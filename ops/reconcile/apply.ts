// Converges a NATS server towards streams.yaml. This first version creates what is missing and
// sends the full desired config for what exists; plan/diff/drift/prune build on it.
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { type DesiredState, loadSpecFile } from "./spec.ts";

const notFound = (err: unknown) => {
  const code = (err as { code?: number; api_error?: { err_code?: number } }).code;
  return code === 10059 || code === 10014 || /not found/i.test((err as Error).message);
};

export async function applySpec(
  nc: NatsConnection,
  desired: DesiredState,
  log: (line: string) => void = () => {},
): Promise<void> {
  const jsm: JetStreamManager = await jetstreamManager(nc);
  for (const s of desired.streams) {
    try {
      await jsm.streams.info(s.name);
      await jsm.streams.update(s.name, s.config as never);
      log(`stream ${s.name} updated`);
    } catch (err) {
      if (!notFound(err)) throw err;
      await jsm.streams.add(s.config as never);
      log(`stream ${s.name} created`);
    }
    for (const c of s.consumers) {
      try {
        await jsm.consumers.info(s.name, c.name);
        await jsm.consumers.update(s.name, c.name, c.config as never);
        log(`consumer ${s.name}/${c.name} updated`);
      } catch (err) {
        if (!notFound(err)) throw err;
        await jsm.consumers.add(s.name, c.config as never);
        log(`consumer ${s.name}/${c.name} created`);
      }
    }
  }
  const kvm = new Kvm(nc);
  for (const k of desired.kv) {
    await kvm.create(k.bucket, {
      ...(k.description ? { description: k.description } : {}),
      history: k.history,
      ttl: k.ttlMs,
      max_bytes: k.maxBytes,
      maxValueSize: k.maxValueSize,
      storage: k.storage as never,
      replicas: k.replicas,
      compression: k.compression,
      metadata: k.metadata,
    });
    log(`kv ${k.bucket} ensured`);
  }
}

/** Applies streams.yaml (or `file`) to the server at `nc`. */
export async function applyStreamsFile(
  nc: NatsConnection,
  file?: string,
  env?: Record<string, string | undefined>,
) {
  await applySpec(nc, loadSpecFile(file, env));
}
