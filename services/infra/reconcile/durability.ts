// Warnings, never errors: settings under which JetStream may lose acknowledged writes. Local
// development legitimately runs R1 and sometimes lazy fsync; a plan should still say so
// (jetstream.md §7: Jepsen "NATS 2.12.1" lost acknowledged writes to the default lazy fsync).
// persist_mode: async is not among them: streams.yaml declares which streams hold derived data,
// and checks.ts refuses it on any other.
import { canonicalStream, type StreamSpec } from "./model.ts";
import type { ServerFacts } from "./server.ts";

import { formatDuration, formatSize } from "./units.ts";

export function durabilityWarnings(
  streams: StreamSpec[],
  server: ServerFacts,
  env: Record<string, string | undefined>,
): string[] {
  const warnings: string[] = [];
  if (server.sync && !server.sync.always) {
    warnings.push(
      `nats-server at ${server.url} fsyncs only every ${formatDuration(server.sync.intervalNs)}, after acknowledging: a power loss can lose acknowledged writes. Set jetstream { sync_interval: always } in its config`,
    );
  } else if (!server.sync) {
    warnings.push(`fsync policy not checked: ${server.syncUnknown ?? "unknown"}`);
  }

  const expected = clusterExpected(server, env);
  for (const s of streams) {
    const c = canonicalStream(s.config);
    const label = s.kind === "kv" ? `kv bucket ${s.bucket}` : `stream ${s.name}`;
    if (expected && c.num_replicas === 1) {
      warnings.push(
        `${label} has 1 replica but a cluster is expected (${expected}): losing one server's disk loses it; use 3 replicas (JPW_REPLICAS=3)`,
      );
    }
    if (c.storage === "memory") {
      warnings.push(`${label} uses memory storage: its messages are lost when the server restarts`);
    }
    const size = c.max_msg_size as number;
    if (size > server.maxPayload) {
      warnings.push(
        `${label} accepts messages up to ${formatSize(size)} but the server's max_payload is ${formatSize(server.maxPayload)}: larger ones can never be published`,
      );
    }
  }
  return warnings;
}

/** Why a cluster is expected, or undefined when nothing says so. */
function clusterExpected(server: ServerFacts, env: Record<string, string | undefined>): string | undefined {
  if (server.cluster) return `the server belongs to cluster ${server.cluster}`;
  if (env.JPW_CLUSTER && !/^(0|false|no)$/i.test(env.JPW_CLUSTER)) return `JPW_CLUSTER=${env.JPW_CLUSTER}`;
  if (Number(env.JPW_REPLICAS) > 1) return `JPW_REPLICAS=${env.JPW_REPLICAS}`;
  return undefined;
}
