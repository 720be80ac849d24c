import { attempts, sendAgain, type WriteAttempt } from "../models/writes.ts";

const meaning: Record<number, string> = {
  200: "replayed",
  201: "committed",
  202: "accepted, not yet confirmed",
  400: "invalid",
  409: "conflict",
  413: "too large",
  415: "not JSON",
  422: "unprocessable",
  503: "unavailable",
};

function Outcome({ a }: { a: WriteAttempt }) {
  if (a.networkError) return <span class="badge bad">network error: {a.networkError}</span>;
  const r = a.result;
  if (!r) return <span class="badge">sending…</span>;
  const tone = r.status < 300 ? (r.status === 202 ? "wait" : "good") : "bad";
  return (
    <>
      <span class={`badge ${tone}`}>
        {r.status} {r.replayed ? "replayed" : (meaning[r.status] ?? "")}
      </span>
      {r.status === 202 && (
        <span class={`badge ${a.operation && a.operation.status !== "accepted" ? "good" : "wait"}`}>
          {a.operation ? `now ${a.operation.status} (${a.operation.httpStatus})` : "polling…"}
        </span>
      )}
      {r.problem && <span class="problem">{r.problem.detail ?? r.problem.title}</span>}
      {r.retryAfter && <span class="muted">retry after {r.retryAfter}s</span>}
    </>
  );
}

export function WriteLog() {
  return (
    <section aria-labelledby="writes-title">
      <h2 id="writes-title">Writes</h2>
      {attempts.value.length === 0 && (
        <p class="muted">Every write you send appears here with its outcome.</p>
      )}
      <ol class="writes" aria-live="polite">
        {attempts.value.map((a) => (
          <li key={a.seq} class="write">
            <div class="write-head">
              <strong>
                {a.kind === "user" ? "user" : "order"} #{a.seq}
              </strong>
              {a.repeatOf && <span class="muted">same key as #{a.repeatOf}</span>}
              <Outcome a={a} />
            </div>
            <div class="write-meta">
              <code title="operationId">{a.result?.operationId ?? a.key}</code>
              {a.result && <span>{a.result.roundTripMs.toFixed(1)} ms</span>}
              <button type="button" class="secondary" disabled={a.pending} onClick={() => void sendAgain(a)}>
                Send again with the same key
              </button>
            </div>
          </li>
        ))}
      </ol>
    </section>
  );
}
