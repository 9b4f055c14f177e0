// Types for the magic-cube JavaScript client (src/client.js). See README.md and docs/api.md.

// -- transport ------------------------------------------------------------------------------------

export interface HttpRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  /** JSON text, or undefined when the request has no body. */
  body?: string;
  timeoutMs?: number;
  /** Aborted when the loop that sent the request stops (where AbortController exists). */
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  /** The response text ("" for none), or an already parsed value. */
  body: unknown;
}

/** Resolves for every HTTP status; rejects only when no answer came. */
export type RequestFunction = (request: HttpRequest) => Promise<HttpResponse>;

/** `request` on the global fetch (browsers, Node 18+). */
export declare const fetchRequest: RequestFunction;

/** The parts of WeChat's `wx` object the adapter uses. */
export interface WxLike {
  request(options: {
    url: string;
    method: string;
    header: Record<string, string>;
    data?: string;
    timeout?: number;
    dataType?: string;
    responseType?: string;
    success(result: { statusCode: number; header: Record<string, string>; data: unknown }): void;
    fail(error: { errMsg?: string }): void;
  }): { abort?(): void } | void;
}

/** `request` for mini-programs: `wxRequest(wx)`. */
export declare function wxRequest(wx: WxLike): RequestFunction;

/** "zh" or "en" (the API's languages) from any tag: "zh_CN", "zh-TW" -> "zh", "en-US", "fr" ->
 * "en"; null for none. */
export declare function shopperLang(tag: string | null | undefined): "zh" | "en" | null;

/** The phone's language as zh/en: wx.getAppBaseInfo() (or getSystemInfoSync()) in a
 * mini-program, else navigator.languages' first Chinese or English one; null when unknown. */
export declare function platformLang(): "zh" | "en" | null;

/** The mini-program's visibility (hidden from wx.onAppHide to wx.onAppShow), one per `wx`. */
export declare function wxVisibility(wx: {
  onAppHide(listener: () => void): void;
  onAppShow(listener: () => void): void;
}): VisibilitySource;

// -- errors ---------------------------------------------------------------------------------------

export interface FieldError {
  code: string;
  message: string;
}

/** Any failure; switch on `code` (docs/api.md#error-codes). The client's own codes:
 * "network_error", "action_unsettled", "token_unavailable" (getToken failed, nothing sent) and
 * "http_<status>" (a body that is not the API's). */
export declare class MagicCubeError extends Error {
  constructor(init?: {
    code: string;
    message?: string;
    status?: number;
    errors?: Record<string, FieldError[]>;
    retryAfter?: number | null;
    reason?: string | null;
    detail?: string | null;
  });
  /** The stable error code, e.g. "group_full"; `http_<status>` for a body that is not ours. */
  code: string;
  /** The HTTP status; 0 when there was no answer. */
  status: number;
  /** Details keyed by field path (`params.shares`, `status` …); {} when there are none. */
  errors: Record<string, FieldError[]>;
  /** Seconds from Retry-After (on 429), else null. */
  retryAfter: number | null;
  /** A NetworkError's NetworkReason; "not_api_response" on an `http_<status>` answer whose
   * body is not the API's (a Wi-Fi login page answering 200, a proxy's 502 page); else null. */
  reason: NetworkReason | "not_api_response" | null;
  /** What the platform said (`request:fail timeout`), or a foreign answer's content type and
   * first characters: for logs, not for shoppers. Null on the API's own refusals. */
  detail: string | null;
  /** From `act`: this refusal is the stored first answer to its Idempotency-Key. */
  replayed: boolean;
  /** On errors thrown by `act`: the key the action was sent with. */
  idempotencyKey?: string;
}

/** Why no answer came: "offline" (the phone has no network), "timeout", "aborted" (the loop
 * stopped or the page went into the background), "dns" (the host is unknown), "other" (a
 * refused connection, TLS, a browser that says only "Failed to fetch"). */
export type NetworkReason = "offline" | "timeout" | "aborted" | "dns" | "other";

/** No answer: offline, a timeout, DNS or TLS failure. `code` is "network_error". */
export declare class NetworkError extends MagicCubeError {
  constructor(message?: string,
    options?: { cause?: unknown; reason?: NetworkReason; detail?: string });
  code: "network_error";
  reason: NetworkReason;
  detail: string;
  cause?: unknown;
}

/** `act` gave up without a definite answer; resend with `idempotencyKey` to learn it. */
export declare class ActionUnsettledError extends MagicCubeError {
  code: "action_unsettled";
  idempotencyKey: string;
  attempts: number;
  /** The last failure: a NetworkError or a 5xx MagicCubeError. */
  cause: MagicCubeError;
}

// -- the client -----------------------------------------------------------------------------------

export interface TokenRequest {
  /** True after the server refused the last token (401 token_expired / invalid_token). */
  refresh: boolean;
}

/** Called before every request that needs a token; return null for none. When it throws,
 * the request fails with `token_unavailable` (retried like no answer), unless it threw a
 * MagicCubeError with a status (e.g. guest()'s 403 guests_not_allowed), thrown as it is. */
export type TokenProvider = (request: TokenRequest) => Promise<string | null> | string | null;

/** The subset of `document` used to pause loops while the page is hidden. */
export interface VisibilitySource {
  hidden: boolean;
  addEventListener(type: "visibilitychange", listener: () => void): void;
  removeEventListener(type: "visibilitychange", listener: () => void): void;
}

export interface ClientOptions {
  /** e.g. "https://cube.example.com"; "" (default) for the page's own origin. */
  baseUrl?: string;
  /** Default: fetchRequest where fetch exists, else wxRequest(wx). */
  request?: RequestFunction;
  getToken?: TokenProvider;
  /** The shopper's language, sent as Accept-Language so that refusals come in their words:
   * any tag, sent as "zh" or "en" ("zh_CN" -> "zh"). Default: platformLang(); null: none. */
  lang?: string | null;
  /** token_unavailable in a row after which a watch or heartbeats stop; default 5. */
  maxTokenAttempts?: number;
  /** Per-request timeout for everything but long polls; default 15000. */
  timeoutMs?: number;
  /** Attempts per action before giving up; default 5. */
  maxActionAttempts?: number;
  /** No retry of an action starts after this many ms; default 30000. */
  maxActionMs?: number;
  /** Shortest time between two polls that answer 304 at once; default 1000. */
  minPollIntervalMs?: number;
  /** Injectable for tests. */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  random?: () => number;
  /** Default: the global `document`, else in a mini-program wxVisibility(wx); null never
   * pauses. */
  document?: VisibilitySource | null;
  /** Sent as Magic-Cube-Device (8-64 of A-Z a-z 0-9 _ -); default: deviceId(). */
  device?: string;
  /** Where `rememberVia` keeps share codes; default: wx storage or localStorage, else memory. */
  storage?: KeyValueStorage;
}

/** The part of localStorage `rememberVia` uses. */
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export interface WatchOptions {
  /** Long-poll seconds, 0-25 (default 25). */
  wait?: number;
  /** Send a token; default: every view but the public activity view. */
  auth?: boolean;
  /** Start from an ETag you already have. */
  etag?: string;
  /** Every failure; `willRetry` false means the loop has stopped (404, 401 …). Going into
   * the background is not a failure. */
  onError?: (error: Error, info: { willRetry: boolean }) => void;
}

/** Called with each new version of a view and its ETag. */
export type OnChange<T> = (body: T, info: { etag: string | null }) => void;

/** Stops the loop; `done` settles once it has ended. */
export interface Stop {
  (): void;
  done: Promise<void>;
}

export interface ActOptions {
  /** The room acted on, for `room: "target"` actions. */
  room?: string;
  params?: Record<string, unknown>;
  /** The share code of the first link that brought this device to the activity: the
   * participant's first accepted action then names the sharer as their inviter. */
  via?: string;
  /** Resume an unsettled action with its key; a new key otherwise. */
  idempotencyKey?: string;
  /** Called before each retry, e.g. to show "retrying…". */
  onRetry?: (error: MagicCubeError, info: { attempt: number; delayMs: number }) => void;
  /** Follows a proof-of-work challenge the client solves before sending the action again. */
  onChallenge?: (info: ChallengeProgress) => void;
}

export interface ChallengeProgress {
  state: "solving" | "solved";
  tried: number;
  maxnumber: number;
  /** With "solved": milliseconds the search took. */
  ms?: number;
}

/** A `428 challenge_required` body's `challenge` (ALTCHA). */
export interface Challenge {
  algorithm: "SHA-256";
  challenge: string;
  maxnumber: number;
  salt: string;
  signature: string;
}

export const CHALLENGE_HEADER: "Magic-Cube-Challenge";
/** The number that solves `challenge`, or null when none up to `maxnumber` does. */
export function solveChallenge(challenge: Challenge, options?: {
  onProgress?: (info: { tried: number; maxnumber: number }) => void;
  now?: () => number;
}): Promise<{ number: number; tried: number; ms: number } | null>;
/** The Magic-Cube-Challenge header value (ALTCHA's base64 JSON payload). */
export function encodeSolution(challenge: Challenge, number: number): string;

/** An action's answer; `R` is the template's result (a bargain help: `{cut, price, …}`). */
export interface ActionResult<R = Record<string, any>> {
  ok: true;
  action: string;
  seq: number;
  /** The room acted on, or the one the action opened (share it); null for none. */
  room: string | null;
  result: R;
  /** The event types the action emitted. */
  events: string[];
  /** Present (true) when this is the stored first answer to the Idempotency-Key: the action
   * had already run, on an earlier attempt or an earlier call with the same key. */
  replayed?: true;
}

// -- views (docs/api.md, "Participant endpoints") -------------------------------------------------
// `V` is the template's own view; its keys are the template's (GET /v1/merchant/templates/{id}).

export type ActivityStatus = "draft" | "scheduled" | "live" | "paused" | "ended" | "archived";

/** GET /v1/activities/{id}: what anyone may see. Times are ISO 8601 UTC ("…Z"). */
export interface PublicActivity<V = Record<string, any>> {
  id: string;
  title: string;
  /** Only a live activity accepts actions (else 409 activity_not_live). */
  status: ActivityStatus;
  template: { id: string; version: string; kind: string; title: string };
  timezone: string;
  starts_at: string | null;
  ends_at: string | null;
  view: V;
  /** The participant actions; `room: "target"` ones need a `room`. */
  actions: Array<{
    name: string;
    title: string;
    room: "none" | "target";
    /** Only on an action that takes params: their JSON Schema as the template declares it. */
    params?: { type: "object"; properties: Record<string, unknown>; required?: string[] } & Record<string, unknown>;
  }>;
  fairness: { seed_commitment: string | null; seed: string | null };
  /** Seconds between heartbeats. */
  heartbeat_interval: number;
  /** Whether `guest()` gives tokens for this activity. */
  guests: boolean;
}

/** A room's member as others see them: a masked name, never an id. */
export interface RoomMember<D = Record<string, any>> {
  name: string;
  role: string;
  data: D;
  is_me: boolean;
  joined_at: string;
}

export type RoomStatus = "open" | "succeeded" | "failed" | "expired";

/** GET /v1/activities/{id}/rooms/{room}: a bargain, a group, a gift pack … */
export interface RoomView<V = Record<string, any>> {
  id: string;
  activity_id: string;
  status: RoomStatus;
  view: V;
}

/** A redemption code (核销码) of the participant's, in `/me`. */
export interface OwnCode {
  code: string;
  /** The event that won it, e.g. "prize.awarded". */
  event: string;
  item: string;
  kind: string;
  /** Smallest currency unit (fen), or null when the template gives none. */
  amount: number | null;
  created_at: string;
  redeemed_at: string | null;
  voided_at: string | null;
  shipped_at: string | null;
  carrier: string;
  tracking: string;
}

/** GET /v1/activities/{id}/me: the participant's own state. */
export interface MeView<V = Record<string, any>> {
  activity_id: string;
  participant: string;
  view: V;
  /** Rooms they belong to, newest first. */
  rooms: string[];
  /** Their redemption codes, oldest first. */
  codes: OwnCode[];
}

/** POST /v1/activities/{id}/share. */
export interface ShareLink {
  /** At most 32 of [A-Za-z0-9]: fits a mini-program code's `scene`. */
  code: string;
  /** The shopper page's share link. */
  url: string;
  activity_id: string;
  room: string | null;
}

/** GET /v1/shares/{code}: where a code leads. */
export interface SharedLink extends ShareLink {
  /** The sharer's masked name. */
  sharer: string;
  /** The activity's or room's shopper page. */
  shopper_url: string;
}

export interface GuestToken {
  token: string;
  participant: string;
  expires_at: string;
}

export interface HeartbeatResult {
  credited: number;
  interaction_seconds: number;
  next_heartbeat: number;
}

export interface HeartbeatOptions {
  onBeat?: (answer: HeartbeatResult) => void;
  onError?: (error: Error, info: { willRetry: boolean }) => void;
}

export interface SendOptions {
  method?: string;
  path: string;
  query?: Record<string, string | number>;
  headers?: Record<string, string>;
  body?: unknown;
  auth?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ParsedResponse {
  status: number;
  headers: Record<string, string>;
  /** Parsed JSON; null for an empty body. */
  body: any;
}

export declare const MAX_WAIT: 25;

export declare class MagicCubeClient {
  constructor(options?: ClientOptions);
  /** "zh", "en" or null: what goes out as Accept-Language. */
  lang: "zh" | "en" | null;
  /** Change it (the shopper switched languages): any tag, kept as zh or en. */
  setLang(lang: string | null | undefined): void;
  /** The device id sent with actions and share links. */
  deviceId(): string;
  /** One exchange, any status; refreshes the token once on 401 token_expired/invalid_token. */
  send(options: SendOptions): Promise<ParsedResponse>;
  /** `send`, then the 2xx body or a thrown MagicCubeError. */
  call<T = any>(options: SendOptions): Promise<T>;
  get<T = any>(path: string, options?: { auth?: boolean }): Promise<T>;
  /** One read of a view (no polling). */
  getActivity<V = Record<string, any>>(activityId: string): Promise<PublicActivity<V>>;
  getRoom<V = Record<string, any>>(activityId: string, room: string): Promise<RoomView<V>>;
  getMe<V = Record<string, any>>(activityId: string): Promise<MeView<V>>;

  watch<T = any>(path: string, onChange: OnChange<T>, options?: WatchOptions): Stop;
  /** `V`: the template's activity view. */
  watchActivity<V = Record<string, any>>(activityId: string,
    onChange: OnChange<PublicActivity<V>>, options?: WatchOptions): Stop;
  watchRoom<V = Record<string, any>>(activityId: string, room: string,
    onChange: OnChange<RoomView<V>>, options?: WatchOptions): Stop;
  watchMe<V = Record<string, any>>(activityId: string, onChange: OnChange<MeView<V>>,
    options?: WatchOptions): Stop;

  /** `R`: the template's result for this action. Sends the remembered `via` when none given. */
  act<R = Record<string, any>>(activityId: string, action: string,
    options?: ActOptions): Promise<ActionResult<R>>;
  heartbeat(activityId: string): Promise<HeartbeatResult>;
  startHeartbeats(activityId: string, intervalMs?: number, options?: HeartbeatOptions): Stop;
  share(activityId: string, options?: { room?: string }): Promise<ShareLink>;
  /** Where a share code leads; no token. Counts one open of the link. */
  resolveShare(code: string): Promise<SharedLink>;
  /** Keep the first code that brought this device to the activity; answers the kept one. */
  rememberVia(activityId: string, code?: string | null): string | null;
  guest(activityId: string, nickname: string): Promise<GuestToken>;
}

/** `new MagicCubeClient(options)`. */
export declare function createClient(options?: ClientOptions): MagicCubeClient;

// -- ids ------------------------------------------------------------------------------------------

/** A random v4 UUID (crypto.randomUUID when available). */
export declare function randomId(): string;

/** A stable random id for this device, kept in wx storage or localStorage when available. */
export declare function deviceId(options?: {
  store?: { get(): string | null | undefined; set(value: string): void } | null;
}): string;

// -- JsonLogic ------------------------------------------------------------------------------------

export type Rule = unknown;

export declare class JsonLogicError extends Error {
  /** "unknown_operator", "rule_too_deep", "rule_too_large", "invalid_rule", "evaluation_error". */
  code: string;
  /** Where in the rule: ["and", 1, "!"]. */
  path: Array<string | number>;
}

/** Evaluate a rule once, as json-logic-js would (with the server's allow-list). */
export declare function apply(rule: Rule, data?: unknown): any;
/** Validate once; the returned function evaluates the rule against data. */
export declare function compileRule(rule: Rule): (data?: unknown) => any;
/** JsonLogic truthiness: JavaScript's, except that [] is falsy. */
export declare function truthy(value: unknown): boolean;

export interface Guard {
  rule: Rule;
  error: string;
  message?: I18nText;
}

export type I18nText = string | { zh?: string; en?: string };

/** A template's `errors` table: code -> {status, message}. */
export type ErrorTable = Record<string, { status?: number; message?: I18nText }>;

/** The first failing guard as {code, message}, or null when all pass. */
export declare function canAct(guards: Guard[], data: unknown,
  options?: { errors?: ErrorTable; lang?: string }): { code: string; message: string } | null;
