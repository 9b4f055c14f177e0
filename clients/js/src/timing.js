// Waiting: backoff delays, stoppable sleeps and the page's visibility.

/** Exponential backoff with jitter: 1 s, 2 s, 4 s … capped at 30 s, plus up to half again. */
export function backoffDelay(failures, random = Math.random, baseMs = 1000, capMs = 30000) {
  const delay = Math.min(capMs, baseMs * 2 ** Math.max(0, failures - 1));
  return delay + random() * (delay / 2);
}

/** How long to wait before retrying after `error`: Retry-After (at least 1 s), else backoff. */
export function retryDelay(error, failures, random) {
  if (error && typeof error.retryAfter === "number") return Math.max(1000, error.retryAfter * 1000);
  return backoffDelay(failures, random);
}

export const defaultSleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export const STOPPED = Symbol("stopped");
export const HIDDEN = Symbol("hidden");

/** Enough of an AbortController where there is none (mini-programs) to cancel a stopped poll. */
export function abortController() {
  if (typeof AbortController === "function") return new AbortController();
  const listeners = new Set();
  const signal = {
    aborted: false,
    addEventListener(type, listener) { if (type === "abort") listeners.add(listener); },
    removeEventListener(type, listener) { listeners.delete(listener); },
  };
  return {
    signal,
    abort() {
      if (signal.aborted) return;
      signal.aborted = true;
      for (const listener of [...listeners]) listener();
      listeners.clear();
    },
  };
}

/** The stop switch of one loop; `until(p)` settles with STOPPED as soon as it is thrown. */
export function createStopper() {
  let resolveStop;
  const stopper = {
    stopped: false,
    promise: new Promise((resolve) => { resolveStop = resolve; }),
    controller: abortController(),
    stop() {
      if (stopper.stopped) return;
      stopper.stopped = true;
      if (stopper.controller) stopper.controller.abort();
      resolveStop(STOPPED);
    },
    until(promise) {
      // Not Promise.race with `stopper.promise`: that would add a handler to it per call,
      // kept until the loop stops (one per poll and per sleep of a page open all day).
      if (stopper.stopped) return Promise.resolve(STOPPED);
      const signal = stopper.controller.signal;
      return new Promise((resolve, reject) => {
        const onStop = () => resolve(STOPPED);
        signal.addEventListener("abort", onStop);
        Promise.resolve(promise).then(
          (value) => { signal.removeEventListener("abort", onStop); resolve(value); },
          (error) => { signal.removeEventListener("abort", onStop); reject(error); });
      });
    },
  };
  return stopper;
}

const wxSources = new Map();

/** A mini-program as a `document`: hidden from wx.onAppHide to wx.onAppShow (one per `wx`). */
export function wxVisibility(wx) {
  if (wxSources.has(wx)) return wxSources.get(wx);
  const listeners = new Set();
  const source = {
    hidden: false,
    addEventListener: (type, fn) => listeners.add(fn),
    removeEventListener: (type, fn) => listeners.delete(fn),
  };
  const set = (hidden) => () => { source.hidden = hidden; for (const fn of [...listeners]) fn(); };
  wx.onAppHide(set(true));
  wx.onAppShow(set(false));
  wxSources.set(wx, source);
  return source;
}

/** The page's visibility: `document`, else the mini-program's, else null (never hidden). */
export function defaultVisibility() {
  if (typeof document !== "undefined") return document;
  const app = typeof wx !== "undefined" ? wx : null;
  return app && typeof app.onAppHide === "function" ? wxVisibility(app) : null;
}

/** Whether `doc` (a `document`, or null outside a browser) says the page is hidden. */
export function isHidden(doc) {
  return Boolean(doc && doc.hidden);
}

/** Resolves when the page is visible again or the loop is stopped, whichever comes first. */
export function whenVisible(doc, stopper) {
  if (!isHidden(doc) || stopper.stopped) return Promise.resolve();
  return new Promise((resolve) => {
    // Listeners, not `stopper.promise.then`: a promise keeps every handler until it settles,
    // and a page hidden and shown all day would pile one up per hide.
    const signal = stopper.controller.signal;
    const done = () => {
      doc.removeEventListener("visibilitychange", check);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const check = () => { if (!doc.hidden) done(); };
    doc.addEventListener("visibilitychange", check);
    signal.addEventListener("abort", done);
  });
}

/**
 * The life of one long poll of a loop: `signal` aborts it, and `until(p)` settles with STOPPED
 * or HIDDEN instead of its answer, when the loop stops or the page goes into the background.
 * `release()` drops the listeners once it is over.
 */
export function requestScope(doc, stopper) {
  const controller = abortController();
  let resolveEnd;
  const ended = new Promise((resolve) => { resolveEnd = resolve; });
  const end = (why) => {
    resolveEnd(why); // first, so that `until` settles with why and not with the abort's error
    controller.abort();
  };
  const onVisibility = () => { if (isHidden(doc)) end(HIDDEN); };
  const onStop = () => end(STOPPED);
  if (doc) doc.addEventListener("visibilitychange", onVisibility);
  stopper.controller.signal.addEventListener("abort", onStop);
  if (stopper.stopped) end(STOPPED);
  return {
    signal: controller.signal,
    until: (promise) => Promise.race([promise, ended]),
    release() {
      if (doc) doc.removeEventListener("visibilitychange", onVisibility);
      stopper.controller.signal.removeEventListener("abort", onStop);
    },
  };
}
