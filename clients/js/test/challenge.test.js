import assert from "node:assert/strict";
import { createHash, randomBytes, randomInt } from "node:crypto";
import { test } from "node:test";

import { MagicCubeError, encodeSolution, solveChallenge } from "../src/client.js";
import { prefixHasher } from "../src/challenge.js";
import { apiError, makeClient, reply } from "./fakes.js";

const OK = reply(200, { ok: true, action: "draw", seq: 7, room: null, result: {}, events: [] });

/** A challenge made the way the server's ALTCHA library makes one. */
function makeChallenge({ maxnumber = 50000, number = randomInt(maxnumber + 1) } = {}) {
  const salt = `${randomBytes(12).toString("hex")}?expires=1794456000&for=abc&`;
  const challenge = createHash("sha256").update(salt + number).digest("hex");
  return { algorithm: "SHA-256", challenge, maxnumber, salt, signature: "f".repeat(64), number };
}

const decode = (value) => JSON.parse(Buffer.from(value, "base64").toString("utf8"));
const required = (challenge) => apiError(428, "challenge_required", { body: { challenge } });

test("solveChallenge finds the number (plain-JS SHA-256)", async () => {
  const made = makeChallenge({ number: 31337 });
  const found = await solveChallenge(made);
  assert.equal(found.number, 31337);
  assert.equal(found.tried, 31338);
});

test("the plain-JS SHA-256 agrees with node's crypto at every length", () => {
  for (let length = 0; length < 300; length += 1) {
    const text = "salt?expires=1&".repeat(20).slice(0, length);
    const words = prefixHasher(text)("");
    const hex = Array.from(words, (v) => (v >>> 0).toString(16).padStart(8, "0")).join("");
    assert.equal(hex, createHash("sha256").update(text).digest("hex"));
  }
});

test("solveChallenge finds the number past a salt of any length", async () => {
  for (const length of [0, 50, 55, 56, 63, 64, 100, 119, 120, 200]) {
    const salt = "s".repeat(length);
    const number = 1234;
    const challenge = createHash("sha256").update(salt + number).digest("hex");
    const found = await solveChallenge({ algorithm: "SHA-256", challenge, maxnumber: 2000, salt });
    assert.equal(found && found.number, number, `salt of ${length}`);
  }
});

test("the worst case at the default difficulty takes well under a second", async () => {
  const made = makeChallenge({ number: 50000 });
  const started = performance.now();
  const found = await solveChallenge(made);
  const ms = performance.now() - started;
  assert.equal(found.number, 50000);
  assert.ok(ms < 1000, `took ${ms} ms`);
});

test("a challenge with no answer in range resolves null", async () => {
  const made = makeChallenge({ maxnumber: 100, number: 101 });
  assert.equal(await solveChallenge(made), null);
});

test("encodeSolution is ALTCHA's base64 JSON payload", () => {
  const made = makeChallenge({ number: 12 });
  const value = encodeSolution(made, 12);
  assert.equal(value, Buffer.from(JSON.stringify({
    algorithm: "SHA-256", challenge: made.challenge, number: 12, salt: made.salt,
    signature: made.signature,
  })).toString("base64"));
});

test("act solves a challenge and sends the action again with the solution", async () => {
  const made = makeChallenge({ maxnumber: 3000 });
  const { client, request, clock } = makeClient({ script: [required(made), OK] });
  const heard = [];
  const answer = await client.act("act_1", "draw", { onChallenge: (info) => heard.push(info) });
  assert.equal(answer.seq, 7);
  const [first, second] = request.calls;
  assert.equal(first.headers["Magic-Cube-Challenge"], undefined);
  assert.equal(second.headers["Idempotency-Key"], first.headers["Idempotency-Key"]);
  const sent = decode(second.headers["Magic-Cube-Challenge"]);
  assert.equal(sent.number, made.number);
  assert.equal(sent.signature, made.signature);
  assert.equal(sent.salt, made.salt);
  assert.equal(heard[0].state, "solving");
  assert.equal(heard.at(-1).state, "solved");
  assert.deepEqual(clock.sleeps, []); // no backoff: nothing failed
});

test("the solution rides on a retry after a lost answer, with the same key", async () => {
  const made = makeChallenge({ maxnumber: 1000 });
  const { client, request } = makeClient({
    script: [required(made), new TypeError("fetch failed"), OK],
  });
  await client.act("act_1", "draw");
  const [, second, third] = request.calls;
  assert.equal(third.headers["Magic-Cube-Challenge"], second.headers["Magic-Cube-Challenge"]);
  assert.equal(third.headers["Idempotency-Key"], second.headers["Idempotency-Key"]);
});

test("a server that keeps asking gets two solutions, then the refusal is thrown", async () => {
  const { client, request } = makeClient({
    script: [1, 2, 3].map(() => required(makeChallenge({ maxnumber: 500 }))),
  });
  await assert.rejects(client.act("act_1", "draw"), (err) => {
    assert.ok(err instanceof MagicCubeError);
    assert.equal(err.code, "challenge_required");
    assert.equal(err.status, 428);
    return true;
  });
  assert.equal(request.calls.length, 3);
});

test("an unsolvable challenge is thrown as the refusal, not sent", async () => {
  const { client, request } = makeClient({
    script: [required(makeChallenge({ maxnumber: 50, number: 51 }))],
  });
  await assert.rejects(client.act("act_1", "draw"), { code: "challenge_required" });
  assert.equal(request.calls.length, 1);
});

test("challenge_invalid and challenge_reused are answers, not retried", async () => {
  for (const code of ["challenge_invalid", "challenge_reused"]) {
    const { client, request } = makeClient({ script: [apiError(403, code)] });
    await assert.rejects(client.act("act_1", "draw"), { code });
    assert.equal(request.calls.length, 1);
  }
});
