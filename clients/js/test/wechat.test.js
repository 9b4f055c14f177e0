// The client in a mini-program, over a fake of WeChat's own API: wx.request answers through
// success/fail callbacks, later, with statusCode, header in the server's case and data that is
// text or (as some base libraries and the developer tools do) already parsed; a task aborts.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  ActionUnsettledError, MagicCubeClient, NetworkError, wxRequest, wxVisibility,
} from "../src/client.js";
import { flush } from "./fakes.js";

/**
 * A `wx` whose requests `answer(options, call)` decides: {statusCode, header, data} for
 * success, {errMsg} for fail, or undefined to hold the request (a long poll) until aborted.
 */
function fakeWx(answer, { language = "zh_CN" } = {}) {
  const hooks = { hide: [], show: [] };
  const wx = {
    calls: [],
    aborted: 0,
    getSystemInfoSync: () => ({ language, platform: "android" }),
    onAppHide: (fn) => hooks.hide.push(fn),
    onAppShow: (fn) => hooks.show.push(fn),
    hide: () => hooks.hide.forEach((fn) => fn()),
    show: () => hooks.show.forEach((fn) => fn()),
    request(options) {
      const call = wx.calls.push(options) - 1;
      let done = false;
      const settle = (outcome) => {
        if (done) return;
        done = true;
        if (outcome.errMsg) options.fail(outcome);
        else options.success({ errMsg: "request:ok", cookies: [], ...outcome });
      };
      const outcome = answer(options, call);
      if (outcome) setImmediate(() => settle(outcome));
      return {
        abort() {
          wx.aborted += 1;
          settle({ errMsg: "request:fail abort" });
        },
      };
    },
  };
  return wx;
}

/** Let a few rounds of callbacks run (a token, then wx's answer, then the loop). */
async function settle() {
  for (let i = 0; i < 5; i += 1) await flush();
}

const json = (statusCode, body, header = {}) =>
  ({ statusCode, header: { "Content-Type": "application/json", ...header }, data: body });

function miniProgram(wx, options = {}) {
  return new MagicCubeClient({
    baseUrl: "https://cube.example.com",
    request: wxRequest(wx),
    document: wxVisibility(wx),
    getToken: async () => "tok",
    sleep: async () => {},
    random: () => 0,
    ...options,
  });
}

/** Run `body` in a mini-program: `wx` is a global there. */
async function inMiniProgram(wx, body) {
  const saved = globalThis.wx;
  globalThis.wx = wx;
  try {
    return await body();
  } finally {
    globalThis.wx = saved;
  }
}

test("a watch over wx.request: text or parsed data, ETags in any case, 304s, zh", async () => {
  const wx = fakeWx((options, call) => [
    json(200, '{"v":1}', { ETag: '"a1"' }),
    { statusCode: 304, header: { Etag: '"a1"' }, data: "" },
    json(200, { v: 2 }, { etag: '"a2"' }), // already parsed by the base library
  ][call]);
  const client = await inMiniProgram(wx, () => miniProgram(wx));
  const seen = [];
  const stop = client.watchMe("act_1", (body, { etag }) => {
    seen.push([body.v, etag]);
    if (seen.length === 2) stop();
  });
  await stop.done;
  assert.deepEqual(seen, [[1, '"a1"'], [2, '"a2"']]);
  const [first, second] = wx.calls;
  assert.equal(first.url, "https://cube.example.com/v1/activities/act_1/me?wait=25");
  assert.equal(first.method, "GET");
  assert.equal(first.header.Authorization, "Bearer tok");
  assert.equal(first.header["Accept-Language"], "zh"); // from wx.getSystemInfoSync: zh_CN
  assert.equal(first.timeout, 35000);
  assert.equal(first.dataType, "text"); // wx must not parse: a 304 has no body
  assert.equal(second.header["If-None-Match"], '"a1"');
});

test("an action over wx.request: its body as text, the answer or the refusal in zh", async () => {
  const answers = [
    json(200, { ok: true, action: "join", seq: 3, room: "r1", result: { joined: 2 }, events: [] }),
    json(409, '{"error":"group_full","message":"拼团人数已满","status":409}'),
  ];
  const wx = fakeWx((options, call) => answers[call]);
  const client = miniProgram(wx);
  const answer = await client.act("act_1", "join", { room: "r1" });
  assert.deepEqual(answer.result, { joined: 2 });
  assert.equal(wx.calls[0].method, "POST");
  assert.equal(wx.calls[0].data, '{"room":"r1"}');
  assert.equal(wx.calls[0].header["Content-Type"], "application/json");
  assert.match(wx.calls[0].header["Idempotency-Key"], /^[0-9a-f-]{36}$/);
  const err = await client.act("act_1", "join", { room: "r1" }).catch((e) => e);
  assert.equal(err.code, "group_full");
  assert.equal(err.status, 409);
  assert.equal(err.message, "拼团人数已满");
});

test("a failed wx.request says why: offline, timeout, aborted, dns or other", async () => {
  const said = [
    ["request:fail timeout", "timeout"],
    ["request:fail 请求超时。", "timeout"],
    ["request:fail -118:net::ERR_CONNECTION_TIMED_OUT", "timeout"],
    ["request:fail -106:net::ERR_INTERNET_DISCONNECTED", "offline"],
    ["request:fail 似乎已断开与互联网的连接。", "offline"],
    ["request:fail The Internet connection appears to be offline.", "offline"],
    ["request:fail -105:net::ERR_NAME_NOT_RESOLVED", "dns"],
    ["request:fail 未能找到使用指定主机名的服务器。", "dns"],
    ["request:fail abort", "aborted"],
    ["request:fail -102:net::ERR_CONNECTION_REFUSED", "other"],
    ["request:fail ssl hand shake error", "other"],
  ];
  for (const [errMsg, reason] of said) {
    const client = miniProgram(fakeWx(() => ({ errMsg })));
    const err = await client.getActivity("act_1").catch((e) => e);
    assert.ok(err instanceof NetworkError, errMsg);
    assert.equal(err.code, "network_error");
    assert.equal(err.status, 0);
    assert.equal(err.reason, reason, errMsg);
    assert.equal(err.detail, errMsg);
    assert.equal(err.cause.errMsg, errMsg);
  }
});

test("a Wi-Fi login page answering 200 is a clear error, not a parsing crash", async () => {
  const portal = { statusCode: 200, header: { "Content-Type": "text/html; charset=utf-8" },
    data: "<html><title>Free Wi-Fi: log in</title></html>" };
  const wx = fakeWx(() => portal);
  const client = miniProgram(wx, { maxActionAttempts: 3 });
  const err = await client.getActivity("act_1").catch((e) => e);
  assert.equal(err.code, "http_200");
  assert.equal(err.status, 200);
  assert.equal(err.reason, "not_api_response");
  assert.match(err.detail, /^text\/html; charset=utf-8: <html><title>Free Wi-Fi/);
  // An action behind the portal may or may not have gone through: it is unsettled, and every
  // attempt carried the same key, so asking again later cannot act twice.
  const unsettled = await client.act("act_1", "draw").catch((e) => e);
  assert.ok(unsettled instanceof ActionUnsettledError);
  assert.equal(unsettled.cause.reason, "not_api_response");
  const keys = new Set(wx.calls.slice(1).map((c) => c.header["Idempotency-Key"]));
  assert.equal(wx.calls.length, 4);
  assert.deepEqual([...keys], [unsettled.idempotencyKey]);
});

test("a watch behind a portal keeps trying, and follows once the Wi-Fi lets it through", async () => {
  const portal = { statusCode: 200, header: { "content-type": "text/html" }, data: "<html>" };
  const wx = fakeWx((options, call) => (call < 2 ? portal : json(200, '{"v":1}', { ETag: '"a1"' })));
  const client = miniProgram(wx);
  const errors = [];
  const seen = [];
  const stop = client.watchActivity("act_1", (body) => { seen.push(body.v); stop(); }, {
    onError: (err, info) => errors.push([err.code, err.reason, info.willRetry]),
  });
  await stop.done;
  assert.deepEqual(errors, [["http_200", "not_api_response", true],
    ["http_200", "not_api_response", true]]);
  assert.deepEqual(seen, [1]);
});

test("onAppHide aborts the long poll quietly; onAppShow polls again with its ETag", async () => {
  const wx = fakeWx((options, call) => (call === 0 ? json(200, '{"v":1}', { ETag: '"a1"' })
    : undefined)); // then held, as the server holds a poll
  const client = miniProgram(wx);
  const errors = [];
  const stop = client.watchActivity("act_1", () => {}, { onError: (e) => errors.push(e) });
  await flush();
  await flush();
  assert.equal(wx.calls.length, 2); // the second poll is held
  wx.hide();
  await flush();
  assert.equal(wx.aborted, 1); // it does not hold one of WeChat's 10 connections meanwhile
  assert.equal(wx.calls.length, 2);
  wx.show();
  await flush();
  assert.equal(wx.calls.length, 3);
  assert.equal(wx.calls[2].header["If-None-Match"], '"a1"');
  assert.deepEqual(errors, []); // going to the background is no failure
  stop();
  await stop.done;
});

test("heartbeats pause in the background and do not beat twice on show", async () => {
  const wx = fakeWx(() => json(200, { credited: 15, interaction_seconds: 15, next_heartbeat: 15 }));
  const held = [];
  const clock = { t: 0 };
  const client = miniProgram(wx, {
    now: () => clock.t,
    sleep: (ms) => new Promise((resolve) => held.push({ ms, resolve })),
  });
  const beats = () => wx.calls.filter((c) => c.url.endsWith("/heartbeat")).length;
  const first = client.startHeartbeats("act_1", 15000);
  await settle();
  assert.equal(beats(), 1);
  wx.hide(); // the app goes into the background: nothing is sent there
  clock.t += 20000;
  held.shift().resolve();
  await settle();
  assert.equal(beats(), 1);
  wx.show(); // the app's show resumes the loop: one beat, the interval being over
  await settle();
  assert.equal(beats(), 2);
  // The page's onShow starts them again (it did not stop them in onHide), twice even: each
  // start takes the running loop over, and none beats before the interval.
  const second = client.startHeartbeats("act_1", 15000);
  const third = client.startHeartbeats("act_1", 15000);
  await settle();
  assert.equal(beats(), 2);
  clock.t += 15000;
  held.splice(0).forEach((sleep) => sleep.resolve());
  await settle();
  assert.equal(beats(), 3);
  for (const stop of [first, second, third]) stop();
  held.splice(0).forEach((sleep) => sleep.resolve());
  await third.done;
  assert.equal(beats(), 3);
  // Stopped in onHide and started in onShow, a page's loop beats at once: that is its show.
  const fourth = client.startHeartbeats("act_1", 15000);
  await settle();
  assert.equal(beats(), 4);
  fourth();
  await fourth.done;
});
