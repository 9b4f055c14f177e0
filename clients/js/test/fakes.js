// Fakes for the client's injectable edges: the network, the clock and the page.

import { MagicCubeClient } from "../src/client.js";

/** Let every pending promise callback run. */
export const flush = () => new Promise((resolve) => setImmediate(resolve));

/** A JSON response as a `request` function resolves it. */
export function reply(status, body, headers = {}) {
  return { status, headers, body: body === undefined ? "" : JSON.stringify(body) };
}

export function apiError(status, code, extra = {}) {
  return reply(status, { error: code, message: code.replace(/_/g, " "), status, ...extra.body },
    extra.headers);
}

/**
 * A `request` that answers from `script`, one entry per call: a response, an Error to throw,
 * or a function of the request. Past the end it waits forever, like an idle long poll.
 */
export function fakeRequest(script = []) {
  const calls = [];
  const request = async (req) => {
    calls.push(req);
    const next = script[calls.length - 1];
    if (next === undefined) return new Promise(() => {});
    if (next instanceof Error) throw next;
    return typeof next === "function" ? next(req) : next;
  };
  request.calls = calls;
  return request;
}

/** A clock that only moves when the client sleeps; every sleep is recorded. */
export function fakeClock(start = 1_000_000) {
  const clock = { t: start, sleeps: [] };
  clock.now = () => clock.t;
  clock.sleep = async (ms) => {
    clock.sleeps.push(ms);
    clock.t += ms;
  };
  return clock;
}

/** A `document` whose visibility the test sets. */
export function fakeDocument() {
  const listeners = new Set();
  return {
    hidden: false,
    addEventListener: (type, fn) => listeners.add(fn),
    removeEventListener: (type, fn) => listeners.delete(fn),
    setHidden(hidden) {
      this.hidden = hidden;
      for (const fn of [...listeners]) fn();
    },
    listenerCount: () => listeners.size,
  };
}

export function makeClient({ script, clock = fakeClock(), ...options } = {}) {
  const request = fakeRequest(script);
  const client = new MagicCubeClient({
    baseUrl: "https://cube.test",
    request,
    now: clock.now,
    sleep: clock.sleep,
    random: () => 0,
    document: null,
    ...options,
  });
  return { client, request, clock };
}
