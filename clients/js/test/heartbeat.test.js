import assert from "node:assert/strict";
import { test } from "node:test";

import { apiError, fakeDocument, fakeRequest, flush, makeClient, reply } from "./fakes.js";

const BEAT = reply(200, { credited: 15, interaction_seconds: 15, next_heartbeat: 15 });

/** A sleep that waits until the test lets it go, so the test decides when time passes. */
function heldSleep() {
  const held = [];
  const sleep = (ms) => new Promise((resolve) => held.push({ ms, resolve }));
  return { held, sleep, release: () => held.shift().resolve() };
}

test("heartbeat posts to the activity and returns the answer", async () => {
  const { client, request } = makeClient({ script: [BEAT], getToken: async () => "tok" });
  const answer = await client.heartbeat("act_1");
  assert.equal(answer.next_heartbeat, 15);
  assert.equal(request.calls[0].method, "POST");
  assert.equal(request.calls[0].url, "https://cube.test/v1/activities/act_1/heartbeat");
  assert.equal(request.calls[0].body, undefined);
});

test("heartbeats follow the server's next_heartbeat", async () => {
  const beat = (next) => reply(200, { credited: 0, interaction_seconds: 0, next_heartbeat: next });
  const { client, clock } = makeClient({ script: [beat(20), beat(30)] });
  const stop = client.startHeartbeats("act_1", 5000);
  await flush();
  stop();
  assert.deepEqual(clock.sleeps.slice(0, 2), [20000, 30000]);
});

test("heartbeats pause while the page is hidden and resume when it shows", async () => {
  const doc = fakeDocument();
  const { held, sleep, release } = heldSleep();
  const script = Array.from({ length: 5 }, () => BEAT);
  const { client, request } = makeClient({ script, sleep, document: doc });
  const beats = [];
  const stop = client.startHeartbeats("act_1", 15000, { onBeat: (b) => beats.push(b) });
  await flush();
  assert.equal(request.calls.length, 1); // one at once
  assert.equal(held[0].ms, 15000);

  doc.setHidden(true);
  release();
  await flush();
  // The interval has passed, but a hidden page sends nothing: the loop waits for the page,
  // not for a timer.
  assert.equal(request.calls.length, 1);
  assert.equal(held.length, 0);

  doc.setHidden(false); // back: one beat at once, then the interval again
  await flush();
  assert.equal(request.calls.length, 2);
  assert.equal(held.length, 1);
  assert.equal(beats.length, 2);
  stop();
  await stop.done;
  assert.equal(doc.listenerCount(), 0);
});

test("stopping heartbeats while hidden ends the loop", async () => {
  const doc = fakeDocument();
  doc.hidden = true;
  const { client, request } = makeClient({ script: [BEAT], document: doc });
  const stop = client.startHeartbeats("act_1");
  await flush();
  stop();
  await stop.done;
  assert.equal(request.calls.length, 0);
  assert.equal(doc.listenerCount(), 0);
});

test("heartbeats keep going through failures and honour Retry-After", async () => {
  const { client, clock } = makeClient({
    script: [
      new TypeError("offline"),
      apiError(429, "rate_limited", { headers: { "retry-after": "40" } }),
      BEAT,
    ],
  });
  const errors = [];
  const stop = client.startHeartbeats("act_1", 15000, { onError: (e) => errors.push(e.code) });
  await flush();
  stop();
  assert.deepEqual(errors, ["network_error", "rate_limited"]);
  assert.deepEqual(clock.sleeps.slice(0, 3), [15000, 40000, 15000]);
});

test("heartbeats stop on a definite refusal", async () => {
  const request = fakeRequest([apiError(404, "activity_not_found"), BEAT]);
  const { client } = makeClient({ request });
  const errors = [];
  const stop = client.startHeartbeats("act_1", 15000, {
    onError: (e, info) => errors.push([e.code, info.willRetry]),
  });
  await stop.done;
  assert.deepEqual(errors, [["activity_not_found", false]]);
  assert.equal(request.calls.length, 1);
});

test("an onBeat that throws is reported and the beats go on", async () => {
  const { client, request } = makeClient({ script: [BEAT, BEAT] });
  const errors = [];
  const stop = client.startHeartbeats("act_1", 15000, {
    onBeat: () => { throw new Error("render failed"); },
    onError: (e, info) => errors.push([e.message, info.willRetry]),
  });
  await flush();
  stop();
  assert.deepEqual(errors, [["render failed", true], ["render failed", true]]);
  assert.equal(request.calls.length, 3);
});
