// The one thing the client needs from a platform: a `request` function.
//
//   request({method, url, headers, body, timeoutMs, signal}) -> Promise<{status, headers, body}>
//
// `body` goes out as a string (JSON) or undefined; the answer's `headers` is a plain object with
// lowercase names and its `body` the response text (or an already parsed value). A request
// that gets no answer rejects; any HTTP status, 4xx and 5xx included, resolves.

import { NetworkError } from "./errors.js";

/** A header from a plain object, whatever the case of its name. */
export function header(headers, name) {
  if (!headers) return undefined;
  const wanted = name.toLowerCase();
  for (const key of Object.keys(headers)) {
    if (key.toLowerCase() === wanted) return headers[key];
  }
  return undefined;
}

function lowercaseKeys(headers) {
  const out = {};
  for (const key of Object.keys(headers || {})) out[key.toLowerCase()] = String(headers[key]);
  return out;
}

/** What a failed fetch said: its message, and the cause's code where Node gives one. */
function describe(err) {
  const code = err && err.cause && err.cause.code;
  const text = String((err && err.message) || err);
  return code ? `${text} (${code})` : text;
}

/** A browser's fetch says only "Failed to fetch"; navigator.onLine tells when it is offline. */
function fetchReason(timedOut, signal) {
  if (timedOut) return "timeout";
  if (signal && signal.aborted) return "aborted";
  if (typeof navigator !== "undefined" && navigator && navigator.onLine === false) return "offline";
  return undefined; // from the detail
}

/** `request` for browsers (and Node 18+), on the global `fetch`. */
export async function fetchRequest({ method, url, headers, body, timeoutMs, signal }) {
  const controller = typeof AbortController === "function" ? new AbortController() : null;
  let timedOut = false;
  const timer = controller && timeoutMs
    ? setTimeout(() => { timedOut = true; controller.abort(); }, timeoutMs)
    : null;
  const cancel = () => controller && controller.abort();
  if (signal) signal.addEventListener("abort", cancel, { once: true });
  try {
    const response = await fetch(url, {
      method,
      headers,
      body,
      // The client does its own ETag bookkeeping: the HTTP cache must never answer for it.
      cache: "no-store",
      signal: controller ? controller.signal : undefined,
    });
    const out = {};
    response.headers.forEach((value, key) => { out[key.toLowerCase()] = value; });
    return { status: response.status, headers: out, body: await response.text() };
  } catch (err) {
    const detail = timedOut ? `timed out after ${timeoutMs} ms` : describe(err);
    throw new NetworkError(`${method} ${url}: ${detail}`, {
      cause: err, detail, reason: fetchReason(timedOut, signal),
    });
  } finally {
    if (timer) clearTimeout(timer);
    if (signal) signal.removeEventListener("abort", cancel);
  }
}

/**
 * `request` for WeChat mini-programs: `wxRequest(wx)`. wx.request is callback-based, parses
 * JSON by itself unless told otherwise and keeps the server's header case; this wrapper asks
 * for text (a 304 has no body to parse) and lowercases the header names.
 */
export function wxRequest(wx) {
  return ({ method, url, headers, body, timeoutMs, signal }) =>
    new Promise((resolve, reject) => {
      // errMsg is "request:fail timeout", "request:fail abort", "request:fail -106:net::
      // ERR_INTERNET_DISCONNECTED", "request:fail 请求超时。" …: the reason is read from it.
      const fail = (detail, cause, reason) =>
        reject(new NetworkError(`${method} ${url}: ${detail}`, { cause, detail, reason }));
      if (signal && signal.aborted) {
        fail("aborted", undefined, "aborted");
        return;
      }
      let task = null;
      const cancel = () => task && task.abort && task.abort();
      const settled = () => { if (signal) signal.removeEventListener("abort", cancel); };
      if (signal) signal.addEventListener("abort", cancel, { once: true });
      task = wx.request({
        url,
        method,
        header: headers,
        data: body,
        timeout: timeoutMs,
        dataType: "text",
        responseType: "text",
        success: (res) => {
          settled();
          resolve({ status: res.statusCode, headers: lowercaseKeys(res.header), body: res.data });
        },
        fail: (err) => {
          settled();
          const aborted = signal && signal.aborted ? "aborted" : undefined;
          fail((err && err.errMsg) || "wx.request failed", err, aborted);
        },
      });
    });
}

/** A response body as a value: JSON parsed; "" is null; text that is not JSON stays text. */
export function parseBody(body) {
  if (typeof body !== "string") return body === undefined ? null : body;
  if (body === "") return null;
  try {
    return JSON.parse(body);
  } catch (err) {
    return body; // e.g. a proxy's HTML error page
  }
}

/** "zh" or "en", the languages of the API's messages, from a tag ("zh_CN", "zh-TW", "en-US",
 * "fr": "en"); null for none. */
export function shopperLang(tag) {
  if (tag === undefined || tag === null || String(tag).trim() === "") return null;
  return /^zh(?:$|[-_])/i.test(String(tag).trim()) ? "zh" : "en";
}

/** The language the phone is set to: a mini-program's (wx.getAppBaseInfo, or the older
 * wx.getSystemInfoSync), else the browser's first zh or en one; null when none is known. */
export function platformLang() {
  try {
    if (typeof wx !== "undefined" && wx) {
      const read = wx.getAppBaseInfo || wx.getSystemInfoSync;
      if (typeof read === "function") return shopperLang((read.call(wx) || {}).language);
    }
    if (typeof navigator !== "undefined" && navigator) {
      const tags = [...(navigator.languages || []), navigator.language].filter(Boolean);
      const known = tags.find((tag) => /^(zh|en)(?:$|[-_])/i.test(tag));
      return shopperLang(known || tags[0]);
    }
  } catch (err) {
    // A platform that cannot say: the server's default (en), or the browser's own header.
  }
  return null;
}
