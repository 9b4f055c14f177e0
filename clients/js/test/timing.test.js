import assert from "node:assert/strict";
import { test } from "node:test";

import { STOPPED, createStopper, whenVisible } from "../src/timing.js";

/** An abort signal that counts its listeners. */
function countingSignal() {
  const listeners = new Set();
  return {
    listeners,
    aborted: false,
    addEventListener: (type, fn) => listeners.add(fn),
    removeEventListener: (type, fn) => listeners.delete(fn),
    abort() { this.aborted = true; for (const fn of [...listeners]) fn(); },
  };
}

function stopperWith(signal) {
  const stopper = createStopper();
  stopper.controller = { signal, abort: () => signal.abort() };
  return stopper;
}

test("a loop's waits leave nothing behind on its stop switch once they are over", async () => {
  const signal = countingSignal();
  const stopper = stopperWith(signal);
  for (let i = 0; i < 100; i += 1) {
    assert.equal(await stopper.until(Promise.resolve(i)), i);
  }
  await assert.rejects(stopper.until(Promise.reject(new Error("boom"))), /boom/);
  assert.equal(signal.listeners.size, 0);
});

test("a wait ends with STOPPED when the loop is stopped, and at once once it is", async () => {
  const signal = countingSignal();
  const stopper = stopperWith(signal);
  const waiting = stopper.until(new Promise(() => {}));
  stopper.stop();
  assert.equal(await waiting, STOPPED);
  assert.equal(await stopper.until(Promise.resolve("late")), STOPPED);
});

test("a page hidden and shown many times keeps no listener per hide", async () => {
  const signal = countingSignal();
  const stopper = stopperWith(signal);
  const listeners = new Set();
  const doc = {
    hidden: true,
    addEventListener: (type, fn) => listeners.add(fn),
    removeEventListener: (type, fn) => listeners.delete(fn),
  };
  for (let i = 0; i < 50; i += 1) {
    doc.hidden = true;
    const visible = whenVisible(doc, stopper);
    doc.hidden = false;
    for (const fn of [...listeners]) fn();
    await visible;
  }
  assert.equal(listeners.size, 0);
  assert.equal(signal.listeners.size, 0);
  doc.hidden = true;
  const stopped = whenVisible(doc, stopper);
  stopper.stop();
  await stopped; // a stop ends the wait for the page to come back
  assert.equal(listeners.size, 0);
});
