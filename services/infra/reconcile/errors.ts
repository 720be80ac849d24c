// The few ways reconciling can fail, each with a message that says what to do next. Client errors
// from nats.js are translated here, in one place, so the CLI and the stack start-up print the same.
import { errors } from "@nats-io/nats-core";

export class UnreachableError extends Error {
  override name = "UnreachableError";
}
export class CredentialsError extends Error {
  override name = "CredentialsError";
}
export class JetStreamDisabledError extends Error {
  override name = "JetStreamDisabledError";
}
export class PermissionDeniedError extends Error {
  override name = "PermissionDeniedError";
}

/** The server answered a JetStream API request with an error. */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    message: string,
    /** JetStream's err_code, e.g. 10065 (subjects overlap). */
    readonly code: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The desired state cannot be reached on this server (found while planning, before any change). */
export class PlanError extends Error {
  override name = "PlanError";
  constructor(
    readonly problems: string[],
    options?: ErrorOptions,
  ) {
    super(problems.join("\n"), options);
  }
}

/** apply was asked to destroy data without --allow-destructive; it made every other change. */
export class DestructiveChangeError extends Error {
  override name = "DestructiveChangeError";
  constructor(
    message: string,
    /** What apply did make, before refusing. */
    readonly applied: { created: number; updated: number; replaced: number; deleted: number },
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

const setupHint = "start the local stack (just up), or point --server / NATS_URL at a running nats-server";

/** A connection failure, as an error naming the server and what to check. */
export function connectionError(err: unknown, url: string): Error {
  const e = err as Error & { code?: string };
  if (e instanceof errors.AuthorizationError || /authorization/i.test(e.message)) {
    return new CredentialsError(
      `nats-server at ${url} refused our credentials (${e.message}): check the user/password or token in the URL`,
      { cause: err },
    );
  }
  const why =
    e.code === "ENOTFOUND" || /ENOTFOUND|getaddrinfo/.test(e.message)
      ? "unknown host"
      : /refused/i.test(e.message)
        ? "connection refused"
        : e.message;
  return new UnreachableError(`cannot reach nats-server at ${url} (${why}): ${setupHint}`, { cause: err });
}

/** A failed JetStream API request (`what` = "create stream WRITES"), as one of our errors. */
export function requestError(err: unknown, what: string, subject: string): Error {
  if (
    err instanceof ApiError ||
    err instanceof PermissionDeniedError ||
    err instanceof JetStreamDisabledError
  ) {
    return err;
  }
  const e = err as Error & { cause?: unknown; isNoResponders?: () => boolean };
  const cause = e.cause as Error | undefined;
  if (e instanceof errors.PermissionViolationError || cause instanceof errors.PermissionViolationError) {
    return new PermissionDeniedError(
      `permission denied to ${what}: this NATS user may not publish to ${subject} (grant it publish on $JS.API.> and subscribe on _INBOX.>)`,
      { cause: err },
    );
  }
  if (e instanceof errors.RequestError && e.isNoResponders?.()) {
    return new JetStreamDisabledError(
      "JetStream is not enabled on this server (nothing answers $JS.API): start nats-server with -js or a jetstream {} block",
      { cause: err },
    );
  }
  if (e instanceof errors.TimeoutError) {
    return new Error(
      `JetStream did not answer in time to ${what}: is the server overloaded or its meta leader lost?`,
      {
        cause: err,
      },
    );
  }
  return err instanceof Error ? err : new Error(String(err));
}
