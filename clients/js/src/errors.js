// The errors a client call can throw. Every API failure has one body,
// {"error": code, "message", "status", "errors"}; callers switch on `.code`, never on text.

/** A refusal or failure answered by the server (any status >= 400). */
export class MagicCubeError extends Error {
  constructor({ code, message, status = 0, errors = {}, retryAfter = null } = {}) {
    super(message || code);
    this.name = "MagicCubeError";
    this.code = code;
    this.status = status;
    this.errors = errors || {};
    /** Seconds the server asked us to wait (429 Retry-After), or null. */
    this.retryAfter = retryAfter;
    /** True on a refusal `act` got as the stored first answer to its key (Idempotent-Replayed). */
    this.replayed = false;
  }
}

/** No answer at all: offline, DNS, TLS, a timeout. `code` is "network_error", `status` 0. */
export class NetworkError extends MagicCubeError {
  constructor(message = "The network request failed", { cause } = {}) {
    super({ code: "network_error", message, status: 0 });
    this.name = "NetworkError";
    this.cause = cause;
  }
}

/**
 * An action whose outcome is unknown after every retry: it may or may not have happened.
 * Send it again later with the same `idempotencyKey` to learn the answer without acting twice.
 */
export class ActionUnsettledError extends MagicCubeError {
  constructor({ idempotencyKey, attempts, cause }) {
    super({
      code: "action_unsettled",
      message: "No definite answer to the action; retry it with the same idempotency key",
      status: cause ? cause.status : 0,
    });
    this.name = "ActionUnsettledError";
    this.idempotencyKey = idempotencyKey;
    this.attempts = attempts;
    this.cause = cause;
  }
}

/** Seconds from a Retry-After header (delta-seconds or an HTTP date), or null. */
export function parseRetryAfter(value, now = Date.now()) {
  if (value === undefined || value === null || value === "") return null;
  const text = String(value).trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, (at - now) / 1000);
}
