// The few named errors every service uses. Each carries what a client needs to see; `problem()` in
// http.ts is the one place they become application/problem+json responses.

export interface FieldError {
  /** Dotted path into the body, e.g. `items.0.price`; empty for the body itself. */
  path: string;
  message: string;
}

export abstract class AppError extends Error {
  abstract readonly status: number;
  /** Stable slug: the last segment of the problem `type` URI. */
  abstract readonly type: string;
  abstract readonly title: string;
  /** Extra problem members (operationId, errors, ...). */
  extra: Record<string, unknown> = {};
  headers: Record<string, string> = {};
}

export class ValidationError extends AppError {
  override name = "ValidationError";
  readonly status = 400;
  readonly type: string;
  readonly title = "Invalid request";
  constructor(
    message: string,
    readonly errors: FieldError[] = [],
    type = "validation-failed",
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.type = type;
    if (errors.length) this.extra.errors = errors;
  }
}

export class PayloadTooLargeError extends AppError {
  override name = "PayloadTooLargeError";
  readonly status = 413;
  readonly type = "payload-too-large";
  readonly title = "Payload too large";
}

export class UnsupportedMediaTypeError extends AppError {
  override name = "UnsupportedMediaTypeError";
  readonly status = 415;
  readonly type = "unsupported-media-type";
  readonly title = "Unsupported media type";
}

export class NotFoundError extends AppError {
  override name = "NotFoundError";
  readonly status = 404;
  readonly type: string;
  readonly title = "Not found";
  constructor(message: string, type = "not-found", options?: ErrorOptions) {
    super(message, options);
    this.type = type;
  }
}

export class MethodNotAllowedError extends AppError {
  override name = "MethodNotAllowedError";
  readonly status = 405;
  readonly type = "method-not-allowed";
  readonly title = "Method not allowed";
  /** `allow`: the value of the Allow header, e.g. "GET, HEAD, OPTIONS". */
  constructor(message: string, allow: string) {
    super(message);
    this.headers.allow = allow;
  }
}

/**
 * 421: the method is allowed on the path, but another service answers it (a request that bypassed
 * the edge, which routes by method).
 */
export class MisdirectedError extends AppError {
  override name = "MisdirectedError";
  readonly status = 421;
  readonly type = "misdirected-request";
  readonly title = "Misdirected request";
}

/** 409: the request conflicts with the current state (an email already taken). */
export class ConflictError extends AppError {
  override name = "ConflictError";
  readonly status = 409;
  readonly title = "Conflict";
  constructor(
    message: string,
    readonly type: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** 422: well-formed, but it cannot be applied (key reused with another payload, unknown user). */
export class UnprocessableError extends AppError {
  override name = "UnprocessableError";
  readonly status = 422;
  readonly title = "Unprocessable request";
  constructor(
    message: string,
    readonly type: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** 503: a dependency is down or full; the client should retry after `retryAfterSeconds`. */
export class UnavailableError extends AppError {
  override name = "UnavailableError";
  readonly status = 503;
  readonly type: string = "unavailable";
  readonly title: string = "Service unavailable";
  constructor(message: string, retryAfterSeconds = 1, options?: ErrorOptions) {
    super(message, options);
    this.headers["retry-after"] = String(retryAfterSeconds);
  }
}

/** 503: a writer's backlog of unapplied commands is at its declared bound; retry later. */
export class BacklogFullError extends UnavailableError {
  override name = "BacklogFullError";
  override readonly type = "backlog-full";
  override readonly title = "Backlog full";
}

/** 500: the write could not be applied and was moved to the dead-letter queue. */
export class WriteFailedError extends AppError {
  override name = "WriteFailedError";
  readonly status = 500;
  readonly type = "write-failed";
  readonly title = "Write failed";
}

/** Bad configuration: the service refuses to start and says which variable is wrong. */
export class ConfigError extends Error {
  override name = "ConfigError";
}
