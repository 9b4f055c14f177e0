"""One closure builder per operator, and the table of allowed operators.

A builder takes the operation's already compiled arguments and returns the closure that
evaluates it. Builders specialise on what they can see at compile time (arity, literal
paths, arguments that always yield a bool) and give plain numbers and dicts a fast path,
falling back to the general JS algorithm in ``operators`` and ``js`` for anything else.

A closure may carry marks the compiler and other builders read: ``value`` (a constant),
``boolean`` (always returns a bool, so ``truthy`` can be skipped), ``constant_items`` (an
array of constants) and ``all_present`` (``missing`` fused with ``!``).
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Callable
from typing import Any

from magic_cube.rules.jsonlogic import dates
from magic_cube.rules.jsonlogic.errors import (
    EvaluationError,
    InvalidRule,
    JsonLogicError,
    Path,
    ThrownError,
)
from magic_cube.rules.jsonlogic.js import (
    ARRAY,
    OBJECT,
    UNDEFINED,
    kind_of,
    less_or_equal,
    less_than,
    loose_equals,
    parse_float,
    strict_equals,
    to_number,
    to_string,
    truthy,
)
from magic_cube.rules.jsonlogic.operators import (
    add,
    cat,
    contains,
    divide,
    keys_of,
    length,
    maximum,
    merge,
    minimum,
    missing,
    missing_some,
    multiply,
    remainder,
    rounded,
    size,
    substr,
    subtract,
    values_of,
    var,
    walk,
)

Evaluator = Callable[[Any], Any]
Builder = Callable[[list[Evaluator], Path], Evaluator]

JSON_SCALARS = (type(None), bool, int, float, str)

NOT_CONSTANT = object()
# What a plain dict lookup raises where the JS property read needs the slow path.
_MISS = (KeyError, TypeError, IndexError)


# -- marks ---------------------------------------------------------------------


def constant(value: Any) -> Evaluator:
    """A closure that returns ``value`` and says so, for constant folding."""

    def const(data: Any) -> Any:
        return value

    const.value = value  # type: ignore[attr-defined]
    return const


def constant_value(fn: Evaluator) -> Any:
    """What ``fn`` always returns, or NOT_CONSTANT."""
    return getattr(fn, "value", NOT_CONSTANT)


def boolean(fn: Evaluator) -> Evaluator:
    """Mark ``fn`` as always returning a bool, so callers may skip ``truthy``."""
    fn.boolean = True  # type: ignore[attr-defined]
    return fn


def _yields_bool(fn: Evaluator) -> bool:
    return getattr(fn, "boolean", False) or type(constant_value(fn)) is bool


def _identity(data: Any) -> Any:
    return data


_always_undefined = constant(UNDEFINED)
_always_null = constant(None)


def _arg(args: list[Evaluator], index: int) -> Evaluator:
    return args[index] if index < len(args) else _always_undefined


def _truth_test(fn: Evaluator) -> Evaluator:
    """``fn`` followed by ``truthy``, fused away when ``fn`` already yields a bool."""
    if _yields_bool(fn):
        return fn

    def test(data: Any) -> bool:
        v = fn(data)
        t = type(v)
        if t is bool:
            return v
        if t is list or t is str:
            return len(v) != 0
        return truthy(v)

    return boolean(test)


# -- data access ---------------------------------------------------------------


def _build_var(args: list[Evaluator], path: Path) -> Evaluator:
    if not args:
        return _identity
    fpath = args[0]
    fdefault = args[1] if len(args) > 1 else None
    literal = constant_value(fpath)
    if literal is NOT_CONSTANT:

        def var_dynamic(data: Any) -> Any:
            return var(data, fpath(data), UNDEFINED if fdefault is None else fdefault(data))

        return var_dynamic
    keys = _split_path(literal)
    return _var_getter(keys, fdefault) if keys else _identity


def _split_path(path: Any) -> tuple[str, ...]:
    """A literal ``var`` path as keys; () for the whole data."""
    if path is None or path == "":
        return ()
    # Interned, as the names of the data's keys are (`data["me"]`, a template's variables): a
    # look-up then finds the very key instead of comparing two equal strings.
    return tuple(sys.intern(key) for key in to_string(path).split("."))


def _var_getter(keys: tuple[str, ...], fdefault: Evaluator | None) -> Evaluator:
    # Plain dict lookups first; anything unusual (a list index, "length", a
    # missing key, null on the way) falls back to walk, which follows JS.
    if fdefault is None:
        return _var_getter_without_default(keys)

    def var_default(data: Any) -> Any:
        try:
            value = data
            for key in keys:
                value = value[key]
            return value
        except _MISS:
            return walk(data, keys, fdefault(data))

    return var_default


def _var_getter_without_default(keys: tuple[str, ...]) -> Evaluator:
    # Paths of one to three keys, by far the most common, get a closure without a loop.
    n = len(keys)
    if n == 1:
        (k0,) = keys

        def var1(data: Any) -> Any:
            try:
                return data[k0]
            except _MISS:
                return walk(data, keys, None)

        return var1
    if n == 2:
        k0, k1 = keys

        def var2(data: Any) -> Any:
            try:
                return data[k0][k1]
            except _MISS:
                return walk(data, keys, None)

        return var2
    if n == 3:
        k0, k1, k2 = keys

        def var3(data: Any) -> Any:
            try:
                return data[k0][k1][k2]
            except _MISS:
                return walk(data, keys, None)

        return var3

    def var_n(data: Any) -> Any:
        try:
            value = data
            for key in keys:
                value = value[key]
            return value
        except _MISS:
            return walk(data, keys, None)

    return var_n


def _build_missing(args: list[Evaluator], path: Path) -> Evaluator:
    literal = _literal_keys(args)
    if literal is not None:
        split = tuple((key, _split_path(key)) for key in literal)

        def missing_literal(data: Any) -> list:
            absent = []
            for key, keys in split:
                # (`walk`, not a try of plain lookups as `var` does: here the key is often
                # absent, and a raised KeyError costs more than the walk)
                value = walk(data, keys, None)
                if value is None or value == "":
                    absent.append(key)
            return absent

        def all_present(data: Any) -> bool:
            # {"!": {"missing": [...]}} is a common guard: stop at the first gap.
            for _, keys in split:
                value = walk(data, keys, None)
                if value is None or value == "":
                    return False
            return True

        missing_literal.all_present = boolean(all_present)  # type: ignore[attr-defined]
        return missing_literal
    fs = tuple(args)

    def missing_dynamic(data: Any) -> list:
        return missing([f(data) for f in fs], data)

    return missing_dynamic


def _literal_keys(args: list[Evaluator]) -> list | None:
    """The keys ``missing`` checks when they are all literal scalars, else None."""
    items = getattr(args[0], "constant_items", None) if args else None
    keys = items if items is not None else [constant_value(f) for f in args]
    if all(type(k) in JSON_SCALARS for k in keys):
        return keys
    return None


def _build_missing_some(args: list[Evaluator], path: Path) -> Evaluator:
    if len(args) < 2:
        raise InvalidRule("missing_some takes [how many, [keys...]]", path)
    fneed, fkeys = args[0], args[1]

    def missing_some_(data: Any) -> list:
        return missing_some(fneed(data), fkeys(data), data, path)

    return missing_some_


# -- logic ---------------------------------------------------------------------


def _settled(args: list[Evaluator]) -> list[Evaluator]:
    """``if``'s arguments with the conditions known when compiling settled: a false one drops
    its branch, and the first true one makes its branch the last (what is left otherwise)."""
    out: list[Evaluator] = []
    for i in range(0, len(args) - 1, 2):
        value = constant_value(args[i])
        if value is NOT_CONSTANT:
            out += args[i:i + 2]
        elif truthy(value):
            return [*out, args[i + 1]]
    if len(args) % 2:
        out.append(args[-1])
    return out


def _leading(args: list[Evaluator], decides: bool) -> list[Evaluator] | Evaluator:
    """``and`` (``decides`` False) or ``or`` (True) without its leading constants: the first
    whose truth is ``decides`` is the result; the others are passed over."""
    while len(args) > 1:
        value = constant_value(args[0])
        if value is NOT_CONSTANT:
            break
        if truthy(value) is decides:
            return args[0]
        args = args[1:]
    return args


def _build_if(args: list[Evaluator], path: Path) -> Evaluator:
    args = _settled(args)
    n = len(args)
    if n == 0:
        return _always_null
    if n == 1:
        return args[0]
    if n == 3:
        cond, then, other = _truth_test(args[0]), args[1], args[2]

        def if3(data: Any) -> Any:
            return then(data) if cond(data) else other(data)

        return if3
    pairs = tuple((_truth_test(args[i]), args[i + 1]) for i in range(0, n - 1, 2))
    last = args[-1] if n % 2 else _always_null

    def if_n(data: Any) -> Any:
        for cond, then in pairs:
            if cond(data):
                return then(data)
        return last(data)

    return if_n


def _build_and(args: list[Evaluator], path: Path) -> Evaluator:
    if not args:
        return _always_null
    left = _leading(args, False)
    if not isinstance(left, list):
        return left
    args = left
    if len(args) == 1:
        return args[0]
    if all(_yields_bool(f) for f in args):
        fs = tuple(args)
        if len(fs) == 2:
            f0, f1 = fs
            return boolean(lambda data: f0(data) and f1(data))
        return boolean(lambda data: all(f(data) for f in fs))
    head, last = tuple(args[:-1]), args[-1]

    def and_(data: Any) -> Any:
        for f in head:
            v = f(data)
            if v is False or (v is not True and not truthy(v)):
                return v  # the first falsy value decides
        return last(data)

    return and_


def _build_or(args: list[Evaluator], path: Path) -> Evaluator:
    if not args:
        return _always_null
    left = _leading(args, True)
    if not isinstance(left, list):
        return left
    args = left
    if len(args) == 1:
        return args[0]
    if all(_yields_bool(f) for f in args):
        fs = tuple(args)
        if len(fs) == 2:
            f0, f1 = fs
            return boolean(lambda data: f0(data) or f1(data))
        return boolean(lambda data: any(f(data) for f in fs))
    head, last = tuple(args[:-1]), args[-1]

    def or_(data: Any) -> Any:
        for f in head:
            v = f(data)
            if v is True or (v is not False and truthy(v)):
                return v  # the first truthy value decides
        return last(data)

    return or_


def _build_not(args: list[Evaluator], path: Path) -> Evaluator:
    fn = _arg(args, 0)
    if _yields_bool(fn):
        return boolean(lambda data: not fn(data))
    all_present = getattr(fn, "all_present", None)
    if all_present is not None:
        return all_present

    def not_(data: Any) -> bool:
        v = fn(data)
        t = type(v)
        if t is bool:
            return not v
        if t is list or t is str:
            return len(v) == 0
        return not truthy(v)

    return boolean(not_)


def _build_double_not(args: list[Evaluator], path: Path) -> Evaluator:
    return _truth_test(_arg(args, 0))


def _build_equal(args: list[Evaluator], path: Path) -> Evaluator:
    fa, fb = _arg(args, 0), _arg(args, 1)

    def eq(data: Any) -> bool:
        a, b = fa(data), fb(data)
        t = type(a)
        if t is type(b) and t is not list and t is not dict:
            return a == b  # one type: no coercion, and NaN != NaN as in JS
        return loose_equals(a, b)

    return boolean(eq)


def _build_not_equal(args: list[Evaluator], path: Path) -> Evaluator:
    eq = _build_equal(args, path)
    return boolean(lambda data: not eq(data))


def _build_strict_equal(args: list[Evaluator], path: Path) -> Evaluator:
    fa, fb = _arg(args, 0), _arg(args, 1)

    def strict_eq(data: Any) -> bool:
        a, b = fa(data), fb(data)
        t = type(a)
        if t is type(b) and t is not list and t is not dict:
            return a == b
        return strict_equals(a, b)

    return boolean(strict_eq)


def _build_strict_not_equal(args: list[Evaluator], path: Path) -> Evaluator:
    eq = _build_strict_equal(args, path)
    return boolean(lambda data: not eq(data))


# -- numbers -------------------------------------------------------------------

# Comparisons are the bulk of guards: compare plain numbers directly and fall
# back to the JS algorithm only for anything else. `type(x) is int` also keeps
# bools off the fast path.


def _build_less(args: list[Evaluator], path: Path) -> Evaluator:
    if len(args) >= 3:
        return _between(args, less_than)
    fa, fb = _arg(args, 0), _arg(args, 1)

    def lt(data: Any) -> bool:
        a, b = fa(data), fb(data)
        ta, tb = type(a), type(b)
        if (ta is int or ta is float) and (tb is int or tb is float):
            return a < b
        return less_than(a, b)

    return boolean(lt)


def _build_less_or_equal(args: list[Evaluator], path: Path) -> Evaluator:
    if len(args) >= 3:
        return _between(args, less_or_equal)
    fa, fb = _arg(args, 0), _arg(args, 1)

    def le(data: Any) -> bool:
        a, b = fa(data), fb(data)
        ta, tb = type(a), type(b)
        if (ta is int or ta is float) and (tb is int or tb is float):
            return a <= b
        return less_or_equal(a, b)

    return boolean(le)


def _build_greater(args: list[Evaluator], path: Path) -> Evaluator:
    fa, fb = _arg(args, 0), _arg(args, 1)

    def gt(data: Any) -> bool:
        a, b = fa(data), fb(data)
        ta, tb = type(a), type(b)
        if (ta is int or ta is float) and (tb is int or tb is float):
            return a > b
        return less_than(b, a)

    return boolean(gt)


def _build_greater_or_equal(args: list[Evaluator], path: Path) -> Evaluator:
    fa, fb = _arg(args, 0), _arg(args, 1)

    def ge(data: Any) -> bool:
        a, b = fa(data), fb(data)
        ta, tb = type(a), type(b)
        if (ta is int or ta is float) and (tb is int or tb is float):
            return a >= b
        return less_or_equal(b, a)

    return boolean(ge)


def _between(args: list[Evaluator], compare: Callable[[Any, Any], bool]) -> Evaluator:
    fa, fb, fc = args[0], args[1], args[2]
    strict = compare is less_than

    def between(data: Any) -> bool:
        a, b, c = fa(data), fb(data), fc(data)
        ta, tb, tc = type(a), type(b), type(c)
        if (ta is int or ta is float) and (tb is int or tb is float) and (tc is int or tc is float):
            return a < b < c if strict else a <= b <= c
        return compare(a, b) and compare(b, c)

    return boolean(between)


# Operators that need nothing but their evaluated arguments.


def _variadic(op: Callable[[list], Any]) -> Builder:
    def build(args: list[Evaluator], path: Path) -> Evaluator:
        fs = tuple(args)
        return lambda data: op([f(data) for f in fs])

    return build


def _binary(op: Callable[[Any, Any], Any]) -> Builder:
    def build(args: list[Evaluator], path: Path) -> Evaluator:
        fa, fb = _arg(args, 0), _arg(args, 1)
        return lambda data: op(fa(data), fb(data))

    return build


def _unary(op: Callable[[Any], Any]) -> Builder:
    def build(args: list[Evaluator], path: Path) -> Evaluator:
        fa = _arg(args, 0)
        return lambda data: op(fa(data))

    return build


def _build_add(args: list[Evaluator], path: Path) -> Evaluator:
    if len(args) == 2:
        fa, fb = args

        def add2(data: Any) -> int | float:
            a, b = fa(data), fb(data)
            ta, tb = type(a), type(b)
            if (ta is int or ta is float) and (tb is int or tb is float):
                try:
                    return a + b
                except OverflowError:  # a huge int met a float; JS would have rounded it
                    pass
            return add([a, b])

        return add2
    fs = tuple(args)

    def add_n(data: Any) -> int | float:
        values = [f(data) for f in fs]
        total: int | float = 0
        try:
            for v in values:
                t = type(v)
                total += v if t is int or t is float else parse_float(v)
        except OverflowError:
            return add(values)
        return total

    return add_n


def _build_multiply(args: list[Evaluator], path: Path) -> Evaluator:
    if not args:
        raise InvalidRule("'*' needs at least one argument", path)
    if len(args) == 1:
        return args[0]
    fs = tuple(args)

    def mul(data: Any) -> Any:
        values = [f(data) for f in fs]
        try:
            return multiply(values)
        except OverflowError:
            return multiply([parse_float(v) for v in values])

    return mul


def _build_subtract(args: list[Evaluator], path: Path) -> Evaluator:
    fa = _arg(args, 0)
    if len(args) < 2:
        return lambda data: -to_number(fa(data))
    fb = args[1]

    def sub(data: Any) -> int | float:
        a, b = fa(data), fb(data)
        ta, tb = type(a), type(b)
        if (ta is int or ta is float) and (tb is int or tb is float):
            try:
                return a - b
            except OverflowError:
                pass
        return subtract(a, b)

    return sub


def _build_divide(args: list[Evaluator], path: Path) -> Evaluator:
    fa, fb = _arg(args, 0), _arg(args, 1)

    def div(data: Any) -> float:
        a, b = fa(data), fb(data)
        ta, tb = type(a), type(b)
        if (ta is int or ta is float) and (tb is int or tb is float) and b:
            try:
                return a / b
            except OverflowError:
                pass
        return divide(a, b)

    return div


# -- strings and arrays --------------------------------------------------------


def _build_substr(args: list[Evaluator], path: Path) -> Evaluator:
    fs, fstart, fend = _arg(args, 0), _arg(args, 1), _arg(args, 2)
    return lambda data: substr(fs(data), fstart(data), fend(data))


MAX_RANGE = 10_000  # numbers one `range` may give


def _whole(value: Any) -> int | None:
    n = to_number(value)
    return None if n != n or n in (math.inf, -math.inf) else math.floor(n)


def _build_range(args: list[Evaluator], path: Path) -> Evaluator:
    """``{"range": n}`` is 0 … n−1 and ``{"range": [a, b]}`` a … b−1 (numbers as ``Number()``
    reads them, rounded down; empty when b ≤ a): the list a loop runs over when it needs
    indexes. More than 10,000 numbers is an error."""
    fa, fb = _arg(args, 0), _arg(args, 1)
    two = len(args) > 1

    def range_(data: Any) -> list[int]:
        start, stop = (_whole(fa(data)), _whole(fb(data))) if two else (0, _whole(fa(data)))
        if start is None or stop is None:
            return []
        if stop - start > MAX_RANGE:
            raise EvaluationError(f"range of {stop - start} numbers (at most {MAX_RANGE})",
                                  path)
        return list(range(start, stop))

    return range_


def get_item(value: Any, key: Any, default: Any = None) -> Any:
    """``get``: an array's item at an index (whole, from 0) or an object's entry at a key, of
    a computed value; ``default`` (else null) when there is none."""
    kind = kind_of(value)
    if kind == ARRAY:
        n = _whole(key) if type(key) is not bool and key is not None else None
        if n is not None and n == to_number(key) and 0 <= n < len(value):
            return value[n]
    elif kind == OBJECT and type(key) in (str, int, float) and type(key) is not bool:
        name = key if type(key) is str else to_string(key)
        if name in value:
            return value[name]
    return None if default is UNDEFINED else default


def _build_get(args: list[Evaluator], path: Path) -> Evaluator:
    fv, fk, fd = _arg(args, 0), _arg(args, 1), _arg(args, 2)
    return lambda data: get_item(fv(data), fk(data), fd(data))


def _build_object(args: list[Evaluator], path: Path) -> Evaluator:
    """``{"object": [["name", E], ["count", E]]}``: an object from key/value pairs (keys are
    strings; a later pair wins) — JsonLogic has no object literal."""
    def object_(data: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in args:
            pair = f(data)
            if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not str:
                raise EvaluationError("object takes [key, value] pairs with string keys", path)
            out[pair[0]] = None if pair[1] is UNDEFINED else pair[1]
        return out

    return object_


def _build_in(args: list[Evaluator], path: Path) -> Evaluator:
    fa, fb = _arg(args, 0), _arg(args, 1)

    def in_(data: Any) -> bool:
        a, b = fa(data), fb(data)
        if type(b) is list and type(a) is str:
            return a in b
        return contains(a, b)

    return boolean(in_)


def _scoped_parts(args: list[Evaluator]) -> tuple[Evaluator, Evaluator]:
    return (args[0] if args else _always_null), (args[1] if len(args) > 1 else _always_null)


def _items(value: Any) -> list | None:
    if type(value) is list:
        return value
    return list(value) if kind_of(value) == ARRAY else None


# A per-item body (and a try fallback) gets new data: the item, the error. The data it
# replaced stays readable with {"val": [[level], …]}: each loop keeps it on this stack (one
# per thread) while its body runs.
_scopes = threading.local()


def _enclosing() -> list:
    stack: list | None = getattr(_scopes, "stack", None)
    if stack is None:
        stack = _scopes.stack = []
    return stack


def _in_scope(data: Any, run: Callable[[list], Any], items: list) -> Any:
    """``run(items)`` with ``data`` on the scope stack while it runs."""
    stack = _enclosing()
    stack.append(data)
    try:
        return run(items)
    finally:
        stack.pop()


def _build_map(args: list[Evaluator], path: Path) -> Evaluator:
    source, body = _scoped_parts(args)

    def each(items: list) -> list:
        return [body(item) for item in items]

    def map_(data: Any) -> list:
        items = _items(source(data))
        return [] if items is None else _in_scope(data, each, items)

    return map_


def _build_filter(args: list[Evaluator], path: Path) -> Evaluator:
    source, body = _scoped_parts(args)
    test = _truth_test(body)

    def keep(items: list) -> list:
        return [item for item in items if test(item)]

    def filter_(data: Any) -> list:
        items = _items(source(data))
        return [] if items is None else _in_scope(data, keep, items)

    return filter_


def _build_reduce(args: list[Evaluator], path: Path) -> Evaluator:
    source, body = _scoped_parts(args)
    initial = args[2] if len(args) > 2 else _always_null

    def reduce_(data: Any) -> Any:
        items = _items(source(data))
        accumulator = initial(data)
        if items is None:
            return accumulator

        def fold(items: list) -> Any:
            acc = accumulator
            for item in items:
                acc = body({"current": item, "accumulator": acc})
            return acc

        return _in_scope(data, fold, items)

    return reduce_


def _all_true(test: Evaluator) -> Callable[[list], bool]:
    return lambda items: all(test(item) for item in items)


def _any_true(test: Evaluator) -> Callable[[list], bool]:
    return lambda items: any(test(item) for item in items)


def _build_all(args: list[Evaluator], path: Path) -> Evaluator:
    source, body = _scoped_parts(args)
    every = _all_true(_truth_test(body))

    def all_(data: Any) -> bool:
        items = _items(source(data))
        if not items:
            return False  # all of nothing is false
        return bool(_in_scope(data, every, items))

    return boolean(all_)


def _build_none(args: list[Evaluator], path: Path) -> Evaluator:
    source, body = _scoped_parts(args)
    anyone = _any_true(_truth_test(body))

    def none_(data: Any) -> bool:
        items = _items(source(data))
        return not (items and _in_scope(data, anyone, items))

    return boolean(none_)


def _build_some(args: list[Evaluator], path: Path) -> Evaluator:
    source, body = _scoped_parts(args)
    anyone = _any_true(_truth_test(body))

    def some_(data: Any) -> bool:
        items = _items(source(data))
        return bool(items and _in_scope(data, anyone, items))

    return boolean(some_)


# -- the newer dialect: val, exists, ??, try, throw ------------------------------

_ABSENT = object()


def _lookup(value: Any, keys: list) -> Any:
    """The value at ``keys`` (each one key, read literally: no dots), or _ABSENT."""
    for key in keys:
        if type(value) is dict:
            value = value.get(key if type(key) is str else to_string(key), _ABSENT)
        elif type(value) is list:
            index = _index(key)
            if index is None or index >= len(value):
                return _ABSENT
            value = value[index]
        else:
            return _ABSENT
        if value is _ABSENT:
            return _ABSENT
    return value


def _index(key: Any) -> int | None:
    """An array index: a whole number, or its decimal digits (no sign, no leading zero)."""
    if type(key) is int and key >= 0:
        return key
    if type(key) is float and key >= 0 and key.is_integer():
        return int(key)
    if type(key) is str and (key == "0" or (key[:1] in "123456789" and key.isdecimal()
                                            and key.isascii())):
        return int(key)
    return None


def _level(first: Any) -> int | None:
    """The scope level of a ``val`` whose first argument is ``[n]``, else None."""
    if type(first) is list and len(first) == 1 and type(first[0]) in (int, float):
        return abs(int(first[0]))
    return None


def _scope(data: Any, level: int) -> Any:
    if level == 0:
        return data
    stack = _enclosing()
    return stack[-level] if level <= len(stack) else _ABSENT


def _build_val(args: list[Evaluator], path: Path) -> Evaluator:
    if not args:
        return _identity
    fargs = tuple(args)

    def val(data: Any) -> Any:
        keys = [f(data) for f in fargs]
        level = _level(keys[0])
        root = data if level is None else _scope(data, level)
        found = _lookup(root, keys if level is None else keys[1:])
        return None if found is _ABSENT or found is UNDEFINED else found

    return val


def _build_exists(args: list[Evaluator], path: Path) -> Evaluator:
    fargs = tuple(args)

    def exists(data: Any) -> bool:
        keys = [f(data) for f in fargs]
        if len(keys) == 1 and type(keys[0]) is list:
            keys = keys[0]
        return bool(keys) and _lookup(data, keys) is not _ABSENT

    return boolean(exists)


def _build_coalesce(args: list[Evaluator], path: Path) -> Evaluator:
    fargs = tuple(args)

    def coalesce(data: Any) -> Any:
        for f in fargs:
            value = f(data)
            if value is not None and value is not UNDEFINED:
                return value
        return None

    return coalesce


def _error_object(exc: JsonLogicError) -> Any:
    if isinstance(exc, ThrownError):
        return exc.error
    return {"type": "Invalid Arguments", "message": str(exc)}


def _build_throw(args: list[Evaluator], path: Path) -> Evaluator:
    farg = _arg(args, 0)

    def throw(data: Any) -> Any:
        value = farg(data)
        if value is UNDEFINED:
            value = None
        raise ThrownError(value if type(value) is dict else {"type": value}, path)

    return throw


def _build_try(args: list[Evaluator], path: Path) -> Evaluator:
    if not args:
        return _always_null
    first, fallbacks = args[0], tuple(args[1:])

    def try_(data: Any) -> Any:
        try:
            return first(data)
        except JsonLogicError as exc:
            failure = exc
        stack = _enclosing()
        for fallback in fallbacks:
            stack.append(data)  # a fallback reads the error; {"val": [[1], …]} the data
            try:
                return fallback(_error_object(failure))
            except JsonLogicError as exc:
                failure = exc
            finally:
                stack.pop()
        raise failure

    return try_


# -- dates and times, in the activity's zone (see ``dates``) -----------------------------


def _build_date_time(args: list[Evaluator], path: Path) -> Evaluator:
    farg = _arg(args, 0)
    return lambda data: dates.parse_date_time(farg(data), path)


def _date_unary(op: str) -> Builder:
    def build(args: list[Evaluator], path: Path) -> Evaluator:
        farg = _arg(args, 0)
        return lambda data: dates.unary(op, farg(data), path)

    return build


def _build_add_days(args: list[Evaluator], path: Path) -> Evaluator:
    fts, fdays = _arg(args, 0), _arg(args, 1)
    return lambda data: dates.add_days(fts(data), fdays(data), path)


DATE_OPERATORS: dict[str, Builder] = {
    "date_time": _build_date_time,
    "add_days": _build_add_days,
    **{op: _date_unary(op) for op in dates.UNARY},
}


OPERATORS: dict[str, Builder] = {
    # data access
    "var": _build_var,
    "missing": _build_missing,
    "missing_some": _build_missing_some,
    # logic
    "if": _build_if,
    "?:": _build_if,
    "and": _build_and,
    "or": _build_or,
    "!": _build_not,
    "!!": _build_double_not,
    "==": _build_equal,
    "!=": _build_not_equal,
    "===": _build_strict_equal,
    "!==": _build_strict_not_equal,
    # numbers
    "<": _build_less,
    "<=": _build_less_or_equal,
    ">": _build_greater,
    ">=": _build_greater_or_equal,
    "max": _variadic(maximum),
    "min": _variadic(minimum),
    "+": _build_add,
    "-": _build_subtract,
    "*": _build_multiply,
    "/": _build_divide,
    "%": _binary(remainder),
    # arrays
    "map": _build_map,
    "filter": _build_filter,
    "reduce": _build_reduce,
    "all": _build_all,
    "none": _build_none,
    "some": _build_some,
    "merge": _variadic(merge),
    "in": _build_in,
    # the newer dialect shared by the community engines
    "val": _build_val,
    "exists": _build_exists,
    "??": _build_coalesce,
    "try": _build_try,
    "throw": _build_throw,
    # strings
    "cat": _variadic(cat),
    "substr": _build_substr,
    # ours; a mini-program registers them with jsonLogic.add_operation
    "length": _unary(length),
    "floor": _unary(lambda v: rounded(v, math.floor)),
    "ceil": _unary(lambda v: rounded(v, math.ceil)),
    "keys": _unary(keys_of),
    "values": _unary(values_of),
    "size": _unary(size),
    "range": _build_range,
    "get": _build_get,
    "object": _build_object,
    **DATE_OPERATORS,
}

PRESERVE = "preserve"
"""Returns its argument as written, unevaluated; the compiler handles it (no builder: what
it holds is never compiled)."""

ALLOWED_OPERATORS: frozenset[str] = frozenset(OPERATORS) | {PRESERVE}
"""Every jsonlogic.com operator except ``method`` and ``log``; ``val``, ``exists``, ``??``,
``try``, ``throw`` and ``preserve`` of the newer dialect; plus ``length``, ``floor``,
``ceil``, ``keys``, ``values``, ``size``, ``range``, ``get`` and ``object``, and the date
operators."""
