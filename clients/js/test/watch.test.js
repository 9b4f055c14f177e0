import assert from "node:assert/strict";
import { test } from "node:test";

import { MagicCubeError } from "../src/client.js";
import { apiError, fakeClock, fakeDocument, flush, makeClient, reply } from "./fakes.js";

const ACTIVITY = "/v1/activities/act_1";

function collect() {
  const seen = [];
  return { seen, onChange: (body, info) => seen.push([body, info.etag]) };
}

test("watch sends the last ETag back and treats 304 as no change", async () => {
  const { client, request } = makeClient({
    script: [
      reply(200, { v: 1 }, { etag: '"a1"' }),
      reply(304, undefined, { etag: '"a1"' }),
      reply(200, { v: 2 }, { etag: '"a2"' }),
    ],
  });
  const { seen, onChange } = collect();
  const stop = client.watch(ACTIVITY, onChange);
  await flush();
  stop();
  await stop.done;

  assert.deepEqual(seen, [[{ v: 1 }, '"a1"'], [{ v: 2 }, '"a2"']]);
  const sent = request.calls.map((c) => c.headers["If-None-Match"]);
  assert.deepEqual(sent, [undefined, '"a1"', '"a1"', '"a2"']);
  assert.equal(request.calls[0].method, "GET");
  assert.equal(request.calls[0].url, "https://cube.test/v1/activities/act_1?wait=25");
});

test("watch long-polls `wait` seconds, at most 25, with room in the timeout", async () => {
  for (const [wait, sent] of [[10, 10], [60, 25], [0, 0], [undefined, 25]]) {
    const { client, request } = makeClient({ script: [] });
    const stop = client.watch(ACTIVITY, () => {}, { wait });
    await flush();
    stop();
    assert.match(request.calls[0].url, new RegExp(`\\?wait=${sent}$`));
    assert.equal(request.calls[0].timeoutMs, (sent + 10) * 1000);
  }
});

test("a 304 that comes back at once waits out the minimum poll interval", async () => {
  const { client, clock } = makeClient({ script: [reply(304), reply(304)] });
  const stop = client.watch(ACTIVITY, () => {}, { wait: 0 });
  await flush();
  stop();
  assert.deepEqual(clock.sleeps, [1000, 1000]);
});

test("watch honours Retry-After on 429", async () => {
  const { client, clock } = makeClient({
    script: [
      apiError(429, "rate_limited", { headers: { "retry-after": "7" } }),
      reply(200, { v: 1 }, { etag: '"a1"' }),
    ],
  });
  const { seen, onChange } = collect();
  const errors = [];
  const stop = client.watch(ACTIVITY, onChange, { onError: (e, i) => errors.push([e, i]) });
  await flush();
  stop();
  assert.deepEqual(clock.sleeps, [7000]);
  assert.equal(seen.length, 1);
  assert.equal(errors[0][0].code, "rate_limited");
  assert.equal(errors[0][0].retryAfter, 7);
  assert.deepEqual(errors[0][1], { willRetry: true });
});

test("watch backs off exponentially on 5xx and network errors, and resets on success", async () => {
  const { client, clock } = makeClient({
    script: [
      apiError(503, "unavailable"),
      new TypeError("fetch failed"),
      reply(502, "<html>bad gateway</html>"),
      reply(200, { v: 1 }, { etag: '"a1"' }),
      apiError(500, "internal_error"),
    ],
    random: () => 0.5,
  });
  const stop = client.watch(ACTIVITY, () => {}, { onError: () => {} });
  await flush();
  stop();
  // 1 s, 2 s, 4 s, each plus a quarter (jitter of half the delay times 0.5); then 1 s again.
  assert.deepEqual(clock.sleeps, [1250, 2500, 5000, 1250]);
});

test("the backoff stops growing at 30 s", async () => {
  const script = Array.from({ length: 8 }, () => apiError(503, "unavailable"));
  const { client, clock } = makeClient({ script });
  const stop = client.watch(ACTIVITY, () => {}, { onError: () => {} });
  await flush();
  stop();
  assert.deepEqual(clock.sleeps, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
});

test("a 404 ends the watch and reports why", async () => {
  const { client, request } = makeClient({ script: [apiError(404, "room_not_found")] });
  const errors = [];
  const stop = client.watchRoom("act_1", "r1", () => {}, {
    onError: (e, info) => errors.push([e.code, e.status, info.willRetry]),
  });
  await stop.done;
  assert.deepEqual(errors, [["room_not_found", 404, false]]);
  assert.equal(request.calls.length, 1);
  assert.equal(request.calls[0].url, "https://cube.test/v1/activities/act_1/rooms/r1?wait=25");
});

test("the public view goes without a token; a room and /me carry one", async () => {
  const asked = [];
  const getToken = async (opts) => { asked.push(opts); return "tok"; };
  const { client, request } = makeClient({ script: [], getToken });
  const stops = [
    client.watchActivity("act_1", () => {}),
    client.watchRoom("act_1", "r1", () => {}),
    client.watchMe("act_1", () => {}),
  ];
  await flush();
  stops.forEach((stop) => stop());
  const auth = request.calls.map((c) => [c.url.split("?")[0], c.headers.Authorization]);
  assert.deepEqual(auth, [
    ["https://cube.test/v1/activities/act_1", undefined],
    ["https://cube.test/v1/activities/act_1/rooms/r1", "Bearer tok"],
    ["https://cube.test/v1/activities/act_1/me", "Bearer tok"],
  ]);
  assert.deepEqual(asked, [{ refresh: false }, { refresh: false }]);
});

test("stop() ends a watch that is waiting on a long poll", async () => {
  const { client, request } = makeClient({ script: [] });
  const stop = client.watch(ACTIVITY, () => {});
  await flush();
  assert.equal(request.calls.length, 1);
  stop();
  await stop.done; // settles although the request never answers
  assert.equal(request.calls[0].signal.aborted, true);
});

test("watch pauses while the page is hidden and polls again when it shows", async () => {
  const doc = fakeDocument();
  doc.hidden = true;
  const { client, request } = makeClient({ script: [], document: doc });
  const stop = client.watch(ACTIVITY, () => {});
  await flush();
  assert.equal(request.calls.length, 0);
  doc.setHidden(false);
  await flush();
  assert.equal(request.calls.length, 1);
  stop();
  await stop.done;
  assert.equal(doc.listenerCount(), 0);
});

test("an onChange that throws is reported and the watch goes on", async () => {
  const { client, request } = makeClient({
    script: [reply(200, { v: 1 }, { etag: '"a1"' }), reply(200, { v: 2 }, { etag: '"a2"' })],
  });
  const errors = [];
  const stop = client.watch(ACTIVITY, () => { throw new Error("render failed"); }, {
    onError: (e) => errors.push(e.message),
  });
  await flush();
  stop();
  assert.deepEqual(errors, ["render failed", "render failed"]);
  assert.equal(request.calls.length, 3);
});

test("errors keep the server's code, message, status and details", async () => {
  const body = {
    error: "activity_not_live", message: "The activity is paused", status: 409,
    errors: { status: [{ code: "paused", message: "The activity is paused" }] },
  };
  const { client } = makeClient({ script: [reply(409, body)], clock: fakeClock() });
  const err = await client.get("/v1/activities/act_1/me").catch((e) => e);
  assert.ok(err instanceof MagicCubeError);
  assert.equal(err.code, "activity_not_live");
  assert.equal(err.message, "The activity is paused");
  assert.equal(err.status, 409);
  assert.deepEqual(err.errors, body.errors);
  assert.equal(err.retryAfter, null);
});

test("going hidden aborts the long poll without an error; showing polls again with its ETag",
  async () => {
    const doc = fakeDocument();
    const { client, request } = makeClient({
      script: [reply(200, { v: 1 }, { etag: '"a1"' })], document: doc, // then held
    });
    const errors = [];
    const seen = [];
    const stop = client.watch(ACTIVITY, (body) => seen.push(body.v), {
      onError: (err) => errors.push(err),
    });
    await flush();
    assert.equal(request.calls.length, 2);
    doc.setHidden(true); // visibilitychange: the tab went into the background
    await flush();
    assert.equal(request.calls[1].signal.aborted, true);
    assert.equal(request.calls.length, 2); // and nothing while hidden
    doc.setHidden(false);
    await flush();
    assert.equal(request.calls.length, 3);
    assert.equal(request.calls[2].headers["If-None-Match"], '"a1"');
    assert.equal(request.calls[2].signal.aborted, false);
    assert.deepEqual(seen, [1]);
    assert.deepEqual(errors, []);
    stop();
    await stop.done;
    assert.equal(doc.listenerCount(), 0);
  });

test("a poll that fails because the page went hidden is no failure and adds no backoff",
  async () => {
    const doc = fakeDocument();
    const cut = (req) => new Promise((resolve, reject) => {
      // A platform that cuts requests in the background itself, before it tells the page.
      doc.hidden = true;
      reject(new TypeError("request:fail interrupted"));
    });
    const { client, request, clock } = makeClient({
      script: [cut, reply(200, { v: 1 }, { etag: '"a1"' })], document: doc,
    });
    const errors = [];
    const stop = client.watch(ACTIVITY, () => stop(), { onError: (err) => errors.push(err) });
    await flush();
    doc.setHidden(false);
    await stop.done;
    assert.equal(request.calls.length, 2);
    assert.deepEqual(errors, []);
    assert.deepEqual(clock.sleeps, []);
  });
