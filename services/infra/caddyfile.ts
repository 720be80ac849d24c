// The edge's Caddyfile: one source for the native stack, the test harness, the benchmarks and the
// deployed server (ops/deploy), where it is public and, given a domain, serves HTTPS.
import { writePaths } from "../shared/public-routes.ts";

export interface EdgeOptions {
  port: number;
  /** host:port of the producer, or of each producer replica (a cluster's stack runs two). */
  producer: string | string[];
  reader: string;
  webRoot: string;
  /** Listen on loopback only (the native stack and tests); a container or a server listens on all interfaces. */
  loopback?: boolean;
  /**
   * A public name: Caddy gets and renews its certificate (ACME), serves the site on `httpsPort` and
   * redirects plain HTTP on `port` to it. Without one the site is plain HTTP on `port`.
   */
  domain?: string;
  httpsPort?: number;
  /** Contact address for the certificate authority (expiry notices); optional. */
  acmeEmail?: string;
}

/**
 * The edge: writes (POST) to the producer, everything else under /api to the reader (which answers
 * OPTIONS, HEAD and 405 for every API path, POST included: services/shared/public-routes.ts), the
 * built UI at `/`. What the edge answers itself (/healthz, the UI) knows its methods too: GET and
 * HEAD, OPTIONS 204 with Allow, anything else 405, TRACE included.
 */
export function caddyfile(o: EdgeOptions): string {
  const paths = writePaths.flatMap((p) => [p, `${p}/`]).join(" ");
  const producers = typeof o.producer === "string" ? [o.producer] : o.producer;
  const healthz = `	handle /healthz {
${readOnly("\t\t", 'respond "ok" 200')}
	}`;
  const routes = `${healthz}

	@writes {
		path ${paths}
		method POST
	}
	# A write without a key gets one here, so that when its producer cannot answer (gone
	# mid-request) the edge can still name the key to retry with. It becomes the operationId.
	@keyless {
		path ${paths}
		method POST
		not header Idempotency-Key *
	}
	request_header @keyless Idempotency-Key {http.request.uuid}
	# A service restarting is waited for (only a request not yet sent is tried again).
	handle @writes {
		reverse_proxy ${producers.join(" ")} {
			lb_try_duration 5s
			lb_try_interval 250ms
${producers.length > 1 ? replicaPolicy : ""}${keepAlive}
		}
	}
	handle /api/* {
		reverse_proxy ${o.reader} {
			# Server-Sent Events (the CDC feed) must not be buffered.
			flush_interval -1
			lb_try_duration 5s
			lb_try_interval 250ms
${keepAlive}
		}
	}
	handle {
${readOnly(
  "\t\t",
  `root * ${o.webRoot}
try_files {path} /index.html
file_server`,
)}
	}
${serviceGone(paths)}`;
  // A stop waits this long for open requests (a write waiting for its commit) before closing the
  // rest; the CDC feed's event streams never end on their own.
  const global = ["admin off", "grace_period 10s"];
  if (!o.domain) {
    return `${header}
{
${global.map((l) => `\t${l}\n`).join("")}	auto_https off
}

http://:${o.port} {
${o.loopback === false ? "" : "\tbind 127.0.0.1\n"}${routes}
}
`;
  }
  global.push(`http_port ${o.port}`, `https_port ${o.httpsPort ?? 443}`);
  if (o.acmeEmail) global.push(`email ${o.acmeEmail}`);
  return `${header}
{
${global.map((l) => `\t${l}\n`).join("")}}

${o.domain} {
${routes}
}

# The stack's readiness probe asks over loopback, where no certificate applies; everything else on
# plain HTTP is redirected to HTTPS.
http://127.0.0.1:${o.port} {
${healthz}
}
`;
}

/**
 * When a service does not answer (down, restarting, gone mid-request), the edge answers for it as
 * the services do: a problem with Retry-After, never a bare 502. A write that was sent may have
 * been published before its producer went away, so it is outcome-unknown with its key; one whose
 * key is not a UUID was never applied (the producer refuses it), and a read is simply unavailable.
 */
const serviceGone = (writes: string) => `	handle_errors {
		@gone expression \`{err.status_code} >= 502 && {err.status_code} <= 504\`
		@writeGone {
			expression \`{err.status_code} >= 502 && {err.status_code} <= 504\`
			path ${writes}
			method POST
			header_regexp key Idempotency-Key ^\\s*([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})\\s*$
		}
		header @gone Content-Type application/problem+json
		header @gone Retry-After 1
		respond @writeGone \`{"type":"/problems/outcome-unknown","title":"Outcome unknown","status":503,"detail":"the producer did not answer (it may be restarting): the write may or may not have been accepted. Retry with the header Idempotency-Key: {re.key.1} and the same body.","operationId":"{re.key.1}"}\` 503
		respond @gone \`{"type":"/problems/unavailable","title":"Service unavailable","status":503,"detail":"the service behind the edge did not answer (it may be restarting); nothing was applied. Retry shortly."}\` 503
	}`;
// Several producers: writes go round, and a replica that refused a connection (killed, restarting)
// is tried no more for a few seconds while the request goes to the next one (a request not yet sent
// is retried within lb_try_duration). No active check of /readyz: while the cluster elects a stream
// leader every producer is briefly not ready, and the edge would then refuse writes the producers
// can answer themselves, a moment later, better.
const replicaPolicy = `			lb_policy round_robin
			fail_duration 5s
`;

// Caddy keeps at most 32 idle connections to an upstream by default and closes the rest. Answers
// come in bursts (a batch of writes commits together), so with more requests in flight than that it
// closed and reopened connections all the time (13% of writes at 64 clients opened one), each a
// TCP handshake and a new HTTP connection in the service.
const keepAlive = `			transport http {
				keepalive_idle_conns_per_host 1024
			}`;

const header = `# generated by jetstream-pg-writer (services/infra/caddyfile.ts): writes (POST) to the producer,
# reads (GET) to the reader, the built UI at /.`;

/** A resource the edge serves itself, read-only: GET and HEAD run `serve`; OPTIONS and 405 say so. */
function readOnly(indent: string, serve: string): string {
  const allow = "GET, HEAD, OPTIONS";
  const notAllowed = JSON.stringify({
    type: "/problems/method-not-allowed",
    title: "Method not allowed",
    status: 405,
    detail: `only ${allow} are allowed here`,
  });
  return `@options method OPTIONS
handle @options {
	header Allow "${allow}"
	respond 204
}
@other not method GET HEAD OPTIONS
handle @other {
	header Allow "${allow}"
	header Content-Type application/problem+json
	respond \`${notAllowed}\` 405
}
handle {
${serve
  .split("\n")
  .map((l) => `\t${l}`)
  .join("\n")}
}`
    .split("\n")
    .map((l) => `${indent}${l}`)
    .join("\n");
}
