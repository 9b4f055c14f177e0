// The errors a client call can throw. Every API failure has one body,
// {"error": code, "message", "status", "errors"}; callers switch on `.code`, never on text.

/** A refusal or failure answered by the server (any status >= 400). */
export class MagicCubeError extends Error {
  constructor({
    code, message, status = 0, errors = {}, retryAfter = null, reason = null, detail = null,
  } = {}) {
    super(message || code);
    this.name = "MagicCubeError";
    this.code = code;
    this.status = status;
    this.errors = errors || {};
    /** Seconds the server asked us to wait (429 Retry-After), or null. */
    this.retryAfter = retryAfter;
    /** Why, for code to switch on: a NetworkError's REASONS, "not_api_response", else null. */
    this.reason = reason;
    /** What the platform or the foreign answer said (for logs, not for shoppers), or null. */
    this.detail = detail;
    /** True on a refusal `act` got as the stored first answer to its key (Idempotent-Replayed). */
    this.replayed = false;
  }
}

// What platforms say when no answer came (fetch in Node and browsers, wx.request on Android's
// Chromium and in iOS's words, English or Chinese), most specific first.
const REASONS = [
  ["aborted", /abort/i],
  ["timeout", /time[d ]?[ -]?out|TIMED_OUT|ETIMEDOUT|超时/i],
  ["offline", /offline|INTERNET_DISCONNECTED|ENETUNREACH|network is unreachable|断开/i],
  ["dns", /NAME_NOT_RESOLVED|ENOTFOUND|EAI_AGAIN|getaddrinfo|hostname|主机名/i],
];

/** A NetworkError's `reason` from what the platform said: offline, timeout, aborted, dns, other. */
export function networkReason(detail) {
  const text = String(detail || "");
  for (const [reason, pattern] of REASONS) if (pattern.test(text)) return reason;
  return "other";
}

/**
 * No answer at all. `code` is "network_error", `status` 0; `reason` says why ("offline",
 * "timeout", "aborted", "dns" or "other": a refused connection, TLS, a browser that says only
 * "Failed to fetch") and `detail` what the platform said.
 */
export class NetworkError extends MagicCubeError {
  constructor(message = "The network request failed", { cause, reason, detail } = {}) {
    const said = detail === undefined || detail === null ? message : String(detail);
    super({ code: "network_error", message, status: 0, reason: reason || networkReason(said),
      detail: said });
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
