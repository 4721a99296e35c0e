/**
 * Errors of the SDK. Every error the gateway answers becomes a RunnelError
 * with its `code` (the API's snake_case code) and HTTP `status`; 401 and 403
 * are the subclasses AuthError and ForbiddenError, so that apps can catch
 * them by class. Switch on `code`, never on `message`.
 */
export class RunnelError extends Error {
  /** The API's error code, e.g. "topic_not_found", or the SDK's own (see below). */
  readonly code: string;
  /** The HTTP status the code goes with; 0 for errors that never reached the gateway. */
  readonly status: number;
  /** Extra fields of the error body or frame (partition, log_start_offset, ...). */
  readonly details: Record<string, unknown>;

  constructor(code: string, message: string, status = 0, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RunnelError";
    this.code = code;
    this.status = status;
    this.details = details;
  }
}

/** 401: the token is missing, malformed, expired, wrongly signed, or refused. Retrying with the same token cannot help. */
export class AuthError extends RunnelError {
  constructor(message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super("unauthenticated", message, 401, details, options);
    this.name = "AuthError";
  }
}

/** 403: the token is valid but lacks the permission. */
export class ForbiddenError extends RunnelError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super("forbidden", message, 403, details);
    this.name = "ForbiddenError";
  }
}

/** The SDK's own codes, beside the API's. */
export const Codes = {
  /** The request never got an answer (network down, gateway gone); retried where safe. */
  network: "network_error",
  /** A frame or body from the gateway did not have the documented shape. */
  badResponse: "bad_response",
  /** The topic was deleted and created again: saved offsets no longer apply. */
  topicChanged: "topic_changed",
  /** The client was disconnected or the subscription ended before an answer came. */
  disconnected: "disconnected",
  /** getToken threw or returned something that is not a token. */
  tokenUnavailable: "token_unavailable",
} as const;

/** Status codes of the API's error codes, for errors that arrive over the WebSocket without one. */
const statusOf: Record<string, number> = {
  invalid_json: 400,
  invalid_request: 400,
  unauthenticated: 401,
  forbidden: 403,
  topic_not_found: 404,
  partition_not_found: 404,
  subscription_not_found: 404,
  subscription_exists: 409,
  too_many_subscriptions: 429,
  conflict: 409,
  data_unreadable: 410,
  payload_too_large: 413,
  offset_out_of_range: 416,
  rate_limited: 429,
  unsupported: 400,
  timeout: 503,
  unavailable: 503,
  internal_error: 500,
};

/**
 * errorFrom builds the typed error for an API error `{code, message,
 * ...details}`; status defaults to the code's usual one.
 */
export function errorFrom(code: string, message: string, status?: number, details: Record<string, unknown> = {}): RunnelError {
  const st = status ?? statusOf[code] ?? 0;
  if (st === 401 || code === "unauthenticated") return new AuthError(message, details);
  if (st === 403 || code === "forbidden") return new ForbiddenError(message, details);
  return new RunnelError(code, message, st, details);
}

/** Codes of errors that pass: the same call may succeed later. */
export function isTransient(code: string): boolean {
  return code === Codes.network || code === "unavailable" || code === "timeout" || code === "rate_limited" || code === "internal_error";
}
