import assert from "node:assert/strict";
import { test } from "node:test";

import { MagicCubeClient, deviceId } from "../src/client.js";
import { makeClient, reply } from "./fakes.js";

const OK = reply(200, { ok: true, action: "help", seq: 1, room: "r1", result: {}, events: [] });
const SHARED = reply(200, { code: "Xk3v9QpL2mZa", url: "https://cube.test/j/Xk3v9QpL2mZa" });
const PATTERN = /^[A-Za-z0-9_-]{8,64}$/;
const device = (call) => call.headers["Magic-Cube-Device"];

function memoryStore(initial = null) {
  const store = { value: initial, get: () => store.value, set: (v) => { store.value = v; } };
  return store;
}

test("actions and share links carry one stable device id", async () => {
  const { client, request } = makeClient({ script: [OK, OK, SHARED] });
  await client.act("act_1", "help", { room: "r1" });
  await client.act("act_1", "help", { room: "r2" });
  await client.share("act_1", { room: "r1" });
  const ids = request.calls.map(device);
  assert.match(ids[0], PATTERN);
  assert.deepEqual(ids, [ids[0], ids[0], ids[0]]);
  // Another client on the same device (a page reloaded) sends the same id.
  const again = makeClient({ script: [OK] });
  await again.client.act("act_2", "draw");
  assert.equal(device(again.request.calls[0]), ids[0]);
});

test("a retried action sends the same device id with the same key", async () => {
  const { client, request } = makeClient({ script: [new TypeError("fetch failed"), OK] });
  await client.act("act_1", "help", { room: "r1" });
  assert.equal(request.calls.length, 2);
  assert.equal(device(request.calls[0]), device(request.calls[1]));
});

test("a mini-program passes its own device id", async () => {
  const { client, request } = makeClient({ script: [OK, SHARED], device: "wx_openid-hash_01" });
  await client.act("act_1", "draw");
  await client.share("act_1");
  assert.deepEqual(request.calls.map(device), ["wx_openid-hash_01", "wx_openid-hash_01"]);
  assert.equal(client.deviceId(), "wx_openid-hash_01");
});

test("a device id the server would refuse is refused at once", () => {
  for (const bad of ["short", "has space in it", "x".repeat(65), "semi;colon-1234"]) {
    assert.throws(() => new MagicCubeClient({ request: async () => OK, device: bad }), TypeError);
  }
});

test("deviceId keeps its id in storage and replaces a malformed one", () => {
  const store = memoryStore();
  const first = deviceId({ store });
  assert.match(first, PATTERN);
  assert.equal(store.value, first);
  assert.equal(deviceId({ store }), first);
  const broken = memoryStore("not valid!");
  const fresh = deviceId({ store: broken });
  assert.match(fresh, PATTERN);
  assert.equal(broken.value, fresh);
});

test("without working storage the id lives in memory for the page's life", () => {
  const failing = { get: () => { throw new Error("blocked"); }, set: () => { throw new Error("full"); } };
  const a = deviceId({ store: failing });
  assert.match(a, PATTERN);
  assert.equal(deviceId({ store: failing }), a);
  assert.equal(deviceId({ store: null }), a);
});
