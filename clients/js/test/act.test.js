import assert from "node:assert/strict";
import { test } from "node:test";

import {
  ActionUnsettledError, MagicCubeClient, MagicCubeError, NetworkError, createClient,
} from "../src/client.js";
import { apiError, makeClient, reply } from "./fakes.js";

const OK = reply(200, {
  ok: true, action: "help", seq: 2, room: "r1", result: { cut: 3225 }, events: ["bargain.cut"],
});

const keys = (request) => request.calls.map((c) => c.headers["Idempotency-Key"]);

test("act posts the room and params with an Idempotency-Key and returns the answer", async () => {
  const { client, request } = makeClient({ script: [OK], getToken: async () => "tok" });
  const answer = await client.act("act_1", "send", { params: { shares: 3 }, room: "r1" });
  assert.equal(answer.result.cut, 3225);
  const [call] = request.calls;
  assert.equal(call.method, "POST");
  assert.equal(call.url, "https://cube.test/v1/activities/act_1/actions/send");
  assert.deepEqual(JSON.parse(call.body), { room: "r1", params: { shares: 3 } });
  assert.equal(call.headers["Content-Type"], "application/json");
  assert.equal(call.headers.Authorization, "Bearer tok");
  assert.match(call.headers["Idempotency-Key"], /^[0-9a-f-]{36}$/);
});

test("act sends the share code that brought the device as via", async () => {
  const { client, request } = makeClient({ script: [OK] });
  await client.act("act_1", "help", { room: "r1", via: "Xk3v9QpL2mZa" });
  assert.deepEqual(JSON.parse(request.calls[0].body), { room: "r1", via: "Xk3v9QpL2mZa" });
});

test("every act call is a new logical action with a new key", async () => {
  const { client, request } = makeClient({ script: [OK, OK] });
  await client.act("act_1", "draw");
  await client.act("act_1", "draw");
  assert.notEqual(keys(request)[0], keys(request)[1]);
  assert.equal(request.calls[0].body, "{}");
});

test("the same key is sent again after a network failure", async () => {
  const { client, request } = makeClient({ script: [new TypeError("fetch failed"), OK] });
  const answer = await client.act("act_1", "help", { room: "r1" });
  assert.equal(answer.ok, true);
  assert.equal(request.calls.length, 2);
  assert.equal(keys(request)[0], keys(request)[1]);
  assert.equal(request.calls[0].body, request.calls[1].body);
});

test("the same key is sent again after a 503, after a backoff", async () => {
  const { client, request, clock } = makeClient({ script: [apiError(503, "unavailable"), OK] });
  await client.act("act_1", "help", { room: "r1" });
  assert.equal(keys(request)[0], keys(request)[1]);
  assert.deepEqual(clock.sleeps, [1000]);
});

test("in flight, conflict and rate_limited are retried with the same key", async () => {
  const { client, request, clock } = makeClient({
    script: [
      apiError(409, "idempotency_in_flight"),
      apiError(409, "conflict"),
      apiError(429, "rate_limited", { headers: { "Retry-After": "3" } }),
      OK,
    ],
  });
  await client.act("act_1", "draw");
  assert.equal(new Set(keys(request)).size, 1);
  assert.deepEqual(clock.sleeps, [1000, 2000, 3000]);
});

test("onRetry hears about each retry", async () => {
  const { client } = makeClient({ script: [new TypeError("offline"), apiError(503, "x"), OK] });
  const heard = [];
  await client.act("act_1", "draw", { onRetry: (err, info) => heard.push([err.code, info]) });
  assert.deepEqual(heard, [
    ["network_error", { attempt: 1, delayMs: 1000 }],
    ["x", { attempt: 2, delayMs: 2000 }],
  ]);
});

test("a 4xx refusal ends the retries with a typed error", async () => {
  const { client, request } = makeClient({
    script: [new TypeError("offline"), apiError(409, "group_full"), OK],
  });
  const err = await client.act("act_1", "join", { room: "r1" }).catch((e) => e);
  assert.ok(err instanceof MagicCubeError);
  assert.equal(err.code, "group_full");
  assert.equal(err.status, 409);
  assert.equal(err.message, "group full");
  assert.equal(err.idempotencyKey, keys(request)[0]);
  assert.equal(request.calls.length, 2);
});

test("a template's own 429 is an answer, not a busy signal", async () => {
  const { client, request } = makeClient({ script: [apiError(429, "help_limit"), OK] });
  const err = await client.act("act_1", "help", { room: "r1" }).catch((e) => e);
  assert.equal(err.code, "help_limit");
  assert.equal(request.calls.length, 1);
});

test("after the last attempt an unknown outcome throws ActionUnsettledError", async () => {
  const script = Array.from({ length: 9 }, () => apiError(503, "unavailable"));
  const { client, request } = makeClient({ script, maxActionAttempts: 4 });
  const err = await client.act("act_1", "draw").catch((e) => e);
  assert.ok(err instanceof ActionUnsettledError);
  assert.ok(err instanceof MagicCubeError);
  assert.equal(err.code, "action_unsettled");
  assert.equal(err.attempts, 4);
  assert.equal(err.idempotencyKey, keys(request)[0]);
  assert.equal(err.cause.code, "unavailable");
  assert.equal(request.calls.length, 4);
});

test("retries stop when the next wait would pass maxActionMs", async () => {
  const script = Array.from({ length: 9 }, () => new TypeError("offline"));
  const { client, request, clock } = makeClient({ script, maxActionMs: 5000 });
  const err = await client.act("act_1", "draw").catch((e) => e);
  assert.ok(err instanceof ActionUnsettledError);
  assert.ok(err.cause instanceof NetworkError);
  assert.deepEqual(clock.sleeps, [1000, 2000]); // the next 4 s would end after 7 s
  assert.equal(request.calls.length, 3);
});

test("when every attempt was turned away before running, the last refusal is thrown", async () => {
  const script = Array.from({ length: 5 }, () => apiError(429, "rate_limited"));
  const { client } = makeClient({ script, maxActionAttempts: 2 });
  const err = await client.act("act_1", "draw").catch((e) => e);
  assert.equal(err.code, "rate_limited");
  assert.ok(!(err instanceof ActionUnsettledError));
});

test("an unsettled action is resumed with its key", async () => {
  const { client, request } = makeClient({ script: [OK] });
  await client.act("act_1", "draw", { idempotencyKey: "k-123" });
  assert.deepEqual(keys(request), ["k-123"]);
});

test("on 401 token_expired the token is refreshed once and the request sent again", async () => {
  const asked = [];
  let current = "old";
  const getToken = async (opts) => {
    asked.push(opts);
    if (opts.refresh) current = "new";
    return current;
  };
  const script = [apiError(401, "token_expired"), OK];
  const { client, request } = makeClient({ script, getToken });
  await client.act("act_1", "draw");
  assert.deepEqual(asked, [{ refresh: false }, { refresh: true }]);
  assert.deepEqual(request.calls.map((c) => c.headers.Authorization), ["Bearer old", "Bearer new"]);
  assert.equal(keys(request)[0], keys(request)[1]);
});

test("a second 401 is thrown, not refreshed again", async () => {
  const asked = [];
  const getToken = async (opts) => { asked.push(opts.refresh); return "t"; };
  const { client, request } = makeClient({
    script: [apiError(401, "invalid_token"), apiError(401, "invalid_token"), OK], getToken,
  });
  const err = await client.heartbeat("act_1").catch((e) => e);
  assert.equal(err.code, "invalid_token");
  assert.deepEqual(asked, [false, true]);
  assert.equal(request.calls.length, 2);
});

test("requests that meet an expired token together share one refresh", async () => {
  let refreshes = 0;
  const getToken = async ({ refresh }) => (refresh ? `new${++refreshes}` : "old");
  const { client } = makeClient({
    script: [
      apiError(401, "token_expired"), apiError(401, "token_expired"),
      reply(200, { credited: 15 }), reply(200, { credited: 15 }),
    ],
    getToken,
  });
  await Promise.all([client.heartbeat("act_1"), client.heartbeat("act_1")]);
  assert.equal(refreshes, 1);
});

test("other 401s do not ask for a new token", async () => {
  const asked = [];
  const getToken = async (opts) => { asked.push(opts.refresh); return "t"; };
  const { client } = makeClient({ script: [apiError(401, "unauthorized")], getToken });
  await assert.rejects(client.heartbeat("act_1"), { code: "unauthorized" });
  assert.deepEqual(asked, [false]);
});

test("createClient is the constructor as a function", () => {
  assert.ok(createClient({ request: async () => reply(200, {}) }) instanceof MagicCubeClient);
});

test("an answer replayed for the key says so, a success or a refusal", async () => {
  const replayed = { "Idempotent-Replayed": "true" };
  const stored = reply(200, { ok: true, action: "draw", seq: 7, room: null, result: {}, events: [] },
    replayed);
  const { client } = makeClient({ script: [new TypeError("fetch failed"), stored, OK] });
  assert.equal((await client.act("act_1", "draw")).replayed, true);
  assert.equal("replayed" in (await client.act("act_1", "draw")), false);
  const refused = { ...apiError(409, "already_helped"), headers: replayed };
  const again = makeClient({ script: [refused] });
  await assert.rejects(again.client.act("act_1", "help", { room: "r1" }),
    (err) => err.code === "already_helped" && err.replayed === true);
});
