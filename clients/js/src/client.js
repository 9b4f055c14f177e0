// The magic-cube client for shopper pages and mini-programs (docs/api.md).
//
// Plain ES modules with relative imports and no dependencies, so that a browser loads them as
// they are and a mini-program copies the folder. The platform enters through one `request`
// function (fetchRequest, wxRequest(wx), or a fake in tests); time through `now`/`sleep`.

import { CHALLENGE_HEADER, encodeSolution, solveChallenge } from "./challenge.js";
import { ActionUnsettledError, MagicCubeError, NetworkError, parseRetryAfter } from "./errors.js";
import {
  fetchRequest, header, parseBody, platformLang, shopperLang, wxRequest,
} from "./http.js";
import { DEVICE_PATTERN, defaultStorage, deviceId, memoryStorage, randomId } from "./ids.js";
import {
  HIDDEN, STOPPED, createStopper, defaultSleep, defaultVisibility, isHidden, requestScope,
  retryDelay, whenVisible,
} from "./timing.js";

export { CHALLENGE_HEADER, encodeSolution, solveChallenge } from "./challenge.js";
export { ActionUnsettledError, MagicCubeError, NetworkError } from "./errors.js";
export { fetchRequest, platformLang, shopperLang, wxRequest } from "./http.js";
export { deviceId, randomId } from "./ids.js";
export { wxVisibility } from "./timing.js";

export const MAX_WAIT = 25; // seconds: the server refuses longer long polls (422 invalid_wait)

const TOKEN_CODES = ["token_expired", "invalid_token"];
const TOKEN_UNAVAILABLE = "token_unavailable"; // getToken failed: nothing was sent
const NOT_API = "not_api_response"; // the reason of an answer whose body is not the API's
// Refusals that mean "try again in a moment" rather than "no".
const RETRY_CODES = ["rate_limited", "idempotency_in_flight", "conflict"];
const MAX_CHALLENGES = 2; // solved for one action at most

const enc = encodeURIComponent;
const activityPath = (id) => `/v1/activities/${enc(id)}`;

// A 2xx that is not the API's: a captive portal or a proxy answered in the server's place.
const isPortal = (error) => error.reason === NOT_API && error.status < 300;

/** Whether retrying can give another answer: no answer, a server failure, a busy signal. */
function isTransient(error) {
  if (error.status === 0 || error.status >= 500 || isPortal(error)) return true;
  // A template's own 429s (help_limit, send_limit …) are answers; a proxy's bare 429 is not.
  return RETRY_CODES.includes(error.code) || error.code === "http_429";
}

/** `wait` as the server takes it: whole seconds from 0 to 25 (25 when not a number). */
function clampWait(wait) {
  const seconds = Math.floor(Number(wait === undefined ? MAX_WAIT : wait));
  return Number.isFinite(seconds) ? Math.max(0, Math.min(MAX_WAIT, seconds)) : MAX_WAIT;
}

// The outcome of an action may be unknown only when it may have run: no answer, a 5xx, a
// portal's page (it says nothing of whether the action got through), or a first request with
// the same key still running.
const mayHaveRun = (error) => error.code !== TOKEN_UNAVAILABLE && (error.status === 0
  || error.status >= 500 || isPortal(error) || error.code === "idempotency_in_flight");

/** A 2xx body that is text and not JSON is no answer of ours (the API's CSV exports aside). */
function isForeign(response) {
  return typeof response.body === "string"
    && !/^text\/csv/i.test(header(response.headers, "content-type") || "");
}

function defaultRequest() {
  if (typeof fetch === "function") return fetchRequest;
  if (typeof wx !== "undefined" && wx && typeof wx.request === "function") return wxRequest(wx);
  throw new Error("No fetch or wx.request here: pass a `request` function");
}

function report(handler, error, info) {
  if (handler) {
    handler(error, info);
  } else if (!info.willRetry && typeof console !== "undefined") {
    console.error(error); // a loop that ends silently would leave a page frozen
  }
}

/** Hand a value to the caller's callback; a callback that throws must not end the loop. */
function deliver(callback, onError, ...args) {
  try {
    callback(...args);
  } catch (err) {
    report(onError, err, { willRetry: true });
  }
}

/** The start of a foreign body, for an error's detail. */
function excerpt(body) {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  return String(text === undefined ? "" : text).slice(0, 120);
}

/** `new MagicCubeClient(options)`, for those who prefer a function. */
export function createClient(options) {
  return new MagicCubeClient(options);
}

export class MagicCubeClient {
  /**
   * @param {object} options see index.d.ts (ClientOptions)
   */
  constructor(options = {}) {
    this.baseUrl = (options.baseUrl || "").replace(/\/+$/, "");
    this.request = options.request || defaultRequest();
    this.getToken = options.getToken || null;
    // Accept-Language: "zh" or "en", so that refusals come in the shopper's words.
    this.setLang(options.lang === undefined ? platformLang() : options.lang);
    // Loops give up after this many token_unavailable in a row (`act`: maxActionAttempts).
    this.maxTokenAttempts = options.maxTokenAttempts || 5;
    this.timeoutMs = options.timeoutMs || 15000;
    this.maxActionAttempts = options.maxActionAttempts || 5;
    this.maxActionMs = options.maxActionMs || 30000;
    this.minPollIntervalMs = options.minPollIntervalMs === undefined
      ? 1000 : options.minPollIntervalMs;
    this.sleep = options.sleep || defaultSleep;
    this.now = options.now || (() => Date.now());
    this.random = options.random || Math.random;
    this.document = options.document !== undefined ? options.document : defaultVisibility();
    this._refreshing = null;
    this._beats = new Map(); // activity -> {stopper, last, interval}: one heartbeat loop each
    // Sent as Magic-Cube-Device with actions and share links, so that limits per device count
    // this phone whatever account it uses. A mini-program may pass its own stable id.
    if (options.device !== undefined && !DEVICE_PATTERN.test(String(options.device))) {
      throw new TypeError("device: 8-64 letters, digits, _ or -");
    }
    this.device = options.device === undefined ? null : String(options.device);
    this.storage = options.storage || defaultStorage() || memoryStorage(); // for rememberVia
  }

  /** The language sent as Accept-Language: any tag ("zh_CN", "en-US"), kept as zh or en. */
  setLang(lang) {
    this.lang = shopperLang(lang);
  }

  /** This device's id: the one given, else one kept in storage (or memory) for good. */
  deviceId() {
    if (!this.device) this.device = deviceId();
    return this.device;
  }

  // -- one request -------------------------------------------------------------------------------

  async _token(refresh) {
    if (!this.getToken) return null;
    try {
      if (!refresh) return await this.getToken({ refresh: false });
      // Requests that all meet an expired token share one refresh.
      if (!this._refreshing) {
        this._refreshing = Promise.resolve()
          .then(() => this.getToken({ refresh: true }))
          .finally(() => { this._refreshing = null; });
      }
      return await this._refreshing;
    } catch (err) {
      // A definite answer (guests_not_allowed) stays one; a backend out of reach is retried.
      if (err instanceof MagicCubeError && err.status !== 0) throw err;
      const error = new MagicCubeError({ code: TOKEN_UNAVAILABLE, message: `getToken: ${err}` });
      error.cause = err;
      throw error;
    }
  }

  async _transmit({ method, url, headers, body, timeoutMs, signal }, token) {
    const all = { Accept: "application/json", ...headers };
    if (token) all.Authorization = `Bearer ${token}`;
    if (this.lang) all["Accept-Language"] = this.lang;
    if (body !== undefined) all["Content-Type"] = "application/json";
    let response;
    try {
      response = await this.request({ method, url, headers: all, body, timeoutMs, signal });
    } catch (err) {
      if (err instanceof MagicCubeError) throw err;
      throw new NetworkError(`${method} ${url}: ${(err && err.message) || err}`, { cause: err });
    }
    return {
      status: response.status,
      headers: response.headers || {},
      body: parseBody(response.body),
    };
  }

  /**
   * One HTTP exchange; resolves with `{status, headers, body}` for any status, so that callers
   * decide what a 304 or a 429 means. On 401 token_expired/invalid_token it asks `getToken`
   * for a fresh token once and sends the request again.
   */
  async send({ method = "GET", path, query, headers = {}, body, auth = true, timeoutMs, signal }) {
    const search = query
      ? "?" + Object.keys(query).map((k) => `${enc(k)}=${enc(query[k])}`).join("&") : "";
    const req = {
      method,
      url: this.baseUrl + path + search,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      timeoutMs: timeoutMs || this.timeoutMs,
      signal,
    };
    let response = await this._transmit(req, auth ? await this._token(false) : null);
    if (auth && this.getToken && response.status === 401
        && TOKEN_CODES.includes(response.body && response.body.error)) {
      response = await this._transmit(req, await this._token(true));
    }
    return response;
  }

  _error(response) {
    const data = response.body && typeof response.body === "object" ? response.body : {};
    const ours = typeof data.error === "string";
    const type = header(response.headers, "content-type") || "no content type";
    return new MagicCubeError({
      code: ours ? data.error : `http_${response.status}`,
      message: typeof data.message === "string" ? data.message
        : `HTTP ${response.status}: not an answer of the API (${type})`,
      status: response.status,
      errors: data.errors,
      retryAfter: parseRetryAfter(header(response.headers, "retry-after"), this.now()),
      reason: ours ? null : NOT_API,
      detail: ours ? null : `${type}: ${excerpt(response.body)}`,
    });
  }

  /** A 2xx answer's body; any other answer, or a 2xx page that is not ours, thrown. */
  _body(response) {
    if (response.status >= 200 && response.status < 300 && !isForeign(response)) {
      return response.body;
    }
    throw this._error(response);
  }

  /** `send`, then the body of a 2xx or a thrown MagicCubeError. */
  async call(options) {
    return this._body(await this.send(options));
  }

  /** GET a path once: the parsed body. */
  get(path, { auth = !isPublicView(path) } = {}) {
    return this.call({ path, auth });
  }

  // -- polling -----------------------------------------------------------------------------------

  /**
   * Poll a view until stopped: `onChange(body, {etag})` on every new version. Long polls with
   * `?wait=` (at most 25 s) and If-None-Match; a 304 means nothing changed. Backs off on 429
   * (Retry-After), 5xx and network errors; stops on any other error (a 404: the activity or
   * room is gone) after telling `onError`, and after `maxTokenAttempts` token_unavailable in a
   * row. While the page is hidden it holds no poll (the one in flight is aborted, not counted
   * as a failure) and polls again, with its ETag, when the page shows.
   * Returns `stop()`; `stop.done` settles when the loop has ended.
   */
  watch(path, onChange, options = {}) {
    const wait = clampWait(options.wait);
    const auth = options.auth === undefined ? !isPublicView(path) : options.auth;
    const stopper = createStopper();
    const state = { etag: options.etag || null, failures: 0, tokenFailures: 0 };
    const poll = (signal) => this.send({
      path,
      auth,
      query: { wait },
      headers: state.etag ? { "If-None-Match": state.etag } : {},
      timeoutMs: (wait + 10) * 1000, // the server holds up to `wait`; leave room for the trip
      signal,
    });
    const step = async () => {
      const started = this.now();
      // A long poll does not outlive the page's going into the background (WeChat would cut it
      // there anyway, as a failure): it is aborted and asked again on show.
      const scope = requestScope(this.document, stopper);
      const response = await scope.until(poll(scope.signal)).finally(scope.release);
      if (response === STOPPED || response === HIDDEN) return 0;
      state.tokenFailures = 0;
      if (response.status === 304) {
        state.failures = 0;
        state.etag = header(response.headers, "etag") || state.etag;
        // A server that does not hold the poll must not turn this loop into a busy one.
        return this.minPollIntervalMs - (this.now() - started);
      }
      const body = this._body(response);
      state.failures = 0;
      state.etag = header(response.headers, "etag") || null;
      deliver(onChange, options.onError, body, { etag: state.etag });
      return 0;
    };
    const run = async () => {
      while (!stopper.stopped) {
        if (isHidden(this.document)) {
          await whenVisible(this.document, stopper);
          continue;
        }
        let pause;
        try {
          pause = await step();
        } catch (err) {
          if (stopper.stopped) break;
          if (isHidden(this.document)) continue; // cut by the background: not a failure
          const willRetry = this._willRetry(err, state);
          report(options.onError, err, { willRetry });
          if (!willRetry) break;
          state.failures += 1;
          pause = retryDelay(err, state.failures, this.random);
        }
        if (pause > 0 && !stopper.stopped) await stopper.until(this.sleep(pause));
      }
      stopper.stop();
    };
    const stop = () => stopper.stop();
    stop.done = run();
    return stop;
  }

  /** Whether a loop tries again after `err`: transient, and not one token failure too many. */
  _willRetry(err, state) {
    state.tokenFailures = err.code === TOKEN_UNAVAILABLE ? state.tokenFailures + 1 : 0;
    return isTransient(err) && state.tokenFailures < this.maxTokenAttempts;
  }

  /** The public view of an activity, its room as this participant sees it, their own state. */
  getActivity(activityId) {
    return this.get(activityPath(activityId));
  }

  getRoom(activityId, room) {
    return this.get(`${activityPath(activityId)}/rooms/${enc(room)}`);
  }

  getMe(activityId) {
    return this.get(`${activityPath(activityId)}/me`);
  }

  /** Poll the public view of an activity (no token). */
  watchActivity(activityId, onChange, options) {
    return this.watch(activityPath(activityId), onChange, options);
  }

  /** Poll a room as this participant sees it. */
  watchRoom(activityId, room, onChange, options) {
    return this.watch(`${activityPath(activityId)}/rooms/${enc(room)}`, onChange, options);
  }

  /** Poll this participant's own state. */
  watchMe(activityId, onChange, options) {
    return this.watch(`${activityPath(activityId)}/me`, onChange, options);
  }

  // -- actions -----------------------------------------------------------------------------------

  /**
   * Perform a participant action. One Idempotency-Key per call (or `idempotencyKey` to resume
   * an unsettled one), sent again on every retry, so a lost answer never acts twice. Retries
   * on no answer, 5xx, 429 rate_limited, 409 idempotency_in_flight/conflict until a definite
   * answer, at most `maxActionAttempts` times within `maxActionMs`. Resolves with the action's
   * answer `{ok, action, seq, room, result, events}`; throws the refusal as MagicCubeError
   * (with `.idempotencyKey`), or ActionUnsettledError when the outcome stays unknown.
   * `onRetry(error, {attempt, delayMs})` hears about each retry (to show "retrying…").
   * A 428 challenge_required is solved and sent again; `onChallenge` hears (README).
   */
  async act(activityId, action, { room, params, via, idempotencyKey, onRetry, onChallenge } = {}) {
    const key = idempotencyKey || randomId();
    const body = {};
    if (room !== undefined && room !== null) body.room = room;
    if (params !== undefined && params !== null) body.params = params;
    // The share code of the first link that brought this device here (attribution).
    const code = via || this.rememberVia(activityId);
    if (code) body.via = code;
    const path = `${activityPath(activityId)}/actions/${enc(action)}`;
    const started = this.now();
    let uncertain = false;
    let challenges = 0;
    // A challenge's solution rides on every retry too (accepted again with this key).
    const headers = { "Idempotency-Key": key, "Magic-Cube-Device": this.deviceId() };
    for (let attempt = 1; ; attempt += 1) {
      let error;
      try {
        const response = await this.send({ method: "POST", path, body, headers });
        // The stored first answer to this key (a retry after a lost answer): it says so.
        const replayed = header(response.headers, "idempotent-replayed") === "true";
        if (response.status >= 200 && response.status < 300 && !isForeign(response)) {
          return replayed ? { ...response.body, replayed } : response.body;
        }
        error = this._error(response);
        if (replayed) error.replayed = true;
        const challenge = response.body && response.body.challenge;
        if (error.code === "challenge_required" && challenge && challenges < MAX_CHALLENGES) {
          challenges += 1;
          headers[CHALLENGE_HEADER] = await this._solve(challenge, onChallenge, error);
          attempt -= 1; // not a failed attempt
          continue;
        }
      } catch (err) {
        if (!(err instanceof NetworkError)) throw err;
        error = err;
      }
      error.idempotencyKey = key;
      if (!isTransient(error)) throw error;
      uncertain = uncertain || mayHaveRun(error);
      const delay = retryDelay(error, attempt, this.random);
      if (attempt >= this.maxActionAttempts || this.now() + delay - started > this.maxActionMs) {
        if (!uncertain) throw error; // every attempt was refused before the action ran
        throw new ActionUnsettledError({ idempotencyKey: key, attempts: attempt, cause: error });
      }
      if (onRetry) onRetry(error, { attempt, delayMs: delay });
      await this.sleep(delay);
    }
  }

  /** The Magic-Cube-Challenge value; throws `error` when there is no solution. */
  async _solve(challenge, onChallenge, error) {
    const { maxnumber } = challenge;
    const tell = (info) => onChallenge && deliver(onChallenge, null, { maxnumber, ...info });
    tell({ state: "solving", tried: 0 });
    const found = await solveChallenge(challenge, {
      now: this.now, onProgress: (p) => tell({ state: "solving", ...p }),
    });
    if (!found) throw error;
    tell({ state: "solved", tried: found.tried, ms: found.ms });
    return encodeSolution(challenge, found.number);
  }

  // -- heartbeats, sharing, guests ---------------------------------------------------------------

  /** "Still here": `{credited, interaction_seconds, next_heartbeat}`. */
  heartbeat(activityId) {
    return this.call({ method: "POST", path: `${activityPath(activityId)}/heartbeat` });
  }

  /**
   * Send a heartbeat every `intervalMs` (then every `next_heartbeat` seconds the server asks
   * for) while the page is visible; none while it is hidden, one at once when it shows again.
   * One loop per activity: starting heartbeats while a loop runs (a page's onShow, when the
   * app's own show already resumed them) takes it over, with no beat before its interval.
   * Stops by itself on a definite refusal (404, 401 after a refresh) and after
   * `maxTokenAttempts` token_unavailable in a row. Returns `stop()`.
   */
  startHeartbeats(activityId, intervalMs = 15000, { onBeat, onError } = {}) {
    const stopper = createStopper();
    const before = this._beats.get(activityId);
    const beats = { stopper, last: null, interval: intervalMs };
    if (before && !before.stopper.stopped) {
      before.stopper.stop();
      Object.assign(beats, { last: before.last, interval: before.interval });
    }
    this._beats.set(activityId, beats);
    const state = { tokenFailures: 0 };
    const run = async () => {
      let pause = beats.last === null ? 0 : beats.last + beats.interval - this.now();
      beats.interval = intervalMs;
      if (pause > 0) await stopper.until(this.sleep(pause));
      while (!stopper.stopped) {
        if (isHidden(this.document)) {
          await whenVisible(this.document, stopper);
          continue;
        }
        pause = beats.interval;
        const previous = beats.last;
        beats.last = this.now(); // sent: a beat stopped in flight may well have counted
        try {
          const answer = await stopper.until(this.heartbeat(activityId));
          if (answer === STOPPED) break;
          state.tokenFailures = 0;
          if (answer && answer.next_heartbeat > 0) beats.interval = answer.next_heartbeat * 1000;
          pause = beats.interval;
          if (onBeat) deliver(onBeat, onError, answer);
        } catch (err) {
          if (stopper.stopped) break;
          beats.last = previous; // this one did not count
          if (isHidden(this.document)) continue; // cut by the background: beats again on show
          const willRetry = this._willRetry(err, state);
          report(onError, err, { willRetry });
          if (!willRetry) break;
          if (typeof err.retryAfter === "number") pause = Math.max(pause, err.retryAfter * 1000);
        }
        await stopper.until(this.sleep(pause));
      }
      stopper.stop();
    };
    const stop = () => stopper.stop();
    stop.done = run();
    return stop;
  }

  /** A share link for the activity, or for one of its rooms: `{url, code}`. */
  share(activityId, { room } = {}) {
    return this.call({
      method: "POST",
      path: `${activityPath(activityId)}/share`,
      headers: { "Magic-Cube-Device": this.deviceId() },
      body: room === undefined || room === null ? {} : { room },
    });
  }

  /** Where a share code leads, without a token: `{activity_id, room, sharer, …}`. */
  resolveShare(code) {
    return this.call({ path: `/v1/shares/${enc(code)}`, auth: false });
  }

  /** Keep the first share code that brought this device to an activity; the kept one. */
  rememberVia(activityId, code) {
    const key = `magic-cube.via.${activityId}`;
    let kept = null;
    try {
      kept = this.storage.getItem(key);
      if (!kept && code) this.storage.setItem(key, (kept = String(code)));
    } catch (err) {
      // Storage that fails keeps nothing.
    }
    return kept || code || null;
  }

  /** A participant token for a shopper without an account: `{token, participant, expires_at}`. */
  guest(activityId, nickname) {
    return this.call({
      method: "POST",
      path: `${activityPath(activityId)}/guest`,
      body: { nickname },
      auth: false,
    });
  }
}

/** The public view of an activity and a share code need no token. */
function isPublicView(path) {
  return /^\/v1\/(activities|shares)\/[^/?]+\/?$/.test(path);
}
