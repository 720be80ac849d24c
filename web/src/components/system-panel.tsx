import { system, systemError } from "../models/system.ts";

/** Why a service is not ready, in one line: its failing checks, or the error reaching it. */
function reason(s: { error?: string; checks?: Record<string, string> }): string | undefined {
  const failing = Object.entries(s.checks ?? {}).filter(([, v]) => v !== "ok");
  if (failing.length) return failing.map(([k, v]) => `${k}: ${v}`).join("; ");
  return s.error;
}

export function SystemPanel() {
  const s = system.value;
  const streams = s && "streams" in s.jetstream ? s.jetstream.streams : [];
  return (
    <section aria-labelledby="system-title">
      <h2 id="system-title">System</h2>
      {systemError.value && <p class="form-error">{systemError.value}</p>}
      {s && (
        <>
          <ul class="services">
            {Object.entries(s.services)
              .filter(([, svc]) => svc.configured !== false)
              .map(([name, svc]) => (
                <li key={name}>
                  <span class={`badge ${svc.ready ? "good" : "bad"}`}>
                    {svc.ready ? "ready" : "not ready"}
                  </span>{" "}
                  {name}
                  {!svc.ready && reason(svc) && <span class="problem"> {reason(svc)}</span>}
                </li>
              ))}
          </ul>
          <p>
            Dead letters (WRITES_DLQ):{" "}
            <strong class={s.writesDlqMessages ? "bad-text" : ""}>{s.writesDlqMessages ?? "unknown"}</strong>
          </p>
          {"error" in s.jetstream && <p class="form-error">{s.jetstream.error}</p>}
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Stream / consumer</th>
                  <th scope="col" class="num">
                    Messages
                  </th>
                  <th scope="col" class="num">
                    Pending
                  </th>
                  <th scope="col" class="num">
                    Ack pending
                  </th>
                  <th scope="col" class="num">
                    Redelivered
                  </th>
                </tr>
              </thead>
              <tbody>
                {streams.flatMap((st) => [
                  <tr key={st.name}>
                    <th scope="row">{st.name}</th>
                    <td class="num">{st.messages}</td>
                    <td />
                    <td />
                    <td />
                  </tr>,
                  ...st.consumers.map((c) => (
                    <tr key={`${st.name}/${c.name}`}>
                      <td class="indent">{c.name}</td>
                      <td />
                      <td class="num">{c.pending}</td>
                      <td class="num">{c.ackPending}</td>
                      <td class="num">{c.redelivered}</td>
                    </tr>
                  )),
                  ...(st.ephemeral?.count
                    ? [
                        <tr key={`${st.name}/ephemeral`}>
                          <td class="indent">
                            {st.ephemeral.count} ephemeral consumer{st.ephemeral.count === 1 ? "" : "s"}
                          </td>
                          <td />
                          <td class="num">{st.ephemeral.pending}</td>
                          <td class="num">{st.ephemeral.ackPending}</td>
                          <td />
                        </tr>,
                      ]
                    : []),
                ])}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}
