import { feed, feedState } from "../models/feed.ts";

const ops: Record<string, string> = { c: "insert", u: "update", d: "delete", t: "truncate", r: "read" };

export function CdcFeed() {
  return (
    <section aria-labelledby="feed-title">
      <div class="section-head">
        <h2 id="feed-title">Cache invalidations</h2>
        <span class={`badge ${feedState.value === "live" ? "good" : "wait"}`}>{feedState.value}</span>
      </div>
      <p class="muted">
        Every committed change (API, migration, manual SQL) reaches the reader through Debezium and CDC.
      </p>
      <ol class="feed" aria-live="polite" aria-relevant="additions">
        {feed.value.map((e) => (
          <li key={e.seq}>
            <span class="badge">{e.table}</span> <span class="op">{ops[e.op] ?? e.op}</span>{" "}
            <code>{e.ids.map((id) => id.slice(0, 8)).join(", ") || "whole table"}</code>
            {e.latencyMs !== undefined && (
              <span class="latency" title="commit → invalidation">
                {e.latencyMs.toFixed(0)} ms
              </span>
            )}
          </li>
        ))}
      </ol>
    </section>
  );
}
