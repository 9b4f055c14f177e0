// What a mini-program meets and a browser does not: no AbortController, a token provider that
// calls its own backend, share codes opened before there is a token, wx storage.

import assert from "node:assert/strict";
import { test } from "node:test";

import { MagicCubeClient, MagicCubeError, wxRequest } from "../src/client.js";
import { apiError, flush, makeClient, reply } from "./fakes.js";

const OK = reply(200, { ok: true, action: "help", seq: 1, room: "r1", result: {}, events: [] });

/** A wx whose requests never answer until aborted, like a long poll the server holds. */
function holdingWx() {
  const wx = { calls: [], aborted: 0 };
  wx.request = (options) => {
    wx.calls.push(options);
    return { abort: () => { wx.aborted += 1; options.fail({ errMsg: "request:fail abort" }); } };
  };
  return wx;
}

function withoutAbortController(body) {
  const saved = globalThis.AbortController;
  delete globalThis.AbortController;
  return Promise.resolve().then(body).finally(() => { globalThis.AbortController = saved; });
}

test("without AbortController, stop() still aborts the poll in flight", () =>
  withoutAbortController(async () => {
    const wx = holdingWx();
    const client = new MagicCubeClient({ request: wxRequest(wx), document: null });
    const stop = client.watchMe("act_1", () => {});
    await flush();
    assert.equal(wx.calls.length, 1);
    stop();
    await stop.done;
    // Else it would hold one of WeChat's 10 connections for up to 25 s after every onHide.
    assert.equal(wx.aborted, 1);
  }));

test("wxRequest lets go of the stop signal when each request ends", async () => {
  const listeners = new Set();
  const signal = {
    aborted: false,
    addEventListener: (type, fn) => listeners.add(fn),
    removeEventListener: (type, fn) => listeners.delete(fn),
  };
  const answer = { statusCode: 304, header: {}, data: "" };
  const wx = { request: (options) => { setImmediate(() => options.success(answer)); return {}; } };
  for (let i = 0; i < 20; i += 1) {
    await wxRequest(wx)({ method: "GET", url: "u", headers: {}, signal });
  }
  assert.equal(listeners.size, 0);
  signal.aborted = true;
  const err = await wxRequest(wx)({ method: "GET", url: "u", headers: {}, signal }).catch((e) => e);
  assert.equal(err.code, "network_error");
});

test("a Retry-After of 0 still waits a second before the retry", async () => {
  const busy = apiError(429, "rate_limited", { headers: { "Retry-After": "0" } });
  const { client, clock } = makeClient({ script: [busy, busy, OK] });
  await client.act("act_1", "draw");
  assert.deepEqual(clock.sleeps, [1000, 1000]);
  const polls = makeClient({ script: [busy, reply(200, { v: 1 }, { etag: '"a1"' })] });
  const stop = polls.client.watch("/v1/activities/act_1", () => stop());
  await stop.done;
  assert.deepEqual(polls.clock.sleeps, [1000]);
});

test("a token provider that fails is retried by a watch, which keeps going", async () => {
  let failures = 2;
  const { client, request } = makeClient({
    script: [reply(200, { view: {} }, { etag: '"m1"' })],
    getToken: async () => {
      if (failures > 0) { failures -= 1; throw new Error("request:fail timeout"); }
      return "tok";
    },
  });
  const errors = [];
  const seen = [];
  const stop = client.watchMe("act_1", (me) => { seen.push(me); stop(); }, {
    onError: (err, info) => errors.push([err.code, info.willRetry]),
  });
  await stop.done;
  assert.deepEqual(errors, [["token_unavailable", true], ["token_unavailable", true]]);
  assert.equal(seen.length, 1);
  assert.equal(request.calls[0].headers.Authorization, "Bearer tok");
});

test("a token that never comes ends a watch and heartbeats after a bounded number of tries",
  async () => {
    const getToken = async () => { throw new Error("request:fail timeout"); };
    const { client, request, clock } = makeClient({ script: [], getToken, maxTokenAttempts: 4 });
    const errors = [];
    const onError = (err, info) => errors.push([err.code, err.status, info.willRetry]);
    const stop = client.watchMe("act_1", () => {}, { onError });
    await stop.done; // it ends by itself
    const tries = [["token_unavailable", 0, true], ["token_unavailable", 0, true],
      ["token_unavailable", 0, true], ["token_unavailable", 0, false]];
    assert.deepEqual(errors, tries);
    assert.deepEqual(clock.sleeps, [1000, 2000, 4000]); // backing off between the tries
    errors.length = 0;
    const beats = client.startHeartbeats("act_1", 15000, { onError });
    await beats.done;
    assert.deepEqual(errors, tries);
    assert.equal(request.calls.length, 0); // nothing went out without a token
  });

test("an action whose token never came is not unsettled: it was never sent", async () => {
  const { client, request } = makeClient({
    script: [OK], maxActionAttempts: 3, getToken: async () => { throw new Error("offline"); },
  });
  const err = await client.act("act_1", "draw").catch((e) => e);
  assert.ok(err instanceof MagicCubeError);
  assert.equal(err.code, "token_unavailable");
  assert.equal(err.status, 0);
  assert.equal(err.cause.message, "offline");
  assert.equal(request.calls.length, 0);
});

test("a token provider's definite refusal is thrown as it is", async () => {
  const refused = new MagicCubeError({ code: "guests_not_allowed", status: 403 });
  const { client } = makeClient({ script: [OK], getToken: async () => { throw refused; } });
  const err = await client.act("act_1", "draw").catch((e) => e);
  assert.equal(err, refused);
});

test("resolveShare asks where a code leads without a token", async () => {
  const shared = { code: "Xk3v", url: "u", activity_id: "act_1", room: "r1", sharer: "A***",
    shopper_url: "s" };
  const asked = [];
  const { client, request } = makeClient({
    script: [reply(200, shared), reply(200, shared)],
    getToken: async (info) => { asked.push(info); return "tok"; },
  });
  assert.deepEqual(await client.resolveShare("Xk3v"), shared);
  await client.get("/v1/shares/Xk3v");
  assert.equal(request.calls[0].url, "https://cube.test/v1/shares/Xk3v");
  assert.equal(request.calls[0].method, "GET");
  assert.equal(request.calls[0].headers.Authorization, undefined);
  assert.equal(request.calls[1].headers.Authorization, undefined);
  // A guest's token provider needs the activity id that this very answer gives.
  assert.deepEqual(asked, []);
});

test("rememberVia keeps the first code, and act sends it", async () => {
  const items = {};
  const storage = { getItem: (k) => items[k] || null, setItem: (k, v) => { items[k] = v; } };
  const { client, request } = makeClient({ script: [OK, OK, OK], storage });
  assert.equal(client.rememberVia("act_1"), null);
  assert.equal(client.rememberVia("act_1", "first"), "first");
  assert.equal(client.rememberVia("act_1", "second"), "first");
  assert.deepEqual(items, { "magic-cube.via.act_1": "first" });
  await client.act("act_1", "help", { room: "r1" });
  await client.act("act_1", "help", { room: "r1", via: "given" });
  await client.act("act_2", "draw");
  assert.deepEqual(request.calls.map((c) => JSON.parse(c.body).via), ["first", "given", undefined]);
  // Another client on the device (the mini-program started again) finds it.
  const again = makeClient({ script: [], storage });
  assert.equal(again.client.rememberVia("act_1", "third"), "first");
});

test("rememberVia uses wx storage, and answers the code given where storage fails", () => {
  const saved = globalThis.wx;
  const items = {};
  globalThis.wx = {
    getStorageSync: (k) => items[k] || "", setStorageSync: (k, v) => { items[k] = v; },
  };
  try {
    const { client } = makeClient({ script: [] });
    client.rememberVia("act_1", "Xk3v");
    assert.equal(items["magic-cube.via.act_1"], "Xk3v");
  } finally {
    globalThis.wx = saved;
  }
  const quota = () => { throw new Error("quota"); };
  const broken = { getItem: quota, setItem: quota };
  const { client } = makeClient({ script: [], storage: broken });
  assert.equal(client.rememberVia("act_1", "Xk3v"), "Xk3v");
  assert.equal(client.rememberVia("act_1", "other"), "other"); // nothing kept
});

test("in a mini-program the loops pause between wx.onAppHide and wx.onAppShow", async () => {
  const saved = globalThis.wx;
  const hooks = {};
  globalThis.wx = {
    onAppHide: (fn) => { hooks.hide = fn; }, onAppShow: (fn) => { hooks.show = fn; },
  };
  try {
    const { client, request } = makeClient({
      script: [reply(200, { v: 1 }, { etag: '"a1"' }), reply(200, { v: 2 }, { etag: '"a2"' })],
      document: undefined,
    });
    // One visibility source per wx, however many clients there are.
    assert.equal(makeClient({ document: undefined }).client.document, client.document);
    hooks.hide();
    const seen = [];
    const stop = client.watch("/v1/activities/act_1", (body) => seen.push(body.v));
    await flush();
    assert.equal(request.calls.length, 0); // in the background: nothing sent
    hooks.show();
    await flush();
    assert.deepEqual(seen, [1, 2]);
    stop();
    await stop.done;
  } finally {
    globalThis.wx = saved;
  }
});

test("getActivity, getRoom and getMe read a view once, a token where one is needed", async () => {
  const { client, request } = makeClient({
    script: [reply(200, { id: "act_1" }), reply(200, { id: "r1" }), reply(200, { rooms: [] })],
    getToken: async () => "tok",
  });
  assert.deepEqual(await client.getActivity("act_1"), { id: "act_1" });
  assert.deepEqual(await client.getRoom("act_1", "r1"), { id: "r1" });
  assert.deepEqual(await client.getMe("act_1"), { rooms: [] });
  assert.deepEqual(request.calls.map((c) => [c.url, c.headers.Authorization]), [
    ["https://cube.test/v1/activities/act_1", undefined],
    ["https://cube.test/v1/activities/act_1/rooms/r1", "Bearer tok"],
    ["https://cube.test/v1/activities/act_1/me", "Bearer tok"],
  ]);
});
