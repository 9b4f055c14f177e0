// JsonLogic (https://jsonlogic.com) with json-logic-js semantics, as the server evaluates it.
//
// Templates guard their actions with JsonLogic rules; evaluating the same rules here lets a
// page grey out a button before the server would refuse the tap. The server's evaluator is the
// reference: the same operator allow-list (no `method`, no `log`), its domain operators
// `length`, `floor` and `ceil`, the newer dialect (`val` with scopes, `exists`, `??`, `try`,
// `throw`, `preserve`), and its size limits. The server's date operators, which need the
// activity's time zone, are not here: such a rule is left to the server. Where json-logic-js
// would reach into JavaScript itself (a prototype property through `var`, a `valueOf` key in
// the data), both sides read plain data only, so a rule gives the same answer here and on the
// server.

export const MAX_DEPTH = 64;
export const MAX_NODES = 10000;

/** A rule that cannot be evaluated: unknown operator, too deep, too large, not JSON. */
export class JsonLogicError extends Error {
  constructor(message, path = [], code = "invalid_rule") {
    super(path.length ? `${pointer(path)}: ${message}` : message);
    this.name = "JsonLogicError";
    this.code = code;
    this.path = path;
  }
}

function pointer(path) {
  return path.map((p) => "/" + String(p).replace(/~/g, "~0").replace(/\//g, "~1")).join("");
}

const REFUSED = {
  method: "operator 'method' is refused: it calls arbitrary methods on data",
  log: "operator 'log' is refused: rules have no side effects",
};

// -- JS values, read as data ------------------------------------------------------------------

const isObject = (v) => v !== null && typeof v === "object";
const isPlainObject = (v) => isObject(v) && !Array.isArray(v);
const own = (obj, key) => Object.prototype.hasOwnProperty.call(obj, key);

/** Truthiness as jsonlogic.com defines it: JavaScript's, except that `[]` is falsy. */
export function truthy(value) {
  return Array.isArray(value) ? value.length > 0 : Boolean(value);
}

/** `String(value)` without calling methods found in the data. */
function toStr(value) {
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    return value.map((v) => (v === null || v === undefined ? "" : toStr(v))).join(",");
  }
  if (isObject(value)) return "[object Object]";
  return String(value);
}

// Arrays and objects enter arithmetic and comparisons through their string form, as in JS.
const prim = (value) => (isObject(value) ? toStr(value) : value);
const toNum = (value) => Number(prim(value));
const parseNum = (value) => (typeof value === "number" ? value : parseFloat(toStr(value)));
const lt = (a, b) => prim(a) < prim(b);
const le = (a, b) => prim(a) <= prim(b);

function looseEq(a, b) {
  if (isObject(a) && isObject(b)) return a === b;
  return prim(a) == prim(b); // JsonLogic's == is JavaScript's loose ==, on primitives
}

/** `obj[key]` for data only: own keys, array indexes and `length`; else undefined. */
function prop(obj, key) {
  if (typeof obj === "string" || Array.isArray(obj)) {
    if (key === "length") return obj.length;
    return /^(0|[1-9][0-9]*)$/.test(key) ? obj[Number(key)] : undefined;
  }
  return isObject(obj) && own(obj, key) ? obj[key] : undefined;
}

function readVar(data, path, fallback) {
  if (path === undefined || path === null || path === "") return data;
  const notFound = fallback === undefined ? null : fallback;
  let value = data;
  for (const key of toStr(path).split(".")) {
    if (value === null || value === undefined) return notFound;
    value = prop(value, key);
    if (value === undefined) return notFound;
  }
  return value;
}

function missing(values, data) {
  const keys = Array.isArray(values[0]) ? values[0] : values;
  const absent = [];
  for (const key of keys) {
    // A key may itself be [path, default], as {"var": key} would read it.
    const value = Array.isArray(key) ? readVar(data, key[0], key[1]) : readVar(data, key);
    if (value === null || value === "") absent.push(key);
  }
  return absent;
}

function missingSome(need, options, data) {
  if (options === null || options === undefined) {
    throw new JsonLogicError("missing_some needs a list of keys, got null", [], "evaluation_error");
  }
  const absent = missing(Array.isArray(options) ? options : [options], data);
  const count = Array.isArray(options) || typeof options === "string" ? options.length : NaN;
  return le(need, count - absent.length) ? [] : absent;
}

function substr(source, start, end) {
  const text = toStr(source);
  if (end !== undefined && lt(end, 0)) {
    // A negative length stops that many characters before the end, as PHP does.
    const rest = text.substr(prim(start));
    return rest.substr(0, rest.length + prim(end));
  }
  return text.substr(prim(start), end === undefined ? undefined : prim(end));
}

function contains(needle, haystack) {
  if (typeof haystack === "string") return haystack !== "" && haystack.includes(toStr(needle));
  if (Array.isArray(haystack)) return haystack.indexOf(needle) !== -1;
  return false;
}

function clone(value) {
  // Literal objects come back as fresh copies, so a caller cannot change the rule.
  return isObject(value) ? JSON.parse(JSON.stringify(value)) : value;
}

// -- operators ----------------------------------------------------------------------------------

// Operators that receive their arguments evaluated.
const EAGER = {
  missing: (data, ...values) => missing(values, data),
  "!": (data, a) => !truthy(a),
  "!!": (data, a) => truthy(a),
  "==": (data, a, b) => looseEq(a, b),
  "!=": (data, a, b) => !looseEq(a, b),
  "===": (data, a, b) => a === b,
  "!==": (data, a, b) => a !== b,
  "<": (data, a, b, ...rest) => (rest.length ? lt(a, b) && lt(b, rest[0]) : lt(a, b)),
  "<=": (data, a, b, ...rest) => (rest.length ? le(a, b) && le(b, rest[0]) : le(a, b)),
  ">": (data, a, b) => lt(b, a),
  ">=": (data, a, b) => le(b, a),
  max: (data, ...values) => Math.max(...values.map(toNum)),
  min: (data, ...values) => Math.min(...values.map(toNum)),
  "+": (data, ...values) => values.reduce((sum, v) => sum + parseNum(v), 0),
  "-": (data, ...args) => (args.length < 2 ? -toNum(args[0]) : toNum(args[0]) - toNum(args[1])),
  // reduce() without an initial value: one argument comes back unchanged, even a string.
  "*": (data, ...values) => values.reduce((product, v) => parseNum(product) * parseNum(v)),
  "/": (data, a, b) => toNum(a) / toNum(b),
  "%": (data, a, b) => toNum(a) % toNum(b),
  merge: (data, ...values) => [].concat(...values.map((v) => (Array.isArray(v) ? v : [v]))),
  in: (data, a, b) => contains(a, b),
  cat: (data, ...values) =>
    values.map((v) => (v === null || v === undefined ? "" : toStr(v))).join(""),
  substr: (data, source, start, end) => substr(source, start, end),
  // The server's domain operators.
  length: (data, a) => (typeof a === "string" || Array.isArray(a) ? a.length : 0),
  floor: (data, a) => Math.floor(toNum(a)),
  ceil: (data, a) => Math.ceil(toNum(a)),
  // Keys sorted, as the server gives them (its stores do not keep insertion order).
  keys: (data, a) => (isPlainObject(a) ? Object.keys(a).sort() : []),
  values: (data, a) => (isPlainObject(a) ? Object.keys(a).sort().map((k) => a[k]) : []),
  size: (data, a) =>
    isPlainObject(a) ? Object.keys(a).length
      : typeof a === "string" || Array.isArray(a) ? a.length : 0,
  range: (data, ...args) => numberRange(args),
  get: (data, value, key, fallback) => getItem(value, key, fallback),
  object: (data, ...pairs) => fromPairs(pairs),
};

export const MAX_RANGE = 10000;

function whole(value) {
  const n = toNum(value);
  return Number.isFinite(n) ? Math.floor(n) : null;
}

// `range`: 0 … n−1, or a … b−1; at most MAX_RANGE numbers, as on the server.
function numberRange(args) {
  const [start, stop] = args.length > 1 ? [whole(args[0]), whole(args[1])] : [0, whole(args[0])];
  if (start === null || stop === null) return [];
  if (stop - start > MAX_RANGE) {
    throw new JsonLogicError(`range of ${stop - start} numbers (at most ${MAX_RANGE})`, [],
      "evaluation_error");
  }
  const out = [];
  for (let i = start; i < stop; i += 1) out.push(i);
  return out;
}

// `get`: an array's item at a whole index, or an object's entry at a key; else the fallback.
function getItem(value, key, fallback) {
  const none = fallback === undefined ? null : fallback;
  if (Array.isArray(value)) {
    if (key === null || key === undefined || typeof key === "boolean") return none;
    const n = whole(key);
    return n !== null && n === toNum(key) && n >= 0 && n < value.length ? value[n] : none;
  }
  if (isPlainObject(value) && (typeof key === "string" || typeof key === "number")) {
    const name = typeof key === "string" ? key : toStr(key);
    return Object.prototype.hasOwnProperty.call(value, name) ? value[name] : none;
  }
  return none;
}

// `object`: an object from [key, value] pairs with string keys.
function fromPairs(pairs) {
  const out = {};
  for (const pair of pairs) {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string") {
      throw new JsonLogicError("object takes [key, value] pairs with string keys", [],
        "evaluation_error");
    }
    out[pair[0]] = pair[1] === undefined ? null : pair[1];
  }
  return out;
}

function evalIf(args, data) {
  let i = 0;
  for (; i < args.length - 1; i += 2) {
    if (truthy(evaluate(args[i], data))) return evaluate(args[i + 1], data);
  }
  return i === args.length - 1 ? evaluate(args[i], data) : null;
}

function evalAndOr(args, data, stopWhen) {
  let value = null;
  for (const arg of args) {
    value = evaluate(arg, data);
    if (truthy(value) === stopWhen) return value;
  }
  return value;
}

// Per-item bodies see the item as their data; anything but an array counts as no items.
function scoped(args, data) {
  const items = args.length ? evaluate(args[0], data) : null;
  return [Array.isArray(items) ? items : null, args.length > 1 ? args[1] : null];
}

// A per-item body (and a try fallback) gets new data: the item, the error. The data it
// replaced stays readable with {"val": [[level], …]}: a loop keeps it here while its body runs.
const SCOPES = [];

function inScope(data, run) {
  SCOPES.push(data);
  try {
    return run();
  } finally {
    SCOPES.pop();
  }
}

function evalReduce(args, data) {
  const [items, body] = scoped(args, data);
  let accumulator = args.length > 2 ? evaluate(args[2], data) : null;
  if (items === null) return accumulator;
  return inScope(data, () => {
    for (const current of items) accumulator = evaluate(body, { current, accumulator });
    return accumulator;
  });
}

function evalAll(args, data) {
  const [items, body] = scoped(args, data);
  if (!items || !items.length) return false; // all of nothing is false
  return inScope(data, () => items.every((item) => truthy(evaluate(body, item))));
}

// -- the newer dialect: val, exists, ??, try, throw, preserve ------------------------------------

const ABSENT = {};

const isIndex = (key) =>
  (typeof key === "number" && Number.isInteger(key) && key >= 0) ||
  (typeof key === "string" && /^(0|[1-9][0-9]*)$/.test(key));

/** The value at `keys`, each one key read literally (no dots); ABSENT when there is none. */
function lookup(value, keys) {
  for (const key of keys) {
    if (Array.isArray(value)) {
      if (!isIndex(key) || Number(key) >= value.length) return ABSENT;
      value = value[Number(key)];
    } else if (isObject(value)) {
      const name = toStr(key);
      if (!own(value, name)) return ABSENT;
      value = value[name];
    } else {
      return ABSENT;
    }
  }
  return value;
}

const levelOf = (first) =>
  Array.isArray(first) && first.length === 1 && typeof first[0] === "number"
    ? Math.abs(Math.trunc(first[0]))
    : null;

function evalVal(args, data) {
  if (!args.length) return data;
  const keys = args.map((arg) => evaluate(arg, data));
  const level = levelOf(keys[0]);
  let root = data;
  if (level !== null && level > 0) {
    root = level <= SCOPES.length ? SCOPES[SCOPES.length - level] : ABSENT;
  }
  const found = lookup(root, level === null ? keys : keys.slice(1));
  return found === ABSENT || found === undefined ? null : found;
}

function evalExists(args, data) {
  let keys = args.map((arg) => evaluate(arg, data));
  if (keys.length === 1 && Array.isArray(keys[0])) keys = keys[0];
  return keys.length > 0 && lookup(data, keys) !== ABSENT;
}

function evalCoalesce(args, data) {
  for (const arg of args) {
    const value = evaluate(arg, data);
    if (value !== null && value !== undefined) return value;
  }
  return null;
}

/** What `throw` raises; `error` is the error object a `try` fallback reads. */
export class ThrownError extends JsonLogicError {
  constructor(error) {
    super(`thrown: ${JSON.stringify(error)}`, [], "evaluation_error");
    this.name = "ThrownError";
    this.error = error;
  }
}

const errorObject = (err) =>
  err instanceof ThrownError ? err.error : { type: "Invalid Arguments", message: err.message };

function evalThrow(args, data) {
  const value = args.length ? evaluate(args[0], data) : undefined;
  const error = isObject(value) && !Array.isArray(value)
    ? value
    : { type: value === undefined ? null : value };
  throw new ThrownError(error);
}

function evalTry(args, data) {
  if (!args.length) return null;
  let failure;
  try {
    return evaluate(args[0], data);
  } catch (err) {
    if (!(err instanceof JsonLogicError)) throw err;
    failure = err;
  }
  for (const fallback of args.slice(1)) {
    try {
      const error = errorObject(failure);
      return inScope(data, () => evaluate(fallback, error));
    } catch (err) {
      if (!(err instanceof JsonLogicError)) throw err;
      failure = err;
    }
  }
  throw failure;
}

const NOT_FOUND = {};

function evalVar(args, data) {
  const path = args.length ? evaluate(args[0], data) : undefined;
  const value = readVar(data, path, NOT_FOUND);
  if (value !== NOT_FOUND) return value;
  return args.length > 1 ? evaluate(args[1], data) : null; // the default, only when needed
}

// Operators that decide themselves what to evaluate, and when.
const LAZY = {
  var: evalVar,
  if: evalIf,
  "?:": evalIf,
  and: (args, data) => evalAndOr(args, data, false),
  or: (args, data) => evalAndOr(args, data, true),
  map: (args, data) => {
    const [items, body] = scoped(args, data);
    return items ? inScope(data, () => items.map((item) => evaluate(body, item))) : [];
  },
  filter: (args, data) => {
    const [items, body] = scoped(args, data);
    return items ? inScope(data, () => items.filter((item) => truthy(evaluate(body, item)))) : [];
  },
  reduce: evalReduce,
  all: evalAll,
  none: (args, data) => {
    const [items, body] = scoped(args, data);
    return !items || !inScope(data, () => items.some((item) => truthy(evaluate(body, item))));
  },
  some: (args, data) => {
    const [items, body] = scoped(args, data);
    return Boolean(items) &&
      inScope(data, () => items.some((item) => truthy(evaluate(body, item))));
  },
  val: evalVal,
  exists: evalExists,
  "??": evalCoalesce,
  try: evalTry,
  throw: evalThrow,
};

/** Every operator a rule may use: jsonlogic.com's, less `method` and `log`; the newer
 * dialect's `val`, `exists`, `??`, `try`, `throw` and `preserve`; plus ours. */
export const ALLOWED_OPERATORS = Object.freeze(
  [...Object.keys(EAGER), ...Object.keys(LAZY), "missing_some", "preserve"].sort(),
);

// How many arguments an operator reads; the server never evaluates the ones beyond.
const ARITY = {
  "!": 1, "!!": 1, length: 1, floor: 1, ceil: 1, keys: 1, values: 1, size: 1, get: 3,
  range: 2,
  "==": 2, "!=": 2, "===": 2, "!==": 2, ">": 2, ">=": 2, "-": 2, "/": 2, "%": 2, in: 2,
  missing_some: 2, "<": 3, "<=": 3, substr: 3,
};

const isOperation = (node) =>
  isObject(node) && !Array.isArray(node) && Object.keys(node).length === 1;

const argsOf = (values) => (Array.isArray(values) ? values : [values]);

function evaluate(node, data) {
  if (Array.isArray(node)) return node.map((item) => evaluate(item, data));
  if (!isOperation(node)) return clone(node);
  const op = Object.keys(node)[0];
  if (op === "preserve") return clone(node[op]); // as written, never evaluated
  const args = argsOf(node[op]);
  if (own(LAZY, op)) return LAZY[op](args, data);
  const used = own(ARITY, op) ? args.slice(0, ARITY[op]) : args;
  const values = used.map((arg) => evaluate(arg, data));
  if (op === "missing_some") return missingSome(values[0], values[1], data);
  return EAGER[op](data, ...values);
}

// -- validation ---------------------------------------------------------------------------------

function checkShape(rule) {
  // Iterative, so that a hostile rule cannot exhaust the stack before it is refused.
  let count = 0;
  const stack = [[rule, [], 1]];
  while (stack.length) {
    const [node, path, depth] = stack.pop();
    if (++count > MAX_NODES) {
      throw new JsonLogicError(`rule has more than ${MAX_NODES} values`, [], "rule_too_large");
    }
    if (isObject(node)) {
      if (depth > MAX_DEPTH) {
        const message = `rule nests deeper than ${MAX_DEPTH} levels`;
        throw new JsonLogicError(message, path, "rule_too_deep");
      }
      for (const [key, value] of Object.entries(node)) {
        stack.push([value, [...path, Array.isArray(node) ? Number(key) : key], depth + 1]);
      }
    } else if (!["string", "number", "boolean"].includes(typeof node) && node !== null) {
      throw new JsonLogicError(`not a JSON value: ${typeof node}`, path);
    }
  }
}

function checkOperators(node, path) {
  if (Array.isArray(node)) {
    node.forEach((item, i) => checkOperators(item, [...path, i]));
    return;
  }
  if (!isOperation(node)) return; // literal objects are data: nothing inside them runs
  const op = Object.keys(node)[0];
  if (!ALLOWED_OPERATORS.includes(op)) {
    throw new JsonLogicError(REFUSED[op] || `unknown operator '${op}'`, path, "unknown_operator");
  }
  if (op === "preserve") return; // what it holds is data
  const args = argsOf(node[op]);
  // json-logic-js always throws on these two; refuse them up front, as the server does.
  if (op === "*" && !args.length) {
    throw new JsonLogicError("'*' needs at least one argument", path);
  }
  if (op === "missing_some" && args.length < 2) {
    throw new JsonLogicError("missing_some takes [how many, [keys...]]", path);
  }
  const at = Array.isArray(node[op]) ? (i) => [...path, op, i] : () => [...path, op];
  args.forEach((arg, i) => checkOperators(arg, at(i)));
}

const checked = new WeakSet();

/** Validate `rule` once; returns `(data) => result`. Throws JsonLogicError with `.path`. */
export function compileRule(rule) {
  if (!isObject(rule) || !checked.has(rule)) {
    checkShape(rule);
    checkOperators(rule, []);
    if (isObject(rule)) checked.add(rule);
  }
  return (data = null) => evaluate(rule, data);
}

/** One evaluation, like `jsonLogic.apply(rule, data)`. */
export function apply(rule, data = null) {
  return compileRule(rule)(data);
}

// -- guards -------------------------------------------------------------------------------------

function pickText(text, lang) {
  if (!isObject(text)) return text === undefined || text === null ? null : String(text);
  const zh = /^zh\b/i.test(lang || "");
  return (zh ? text.zh || text.en : text.en || text.zh) || null;
}

/**
 * The first guard of `guards` that fails for `data`, as `{code, message}`, or null when the
 * action would pass them all. A guard is `{rule, error}` as in a template; `message` comes from
 * the guard, else from the template's `errors` table, in `lang`. A rule that fails while it
 * runs refuses the action with `rule_error`, as on the server.
 */
export function canAct(guards, data, { errors = {}, lang = "en" } = {}) {
  for (const guard of guards || []) {
    const evaluateGuard = compileRule(guard.rule);
    let passed;
    try {
      passed = truthy(evaluateGuard(data));
    } catch (err) {
      if (!(err instanceof JsonLogicError)) throw err;
      return { code: "rule_error", message: err.message };
    }
    if (!passed) {
      const declared = errors[guard.error] || {};
      const message = pickText(guard.message || declared.message, lang);
      return { code: guard.error, message: message || guard.error };
    }
  }
  return null;
}
