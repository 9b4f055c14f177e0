import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  ALLOWED_OPERATORS, JsonLogicError, MAX_DEPTH, MAX_NODES, ThrownError, apply, canAct, compileRule,
  truthy,
} from "../src/jsonlogic.js";

// The official suite (jsonlogic.com/tests.json), the same file the server's tests run.
const SUITE = new URL("../../../tests/conformance/jsonlogic/tests.json", import.meta.url);
const CASES = JSON.parse(readFileSync(SUITE, "utf8")).filter((entry) => Array.isArray(entry));

test("the whole conformance suite is there", () => {
  assert.equal(CASES.length, 277);
});

test("every conformance case, through apply and compileRule", () => {
  for (const [rule, data, expected] of CASES) {
    const label = JSON.stringify(rule);
    assert.deepEqual(apply(rule, data), expected, label);
    const evaluate = compileRule(rule);
    assert.deepEqual(evaluate(data), expected, label);
    assert.deepEqual(evaluate(data), expected, label); // no state kept between evaluations
  }
});

test("the allow-list is the server's: no method, no log; plus length, floor, ceil", () => {
  assert.equal(ALLOWED_OPERATORS.length, 49); // 43 classic and ours, 6 of the newer dialect
  for (const op of ["length", "floor", "ceil", "missing_some", "?:"]) {
    assert.ok(ALLOWED_OPERATORS.includes(op), op);
  }
  for (const op of ["method", "log"]) {
    assert.throws(() => apply({ and: [true, { [op]: ["abc", "toUpperCase"] }] }), (err) => {
      assert.ok(err instanceof JsonLogicError);
      assert.equal(err.code, "unknown_operator");
      assert.match(err.message, new RegExp(`${op}.*refused`));
      assert.deepEqual(err.path, ["and", 1]);
      return true;
    });
  }
});

test("an unknown operator is named with its path, even in a per-item body", () => {
  assert.throws(() => compileRule({ and: [true, { "!": { frobnicate: [1] } }] }), {
    code: "unknown_operator",
    path: ["and", 1, "!"],
    message: "/and/1/!: unknown operator 'frobnicate'",
  });
  assert.throws(() => compileRule({ map: [[1], { nope: [] }] }), { path: ["map", 1] });
  // Literal objects are data: nothing inside them runs, so nothing is checked.
  const literal = { a: { var: "x" }, b: { "no such op": 1 } };
  assert.deepEqual(apply(literal, { x: 1 }), literal);
});

test("rules deeper or larger than the limits are refused", () => {
  const nested = (levels) => {
    let rule = true;
    for (let i = 0; i < levels; i += 1) rule = { "!": rule };
    return rule;
  };
  compileRule(nested(MAX_DEPTH));
  assert.throws(() => compileRule(nested(MAX_DEPTH + 1)), { code: "rule_too_deep" });
  assert.throws(() => compileRule(nested(100000)), { code: "rule_too_deep" });
  compileRule({ merge: Array.from({ length: MAX_NODES - 2 }, (_, i) => i) });
  assert.throws(() => compileRule({ merge: Array.from({ length: MAX_NODES - 1 }, (_, i) => i) }),
    { code: "rule_too_large" });
  assert.throws(() => compileRule({ in: ["a", { x: undefined }] }), { code: "invalid_rule" });
});

test("rules json-logic-js always throws on are refused up front", () => {
  assert.throws(() => compileRule({ "*": [] }), JsonLogicError);
  assert.throws(() => compileRule({ missing_some: [1] }), JsonLogicError);
  assert.throws(() => apply({ missing_some: [1, { var: "nothing" }] }, {}),
    { code: "evaluation_error" });
});

test("the domain operators: length, floor, ceil", () => {
  assert.equal(apply({ length: [[1, 2, 3]] }), 3);
  assert.equal(apply({ length: { var: "s" } }, { s: "😀ab" }), 4); // UTF-16 units
  assert.equal(apply({ length: { var: "nothing" } }, {}), 0);
  assert.equal(apply({ length: { var: "o" } }, { o: { length: 9 } }), 0);
  assert.equal(apply({ floor: 3.7 }), 3);
  assert.equal(apply({ floor: -3.2 }), -4);
  assert.equal(apply({ ceil: 3.2 }), 4);
  assert.equal(apply({ floor: "3.7" }), 3);
  assert.equal(apply({ floor: null }), 0);
  assert.ok(Number.isNaN(apply({ ceil: "x" })));
  assert.equal(apply({ floor: { "/": [1, 0] } }), Infinity);
});

test("var reads data only, never what JavaScript adds to it", () => {
  const data = { a: { b: ["x", { c: 3 }] }, s: "abc" };
  assert.equal(apply({ var: "a.b.1.c" }, data), 3);
  assert.equal(apply({ var: "a.b.length" }, data), 2);
  assert.equal(apply({ var: "s.1" }, data), "b");
  assert.equal(apply({ var: "a.b.01" }, data), null);
  for (const path of ["constructor", "toString", "a.b.map", "s.charAt", "__proto__"]) {
    assert.equal(apply({ var: path }, data), null, path);
  }
  assert.equal(apply({ var: ["a.x", "dflt"] }, data), "dflt");
  assert.equal(apply({ var: ["a", "dflt"] }, { a: null }), null); // null is a value
  assert.equal(apply({ var: "" }, data), data);
});

test("JavaScript's coercions, as both sides apply them", () => {
  const cases = [
    [{ "==": [[1, 2], "1,2"] }, true],
    [{ "==": [null, 0] }, false],
    [{ "==": [[], false] }, true],
    [{ "==": [[1], [1]] }, false],
    [{ "===": [null] }, false],
    [{ "<": [-1] }, false],
    [{ "<": [-1, null] }, true],
    [{ "<": ["10", "9"] }, true],
    [{ "<": ["10", 9] }, false],
    [{ "<": ["😀", "～"] }, true],
    [{ ">": [3, 2, 5] }, true],
    [{ "+": ["3px", 1] }, 4],
    [{ "+": [[7, 8]] }, 7],
    [{ "-": ["5", "2"] }, 3],
    [{ "*": ["2"] }, "2"],
    [{ "%": [-7, 3] }, -1],
    [{ min: [] }, Infinity],
    [{ cat: ["n=", 1.0, "/", { "/": [6, 3] }, null] }, "n=1/2"],
    [{ cat: [{ "+": [0.1, 0.2] }, 1e21, [1, [2, 3]], { var: "o" }] },
      "0.300000000000000041e+211,2,3[object Object]"],
    [{ substr: ["jsonlogic", -5, -2] }, "log"],
    [{ in: ["", ""] }, false],
    [{ in: [1, [true]] }, false],
    [{ in: ["a", { var: "o" }] }, false],
    [{ merge: [[1], [[2]], 3] }, [1, [2], 3]],
    [{ all: [[], true] }, false],
    [{ none: [null, true] }, true],
    [{ all: ["abc", true] }, false],
    [{ map: [[1, 2]] }, [null, null]],
    [{ and: [] }, null],
    [{ or: [0, "", [], "found"] }, "found"],
    [{ "!": [[]] }, true],
  ];
  for (const [rule, expected] of cases) {
    assert.deepEqual(apply(rule, { o: { valueOf: 1, toString: 2, indexOf: 3 } }), expected,
      JSON.stringify(rule));
  }
  assert.equal(truthy([]), false);
  assert.equal(truthy({}), true);
  assert.equal(truthy("0"), true);
});

test("results are fresh values, never the rule's own objects", () => {
  const evaluate = compileRule({ if: [true, { a: [1], b: 2 }, null] });
  evaluate(null).a.push(99);
  assert.deepEqual(evaluate(null), { a: [1], b: 2 });
});

// -- canAct -------------------------------------------------------------------------------------

const GUARDS = [
  { rule: { "!": { var: "room_info.is_initiator" } }, error: "own_bargain" },
  { rule: { "<": [{ var: "me.helps_today" }, { var: "config.helps_per_day" }] },
    error: "help_limit" },
];
const ERRORS = {
  own_bargain: { status: 409, message: { zh: "不能帮自己砍价", en: "You cannot help your own bargain" } },
};
const data = (initiator, helps) => ({
  room_info: { is_initiator: initiator }, me: { helps_today: helps }, config: { helps_per_day: 3 },
});

test("canAct gives null when every guard passes", () => {
  assert.equal(canAct(GUARDS, data(false, 0)), null);
  assert.equal(canAct([], {}), null);
});

test("canAct gives the first failing guard's code and message", () => {
  assert.deepEqual(canAct(GUARDS, data(true, 3), { errors: ERRORS }),
    { code: "own_bargain", message: "You cannot help your own bargain" });
  assert.deepEqual(canAct(GUARDS, data(true, 3), { errors: ERRORS, lang: "zh-CN" }),
    { code: "own_bargain", message: "不能帮自己砍价" });
  // No message anywhere: the code stands in for it.
  assert.deepEqual(canAct(GUARDS, data(false, 3)), { code: "help_limit", message: "help_limit" });
  const worded = [{ rule: false, error: "closed", message: "Closed" }];
  assert.deepEqual(canAct(worded, {}), { code: "closed", message: "Closed" });
});

test("canAct refuses with rule_error when a guard fails while it runs", () => {
  const guards = [{ rule: { missing_some: [1, { var: "keys" }] }, error: "x" }];
  assert.equal(canAct(guards, {}).code, "rule_error");
  assert.throws(() => canAct([{ rule: { nope: 1 }, error: "x" }], {}), JsonLogicError);
});

// The newer dialect: the same cases the server's tests run (tests/test_jsonlogic_dialect.py).
const DIALECT = new URL("../../../tests/conformance/jsonlogic/dialect.json", import.meta.url);
const DIALECT_CASES = JSON.parse(readFileSync(DIALECT, "utf8")).filter(Array.isArray);

test("every case of the newer dialect, through apply and compileRule", () => {
  assert.ok(DIALECT_CASES.length >= 40);
  for (const [rule, data, expected] of DIALECT_CASES) {
    const label = JSON.stringify(rule);
    const throws = expected !== null && typeof expected === "object" && !Array.isArray(expected) &&
      Object.keys(expected).length === 1 && "error" in expected;
    for (const run of [() => apply(rule, data), () => compileRule(rule)(data)]) {
      if (throws) {
        assert.throws(run, (err) => {
          assert.ok(err instanceof ThrownError, label);
          assert.deepEqual(err.error, expected.error, label);
          return true;
        });
      } else {
        assert.deepEqual(run(), expected, label);
      }
    }
  }
});

test("the dialect's operators are allowed, and preserve hides what it holds", () => {
  for (const op of ["val", "exists", "??", "try", "throw", "preserve"]) {
    assert.ok(ALLOWED_OPERATORS.includes(op), op);
  }
  assert.deepEqual(apply({ preserve: { method: 1 } }), { method: 1 });
});

test("a failing loop body leaves no scope behind", () => {
  assert.throws(() => apply({ map: [[1], { throw: "x" }] }, {}), ThrownError);
  assert.equal(apply({ val: [[1], "x"] }, { x: 1 }), null);
});
