import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, test } from "node:test";

import {
  MagicCubeClient, NetworkError, deviceId, fetchRequest, randomId, wxRequest,
} from "../src/client.js";
import { makeClient, reply } from "./fakes.js";

// fetchRequest against a real HTTP server on localhost.
let server;
let base;

before(async () => {
  server = createServer((req, res) => {
    if (req.url.startsWith("/slow")) return; // never answers
    if (req.url.startsWith("/v1/activities/portal")) { // a hotel Wi-Fi's login page
      res.writeHead(200, { "Content-Type": "text/html" });
      res.end("<!doctype html><title>Log in to the Wi-Fi</title>");
      return;
    }
    let body = "";
    req.on("data", (chunk) => { body += chunk; });
    req.on("end", () => {
      if (req.headers["if-none-match"] === '"a1"') {
        res.writeHead(304, { ETag: '"a1"' });
        res.end();
        return;
      }
      res.writeHead(429, { "Content-Type": "application/json", ETag: '"a1"', "Retry-After": "2" });
      res.end(JSON.stringify({ error: "rate_limited", message: "Slow down", status: 429,
        echo: { method: req.method, body, lang: req.headers["accept-language"] } }));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${server.address().port}`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

test("fetchRequest resolves any status with lowercase headers and the body text", async () => {
  const res = await fetchRequest({
    method: "POST", url: `${base}/x`, headers: { "Content-Type": "application/json" },
    body: '{"a":1}', timeoutMs: 5000,
  });
  assert.equal(res.status, 429);
  assert.equal(res.headers.etag, '"a1"');
  assert.equal(res.headers["retry-after"], "2");
  assert.equal(JSON.parse(res.body).echo.body, '{"a":1}');
});

test("fetchRequest gives a 304 with an empty body", async () => {
  const res = await fetchRequest({
    method: "GET", url: `${base}/x`, headers: { "If-None-Match": '"a1"' }, timeoutMs: 5000,
  });
  assert.equal(res.status, 304);
  assert.equal(res.body, "");
});

test("fetchRequest turns a timeout into a NetworkError", async () => {
  const err = await fetchRequest({ method: "GET", url: `${base}/slow`, headers: {}, timeoutMs: 50 })
    .catch((e) => e);
  assert.ok(err instanceof NetworkError);
  assert.equal(err.code, "network_error");
  assert.equal(err.status, 0);
  assert.match(err.message, /timed out after 50 ms/);
  assert.equal(err.reason, "timeout");
  assert.equal(err.detail, "timed out after 50 ms");
});

test("fetchRequest says aborted when its loop stops, other when the connection is refused",
  async () => {
    const controller = new AbortController();
    const pending = fetchRequest({ method: "GET", url: `${base}/slow`, headers: {},
      timeoutMs: 5000, signal: controller.signal });
    controller.abort();
    const aborted = await pending.catch((e) => e);
    assert.equal(aborted.reason, "aborted");
    const closed = createServer();
    await new Promise((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const { port } = closed.address();
    await new Promise((resolve) => closed.close(resolve));
    const refused = await fetchRequest({ method: "GET", url: `http://127.0.0.1:${port}/`,
      headers: {}, timeoutMs: 5000 }).catch((e) => e);
    assert.equal(refused.code, "network_error");
    assert.equal(refused.reason, "other");
    assert.match(refused.detail, /ECONNREFUSED/);
  });

test("fetchRequest tells offline and an unknown host apart", async () => {
  const saved = { fetch: globalThis.fetch, navigator: Object.getOwnPropertyDescriptor(globalThis,
    "navigator") };
  const failing = (cause) => async () => { throw new TypeError("fetch failed", { cause }); };
  try {
    globalThis.fetch = failing({ code: "ENOTFOUND", hostname: "cube.example.invalid" });
    const dns = await fetchRequest({ method: "GET", url: "https://cube.example.invalid/",
      headers: {} }).catch((e) => e);
    assert.equal(dns.reason, "dns");
    assert.equal(dns.detail, "fetch failed (ENOTFOUND)");
    // A browser says only "Failed to fetch"; navigator.onLine knows it is offline.
    globalThis.fetch = async () => { throw new TypeError("Failed to fetch"); };
    Object.defineProperty(globalThis, "navigator",
      { value: { onLine: false }, configurable: true, writable: true });
    const offline = await fetchRequest({ method: "GET", url: "/x", headers: {} }).catch((e) => e);
    assert.equal(offline.reason, "offline");
    globalThis.navigator.onLine = true;
    const unknown = await fetchRequest({ method: "GET", url: "/x", headers: {} }).catch((e) => e);
    assert.equal(unknown.reason, "other");
    assert.equal(unknown.detail, "Failed to fetch");
  } finally {
    globalThis.fetch = saved.fetch;
    delete globalThis.navigator;
    if (saved.navigator) Object.defineProperty(globalThis, "navigator", saved.navigator);
  }
});

test("a 200 page that is not the API's (a Wi-Fi login) is an error, not a parsing crash",
  async () => {
    const client = new MagicCubeClient({ baseUrl: base, request: fetchRequest, document: null });
    const err = await client.getActivity("portal").catch((e) => e);
    assert.equal(err.code, "http_200");
    assert.equal(err.status, 200);
    assert.equal(err.reason, "not_api_response");
    assert.equal(err.detail, "text/html: <!doctype html><title>Log in to the Wi-Fi</title>");
    assert.match(err.message, /not an answer of the API/);
  });

test("a 2xx CSV of the API is an answer, and a JSON refusal has no reason", async () => {
  const csv = { status: 200, headers: { "content-type": "text/csv; charset=utf-8" }, body: "a,b" };
  const { client } = makeClient({ script: [csv, reply(404, { error: "activity_not_found",
    message: "no", status: 404 })] });
  assert.equal(await client.get("/v1/merchant/campaigns/c1/stats.csv"), "a,b");
  const err = await client.get("/v1/activities/gone").catch((e) => e);
  assert.equal(err.code, "activity_not_found");
  assert.equal(err.reason, null);
  assert.equal(err.detail, null);
});

test("the client over fetch parses errors and their Retry-After", async () => {
  const client = new MagicCubeClient({ baseUrl: base + "/", request: fetchRequest, lang: "zh" });
  const err = await client.share("act_1", { room: "r1" }).catch((e) => e);
  assert.equal(err.code, "rate_limited");
  assert.equal(err.message, "Slow down");
  assert.equal(err.retryAfter, 2);
});

test("a body that is not JSON gives an http_<status> code", async () => {
  const { client } = makeClient({ script: [{ status: 502, headers: {}, body: "<html>" }] });
  await assert.rejects(client.get("/v1/activities/a"),
    { code: "http_502", status: 502, reason: "not_api_response", detail: "no content type: <html>" });
});

test("share and guest call their endpoints; guest needs no token", async () => {
  const asked = [];
  const { client, request } = makeClient({
    script: [
      reply(200, { url: "https://cube.test/s/Ab3", code: "Ab3" }),
      reply(201, { token: "t1", participant: "g_1", expires_at: "2026-11-12T02:00:00Z" }),
      reply(200, { url: "https://cube.test/s/Xy9", code: "Xy9" }),
    ],
    getToken: async () => { asked.push(1); return "tok"; },
  });
  assert.deepEqual(await client.share("act_1", { room: "r1" }),
    { url: "https://cube.test/s/Ab3", code: "Ab3" });
  const guest = await client.guest("act_1", "小明");
  assert.equal(guest.token, "t1");
  await client.share("act_1");
  const [share, guestCall, plain] = request.calls;
  assert.equal(share.url, "https://cube.test/v1/activities/act_1/share");
  assert.deepEqual(JSON.parse(share.body), { room: "r1" });
  assert.equal(share.headers.Authorization, "Bearer tok");
  assert.equal(guestCall.url, "https://cube.test/v1/activities/act_1/guest");
  assert.deepEqual(JSON.parse(guestCall.body), { nickname: "小明" });
  assert.equal(guestCall.headers.Authorization, undefined);
  assert.deepEqual(JSON.parse(plain.body), {});
  assert.equal(asked.length, 2);
});

test("ids in paths are escaped", async () => {
  const { client, request } = makeClient({ script: [reply(200, {})] });
  await client.act("act/1", "a b");
  assert.equal(request.calls[0].url, "https://cube.test/v1/activities/act%2F1/actions/a%20b");
});

// wx.request, faked: it calls back with statusCode, header (server case) and data.
function fakeWx(result) {
  const wx = { calls: [] };
  wx.request = (options) => {
    wx.calls.push(options);
    setImmediate(() => (result.fail ? options.fail(result.fail) : options.success(result)));
    return { abort: () => { wx.aborted = true; } };
  };
  return wx;
}

test("wxRequest wraps wx.request in a promise with lowercase headers and text bodies", async () => {
  const wx = fakeWx({ statusCode: 200, header: { ETag: '"r3"', "Content-Type": "x" }, data: "{}" });
  const res = await wxRequest(wx)({
    method: "POST", url: "https://cube.test/a", headers: { A: "1" }, body: "{}", timeoutMs: 9000,
  });
  const headers = { etag: '"r3"', "content-type": "x" };
  assert.deepEqual(res, { status: 200, headers, body: "{}" });
  const [options] = wx.calls;
  assert.equal(options.method, "POST");
  assert.deepEqual(options.header, { A: "1" });
  assert.equal(options.data, "{}");
  assert.equal(options.timeout, 9000);
  assert.notEqual(options.dataType, "json"); // wx must not parse: a 304 has no body
});

test("wxRequest turns a failed wx.request into a NetworkError", async () => {
  const wx = fakeWx({ fail: { errMsg: "request:fail timeout" } });
  const err = await wxRequest(wx)({ method: "GET", url: "u", headers: {} }).catch((e) => e);
  assert.ok(err instanceof NetworkError);
  assert.match(err.message, /request:fail timeout/);
});

test("the client over wxRequest reads ETags whatever their case", async () => {
  const wx = fakeWx({ statusCode: 200, header: { Etag: '"m1"' }, data: '{"view":{}}' });
  const client = new MagicCubeClient({ request: wxRequest(wx), document: null });
  const seen = [];
  const stop = client.watchMe("act_1", (body, { etag }) => { seen.push(etag); stop(); });
  await stop.done;
  assert.deepEqual(seen, ['"m1"']);
});

test("randomId makes v4 UUIDs, with or without crypto.randomUUID", () => {
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  assert.match(randomId(), uuid);
  const saved = Object.getOwnPropertyDescriptor(globalThis, "crypto");
  try {
    Object.defineProperty(globalThis, "crypto", { value: undefined, configurable: true });
    const ids = new Set(Array.from({ length: 50 }, randomId));
    assert.equal(ids.size, 50);
    for (const id of ids) assert.match(id, uuid);
  } finally {
    if (saved) Object.defineProperty(globalThis, "crypto", saved);
    else delete globalThis.crypto; // Node 18 has no global crypto
  }
});

test("deviceId keeps one id in storage", () => {
  const kept = new Map();
  const store = { get: () => kept.get("id") || "", set: (v) => kept.set("id", v) };
  const first = deviceId({ store });
  assert.equal(deviceId({ store }), first);
  assert.equal(kept.get("id"), first);
  const broken = { get: () => { throw new Error("denied"); }, set: () => { throw new Error(); } };
  assert.equal(deviceId({ store: broken }), deviceId({ store: broken })); // memory, per load
});
