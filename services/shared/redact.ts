// Credentials never leave a process in what it prints: logs, readiness, problem bodies and
// /api/system show URLs without their passwords. DATABASE_URL and REDIS_URL carry a password
// inside (postgres://jpw_reader:<secret>@host/db); what a person needs to see is the rest.

// scheme://user:password@ — the password is anything up to the last @ before the host.
const withPassword = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s:/@]*):[^\s/@]*@/gi;
// nats://token@ — NATS puts a bare token where other schemes put a user name.
const natsToken = /\b(nats|tls|wss?):\/\/[^\s:/@]+@/gi;

/** The text with every URL's password (and NATS token) replaced by `***`. */
export function redactSecrets(text: string): string {
  if (!text.includes("@")) return text;
  return text.replace(withPassword, "$1$2:***@").replace(natsToken, "$1://***@");
}

/** A URL to print: `postgres://jpw_reader:***@127.0.0.1:15432/jpw`. */
export const redactUrl = (url: string) => redactSecrets(url);
