"""JsonLogic rules with the semantics of json-logic-js.

Templates carry guards and effects as JsonLogic (https://jsonlogic.com) and
mini-programs evaluate the very same rules with json-logic-js, so both sides
must agree to the last detail: JS truthiness, loose ``==``, ``parseFloat`` in
``+``, JS number formatting in ``cat``, UTF-16 string lengths.

A rule is validated once (allow-list, size limits) and compiled into a tree of
closures; evaluating it afterwards looks nothing up by operator name.
"""

from __future__ import annotations

import copy
import difflib
import math
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

__all__ = [
    "ALLOWED_OPERATORS",
    "MAX_DEPTH",
    "MAX_NODES",
    "EvaluationError",
    "InvalidRule",
    "JsonLogicError",
    "RuleTooDeep",
    "RuleTooLarge",
    "UnknownOperator",
    "apply",
    "compile_rule",
    "operators_in",
    "scoped_var_paths",
    "truthy",
    "var_paths",
]

Evaluator = Callable[[Any], Any]
Path = list[str | int]

MAX_DEPTH = 64
"""Deepest nesting of objects and arrays a rule may have."""
MAX_NODES = 10_000
"""Most values (objects, arrays and scalars) a rule may contain."""


# -- errors -------------------------------------------------------------------


class JsonLogicError(ValueError):
    """Base error; ``path`` locates the offending node inside the rule."""

    def __init__(self, message: str, path: Path | tuple = ()) -> None:
        super().__init__(message)
        self.path: Path = list(path)

    @property
    def pointer(self) -> str:
        """``path`` as a JSON pointer, "" for the whole rule."""
        return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in self.path)


class UnknownOperator(JsonLogicError):
    """An operation whose name is not in ``ALLOWED_OPERATORS``."""

    def __init__(self, operator: str, path: Path, reason: str | None = None) -> None:
        shown = operator if len(operator) <= 40 else operator[:37] + "..."
        if reason is None:
            reason = f"unknown operator {shown!r}"
            close = difflib.get_close_matches(operator, ALLOWED_OPERATORS, n=1)
            if close:
                reason += f" (did you mean {close[0]!r}?)"
        super().__init__(reason, path)
        self.operator = operator


class RuleTooDeep(JsonLogicError):
    """Nesting beyond ``MAX_DEPTH``: refused before anything recurses into it."""


class RuleTooLarge(JsonLogicError):
    """More than ``MAX_NODES`` values in one rule."""


class InvalidRule(JsonLogicError):
    """Not JSON, or an operation json-logic-js would always fail on."""


class EvaluationError(JsonLogicError):
    """Raised at run time only where json-logic-js itself throws."""


# -- JS values ----------------------------------------------------------------


class _Undefined:
    """JS ``undefined``: what a named parameter sees when its argument is absent."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "undefined"


_UNDEF = _Undefined()
_NAN = math.nan
_INF = math.inf

_UNDEFINED, _NULL, _BOOL, _NUM, _STR, _LIST, _OBJ = range(7)
_KINDS = {
    _Undefined: _UNDEFINED,
    type(None): _NULL,
    bool: _BOOL,
    int: _NUM,
    float: _NUM,
    str: _STR,
    list: _LIST,
    dict: _OBJ,
}


def _kind(value: Any) -> int:
    kind = _KINDS.get(type(value))
    if kind is not None:
        return kind
    # Subclasses and the odd tuple a caller may pass as data.
    if isinstance(value, bool):
        return _BOOL
    if isinstance(value, int | float):
        return _NUM
    if isinstance(value, str):
        return _STR
    if isinstance(value, list | tuple):
        return _LIST
    return _OBJ


def truthy(value: Any) -> bool:
    """JS truthiness, except that ``[]`` is falsy as jsonlogic.com/truthy requires."""
    t = type(value)
    if t is bool:
        return value
    if value is None:
        return False
    if t is int:
        return value != 0
    if t is float:
        return value == value and value != 0.0  # NaN is falsy
    if t is str or t is list:
        return len(value) != 0
    if t is dict:
        return True  # even {}: every JS object is truthy
    kind = _kind(value)
    if kind == _UNDEFINED:
        return False
    if kind == _BOOL:
        return bool(value)
    if kind == _NUM:
        return value == value and value != 0
    if kind == _STR or kind == _LIST:
        return len(value) != 0
    return True


_MAX_SAFE = 2**53
# StrWhiteSpaceChar: what JS trims, which is not what str.strip() trims.
_JS_WS = "\t\n\v\f\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_DECIMAL = re.compile(r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")
_NON_DECIMAL = re.compile(r"0(?:[xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)")
_SHORT_INT = re.compile(r"[+-]?[0-9]{1,15}")


def _int_value(value: int) -> int | float:
    # JS numbers are doubles; past 2**53 behave like one instead of overflowing later.
    if -_MAX_SAFE <= value <= _MAX_SAFE:
        return value
    try:
        return float(value)
    except OverflowError:
        return _INF if value > 0 else -_INF


def _decimal(text: str) -> int | float:
    if _SHORT_INT.fullmatch(text):
        return int(text)  # keep integral input integral for Python callers
    if text.endswith("Infinity"):
        return -_INF if text[0] == "-" else _INF
    return float(text)


def _str_to_number(text: str) -> int | float:
    text = text.strip(_JS_WS)
    if not text:
        return 0
    if _DECIMAL.fullmatch(text):
        return _decimal(text)
    if _NON_DECIMAL.fullmatch(text):
        return _int_value(int(text, 0))
    return _NAN  # also Python-only spellings: "inf", "nan", "1_000"


def _to_number(value: Any) -> int | float:
    """JS ``Number(value)``."""
    t = type(value)
    if t is int:
        return _int_value(value)
    if t is float:
        return value
    if t is str:
        return _str_to_number(value)
    if value is None:
        return 0
    if t is bool:
        return 1 if value else 0
    kind = _kind(value)
    if kind == _LIST:
        return _str_to_number(_to_string(value))
    if kind == _BOOL:
        return 1 if value else 0
    if kind == _NUM:
        return _int_value(value) if isinstance(value, int) else float(value)
    if kind == _STR:
        return _str_to_number(str(value))
    return _NAN  # undefined, objects


def _parse_float(value: Any) -> int | float:
    """JS ``parseFloat(value)``: the longest numeric prefix of ``String(value)``."""
    t = type(value)
    if t is float:
        return value
    if t is int:
        return _int_value(value)
    match = _DECIMAL.match((value if t is str else _to_string(value)).lstrip(_JS_WS))
    return _decimal(match.group()) if match else _NAN


def _float_to_string(value: float) -> str:
    """JS ``Number.prototype.toString()``: 1.0 -> "1", 1e21 -> "1e+21", 1e-7 -> "1e-7"."""
    if value != value:
        return "NaN"
    if value in (_INF, -_INF):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    # repr() gives the same shortest round-tripping digits as JS; only the layout differs.
    mantissa, _, exp = repr(abs(value)).partition("e")
    whole, _, frac = mantissa.partition(".")
    if whole == "0":
        stripped = frac.lstrip("0")
        point = len(stripped) - len(frac)
        digits = stripped
    else:
        point = len(whole)
        digits = whole + frac
    point += int(exp or 0)
    digits = digits.rstrip("0")
    k = len(digits)
    if k <= point <= 21:
        return sign + digits + "0" * (point - k)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * -point + digits
    e = point - 1
    body = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{body}e{'+' if e >= 0 else '-'}{abs(e)}"


def _to_string(value: Any) -> str:
    """JS ``String(value)``."""
    t = type(value)
    if t is str:
        return value
    if t is int:
        return (
            str(value) if -_MAX_SAFE <= value <= _MAX_SAFE else _float_to_string(_int_value(value))
        )
    if t is float:
        return _float_to_string(value)
    if t is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    kind = _kind(value)
    if kind == _LIST:
        # Array.prototype.join: null and undefined elements become "".
        return ",".join("" if v is None or v is _UNDEF else _to_string(v) for v in value)
    if kind == _UNDEFINED:
        return "undefined"
    if kind == _BOOL:
        return "true" if value else "false"
    if kind == _NUM:
        return _to_string(int(value) if isinstance(value, int) else float(value))
    if kind == _STR:
        return str(value)
    return "[object Object]"


def _to_primitive(value: Any) -> Any:
    kind = _kind(value)
    return _to_string(value) if kind == _LIST or kind == _OBJ else value


def _utf16_len(text: str) -> int:
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _utf16_slice(text: str, start: int, end: int) -> str:
    # JS indexes strings by UTF-16 code unit; an emoji counts twice.
    if text.isascii():
        return text[start:end]
    units = text.encode("utf-16-le", "surrogatepass")
    return units[2 * start : 2 * end].decode("utf-16-le", "surrogatepass")


def _str_lt(a: str, b: str) -> bool:
    if a.isascii() and b.isascii():
        return a < b
    return a.encode("utf-16-be", "surrogatepass") < b.encode("utf-16-be", "surrogatepass")


def _lt(a: Any, b: Any) -> bool:
    """JS ``a < b``."""
    a, b = _to_primitive(a), _to_primitive(b)
    if _kind(a) == _STR and _kind(b) == _STR:
        return _str_lt(str(a), str(b))
    return _to_number(a) < _to_number(b)  # NaN compares false


def _le(a: Any, b: Any) -> bool:
    """JS ``a <= b``."""
    a, b = _to_primitive(a), _to_primitive(b)
    if _kind(a) == _STR and _kind(b) == _STR:
        return not _str_lt(str(b), str(a))
    return _to_number(a) <= _to_number(b)


def _strict_eq(a: Any, b: Any) -> bool:
    """JS ``a === b``: bool is not a number, arrays and objects compare by identity."""
    ka, kb = _kind(a), _kind(b)
    if ka != kb:
        return False
    if ka == _LIST or ka == _OBJ:
        return a is b
    if ka <= _NULL:
        return True
    return a == b


def _loose_eq(a: Any, b: Any) -> bool:
    """JS ``a == b`` (the Abstract Equality Comparison)."""
    ka, kb = _kind(a), _kind(b)
    if ka == kb:
        if ka == _LIST or ka == _OBJ:
            return a is b
        return ka <= _NULL or a == b
    if ka <= _NULL or kb <= _NULL:
        return ka <= _NULL and kb <= _NULL
    if ka == _BOOL:
        return _loose_eq(1 if a else 0, b)
    if kb == _BOOL:
        return _loose_eq(a, 1 if b else 0)
    if ka == _NUM and kb == _STR:
        return a == _str_to_number(b)
    if ka == _STR and kb == _NUM:
        return _str_to_number(a) == b
    if ka >= _LIST and kb in (_NUM, _STR):
        return _loose_eq(_to_string(a), b)
    if kb >= _LIST and ka in (_NUM, _STR):
        return _loose_eq(a, _to_string(b))
    return False


def _js_plus(a: Any, b: Any) -> Any:
    """JS binary ``a + b``: concatenation as soon as either side is a string."""
    a, b = _to_primitive(a), _to_primitive(b)
    if _kind(a) == _STR or _kind(b) == _STR:
        return _to_string(a) + _to_string(b)
    return _to_number(a) + _to_number(b)


def _to_integer(value: Any) -> int | float:
    """JS ToIntegerOrInfinity."""
    n = _to_number(value)
    if n != n:
        return 0
    if n in (_INF, -_INF):
        return n
    return int(n)


# -- operations on evaluated values -------------------------------------------


def _add(values: list) -> int | float:
    total: int | float = 0
    for v in values:
        total += _parse_float(v)
    return total


def _mul(values: list) -> Any:
    if len(values) == 1:
        return values[0]  # reduce() without an initial value never calls back
    result = _parse_float(values[0])
    for v in values[1:]:
        result *= _parse_float(v)
    return result


def _sub(a: Any, b: Any) -> int | float:
    return _to_number(a) - _to_number(b)


def _div(a: Any, b: Any) -> float:
    a, b = _to_number(a), _to_number(b)
    if b == 0:
        if a != a or a == 0:
            return _NAN
        return math.copysign(_INF, math.copysign(1.0, a) * math.copysign(1.0, b))
    return a / b


def _mod(a: Any, b: Any) -> int | float:
    a, b = _to_number(a), _to_number(b)
    if type(a) is int and type(b) is int:
        if b == 0:
            return _NAN
        r = abs(a) % abs(b)
        return -r if a < 0 else r  # JS keeps the sign of the dividend
    a, b = float(a), float(b)
    if b == 0 or a != a or b != b or a in (_INF, -_INF):
        return _NAN
    if b in (_INF, -_INF):
        return a
    return math.fmod(a, b)


def _min(values: list) -> int | float:
    nums = [_to_number(v) for v in values]
    if any(n != n for n in nums):
        return _NAN
    return min(nums) if nums else _INF


def _max(values: list) -> int | float:
    nums = [_to_number(v) for v in values]
    if any(n != n for n in nums):
        return _NAN
    return max(nums) if nums else -_INF


def _rounded(value: Any, rounder: Callable[[float], int]) -> int | float:
    n = _to_number(value)
    if type(n) is int or n != n or n in (_INF, -_INF):
        return n
    return rounder(n)


def _length(value: Any) -> int:
    kind = _kind(value)
    if kind == _STR:
        return _utf16_len(str(value))
    if kind == _LIST:
        return len(value)
    return 0


def _cat(values: list) -> str:
    # Array.prototype.join(""): null and undefined join as "".
    return "".join(
        v if type(v) is str else "" if v is None or v is _UNDEF else _to_string(v) for v in values
    )


def _js_substr(text: str, start: Any, length: Any) -> str:
    size = _utf16_len(text)
    first = _to_integer(start)
    if first == -_INF:
        first = 0
    elif first < 0:
        first = max(size + first, 0)
    else:
        first = min(first, size)
    count = size if length is _UNDEF else _to_integer(length)
    end = min(first + min(max(count, 0), size), size)
    return _utf16_slice(text, int(first), int(end)) if first < end else ""


def _substr(source: Any, start: Any, end: Any) -> str:
    text = _to_string(source)
    if end is not _UNDEF and _lt(end, 0):
        # Negative length counts from the end, as PHP does.
        rest = _js_substr(text, start, _UNDEF)
        return _js_substr(rest, 0, _js_plus(_utf16_len(rest), end))
    return _js_substr(text, start, end)


def _in(needle: Any, haystack: Any) -> bool:
    kind = _kind(haystack)
    if kind == _STR:
        return haystack != "" and _to_string(needle) in haystack
    if kind == _LIST:
        if type(needle) is str or needle is None:
            return needle in haystack  # == is already === for these
        return any(_strict_eq(needle, item) for item in haystack)
    return False


def _merge(values: list) -> list:
    merged: list = []
    for v in values:
        if _kind(v) == _LIST:
            merged.extend(v)
        else:
            merged.append(v)
    return merged


def _prop(obj: Any, key: str) -> Any:
    """``obj[key]`` as JS reads it, or _UNDEF."""
    kind = _kind(obj)
    if kind == _OBJ:
        return obj.get(key, _UNDEF) if isinstance(obj, Mapping) else _UNDEF
    if kind == _LIST:
        if key.isdigit() and key.isascii() and (key == "0" or key[0] != "0"):
            index = int(key)
            return obj[index] if index < len(obj) else _UNDEF
        return len(obj) if key == "length" else _UNDEF
    if kind == _STR:
        if key.isdigit() and key.isascii() and (key == "0" or key[0] != "0"):
            index = int(key)
            return _utf16_slice(obj, index, index + 1) if index < _utf16_len(obj) else _UNDEF
        return _utf16_len(obj) if key == "length" else _UNDEF
    return _UNDEF


def _walk(data: Any, keys: tuple[str, ...] | list[str], not_found: Any) -> Any:
    for key in keys:
        if data is None or data is _UNDEF:
            return not_found
        data = _prop(data, key)
        if data is _UNDEF:
            return not_found
    return data


def _var(data: Any, path: Any, default: Any = _UNDEF) -> Any:
    if path is _UNDEF or path is None or path == "":
        return data
    return _walk(data, _to_string(path).split("."), None if default is _UNDEF else default)


def _missing(values: list, data: Any) -> list:
    keys = values[0] if values and _kind(values[0]) == _LIST else values
    missing = []
    for key in keys:
        if _kind(key) == _LIST:  # {"var": [path, default]}
            value = _var(data, key[0] if key else _UNDEF, key[1] if len(key) > 1 else _UNDEF)
        else:
            value = _var(data, key)
        if value is None or value == "":
            missing.append(key)
    return missing


def _missing_some(need: Any, options: Any, data: Any, path: Path) -> list:
    kind = _kind(options)
    if kind <= _NULL:
        raise EvaluationError("missing_some needs a list of keys, got null", path)
    are_missing = _missing(list(options) if kind == _LIST else [options], data)
    count = len(options) if kind == _LIST else _utf16_len(str(options)) if kind == _STR else _NAN
    return [] if _le(need, count - len(are_missing)) else are_missing


# -- compilation --------------------------------------------------------------

_NOT_CONST = object()
_MISS = (KeyError, TypeError, IndexError)


def _const(value: Any) -> Evaluator:
    def const(data: Any) -> Any:
        return value

    const.value = value  # type: ignore[attr-defined]
    return const


def _const_value(fn: Evaluator) -> Any:
    return getattr(fn, "value", _NOT_CONST)


def _boolean(fn: Evaluator) -> Evaluator:
    """Mark ``fn`` as always returning a bool, so callers may skip ``truthy``."""
    fn.boolean = True  # type: ignore[attr-defined]
    return fn


def _is_boolean(fn: Evaluator) -> bool:
    return getattr(fn, "boolean", False) or type(_const_value(fn)) is bool


def _identity(data: Any) -> Any:
    return data


_undefined = _const(_UNDEF)
_null = _const(None)


def _arg(args: list[Evaluator], index: int) -> Evaluator:
    return args[index] if index < len(args) else _undefined


def _tester(fn: Evaluator) -> Evaluator:
    """``fn`` followed by ``truthy``, fused away when ``fn`` already yields a bool."""
    if _is_boolean(fn):
        return fn

    def test(data: Any) -> bool:
        v = fn(data)
        t = type(v)
        if t is bool:
            return v
        if t is list or t is str:
            return len(v) != 0
        return truthy(v)

    return _boolean(test)


def _b_var(args: list[Evaluator], path: Path) -> Evaluator:
    if not args:
        return _identity
    fpath = args[0]
    fdefault = args[1] if len(args) > 1 else None
    literal = _const_value(fpath)
    if literal is _NOT_CONST:

        def var_dynamic(data: Any) -> Any:
            return _var(data, fpath(data), _UNDEF if fdefault is None else fdefault(data))

        return var_dynamic
    keys = _split_path(literal)
    return _var_getter(keys, fdefault) if keys else _identity


def _split_path(path: Any) -> tuple[str, ...]:
    """A literal ``var`` path as keys; () for the whole data."""
    if path is None or path == "":
        return ()
    return tuple(_to_string(path).split("."))


def _var_getter(keys: tuple[str, ...], fdefault: Evaluator | None) -> Evaluator:
    # Plain dict lookups first; anything unusual (a list index, "length", a
    # missing key, null on the way) falls back to _walk, which follows JS.
    n = len(keys)
    if fdefault is None:
        if n == 1:
            (k0,) = keys

            def var1(data: Any) -> Any:
                try:
                    return data[k0]
                except _MISS:
                    return _walk(data, keys, None)

            return var1
        if n == 2:
            k0, k1 = keys

            def var2(data: Any) -> Any:
                try:
                    return data[k0][k1]
                except _MISS:
                    return _walk(data, keys, None)

            return var2
        if n == 3:
            k0, k1, k2 = keys

            def var3(data: Any) -> Any:
                try:
                    return data[k0][k1][k2]
                except _MISS:
                    return _walk(data, keys, None)

            return var3

        def var_n(data: Any) -> Any:
            try:
                value = data
                for key in keys:
                    value = value[key]
                return value
            except _MISS:
                return _walk(data, keys, None)

        return var_n

    def var_default(data: Any) -> Any:
        try:
            value = data
            for key in keys:
                value = value[key]
            return value
        except _MISS:
            return _walk(data, keys, fdefault(data))

    return var_default


def _b_missing(args: list[Evaluator], path: Path) -> Evaluator:
    literal = _literal_keys(args)
    if literal is not None:
        split = tuple((key, _split_path(key)) for key in literal)

        def missing_literal(data: Any) -> list:
            missing = []
            for key, keys in split:
                try:
                    value = data
                    for k in keys:
                        value = value[k]
                except _MISS:
                    value = _walk(data, keys, None)
                if value is None or value == "":
                    missing.append(key)
            return missing

        def all_present(data: Any) -> bool:
            # {"!": {"missing": [...]}} is a common guard: stop at the first gap.
            for _, keys in split:
                try:
                    value = data
                    for k in keys:
                        value = value[k]
                except _MISS:
                    value = _walk(data, keys, None)
                if value is None or value == "":
                    return False
            return True

        missing_literal.all_present = _boolean(all_present)  # type: ignore[attr-defined]
        return missing_literal
    fs = tuple(args)

    def missing(data: Any) -> list:
        return _missing([f(data) for f in fs], data)

    return missing


def _literal_keys(args: list[Evaluator]) -> list | None:
    """The keys ``missing`` checks when they are all literal scalars, else None."""
    items = getattr(args[0], "constant_items", None) if args else None
    keys = items if items is not None else [_const_value(f) for f in args]
    if all(type(k) in _SCALARS for k in keys):
        return keys
    return None


def _b_missing_some(args: list[Evaluator], path: Path) -> Evaluator:
    if len(args) < 2:
        raise InvalidRule("missing_some takes [how many, [keys...]]", path)
    fneed, fkeys = args[0], args[1]

    def missing_some(data: Any) -> list:
        return _missing_some(fneed(data), fkeys(data), data, path)

    return missing_some


def _b_if(args: list[Evaluator], path: Path) -> Evaluator:
    n = len(args)
    if n == 0:
        return _null
    if n == 1:
        return args[0]
    if n == 3:
        cond, then, other = _tester(args[0]), args[1], args[2]

        def if3(data: Any) -> Any:
            return then(data) if cond(data) else other(data)

        return if3
    pairs = tuple((_tester(args[i]), args[i + 1]) for i in range(0, n - 1, 2))
    last = args[-1] if n % 2 else _null

    def if_n(data: Any) -> Any:
        for cond, then in pairs:
            if cond(data):
                return then(data)
        return last(data)

    return if_n


def _b_and(args: list[Evaluator], path: Path) -> Evaluator:
    if not args:
        return _null
    if len(args) == 1:
        return args[0]
    if all(_is_boolean(f) for f in args):
        fs = tuple(args)
        if len(fs) == 2:
            f0, f1 = fs
            return _boolean(lambda data: f0(data) and f1(data))
        return _boolean(lambda data: all(f(data) for f in fs))
    head, last = tuple(args[:-1]), args[-1]

    def and_(data: Any) -> Any:
        for f in head:
            v = f(data)
            if v is False or (v is not True and not truthy(v)):
                return v  # the first falsy value decides
        return last(data)

    return and_


def _b_or(args: list[Evaluator], path: Path) -> Evaluator:
    if not args:
        return _null
    if len(args) == 1:
        return args[0]
    if all(_is_boolean(f) for f in args):
        fs = tuple(args)
        if len(fs) == 2:
            f0, f1 = fs
            return _boolean(lambda data: f0(data) or f1(data))
        return _boolean(lambda data: any(f(data) for f in fs))
    head, last = tuple(args[:-1]), args[-1]

    def or_(data: Any) -> Any:
        for f in head:
            v = f(data)
            if v is True or (v is not False and truthy(v)):
                return v  # the first truthy value decides
        return last(data)

    return or_


def _b_not(args: list[Evaluator], path: Path) -> Evaluator:
    fn = _arg(args, 0)
    if _is_boolean(fn):
        return _boolean(lambda data: not fn(data))
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

    return _boolean(not_)


def _b_notnot(args: list[Evaluator], path: Path) -> Evaluator:
    return _tester(_arg(args, 0))


def _b_loose_eq(args: list[Evaluator], path: Path) -> Evaluator:
    fa, fb = _arg(args, 0), _arg(args, 1)

    def eq(data: Any) -> bool:
        a, b = fa(data), fb(data)
        t = type(a)
        if t is type(b) and t is not list and t is not dict:
            return a == b  # one type: no coercion, and NaN != NaN as in JS
        return _loose_eq(a, b)

    return _boolean(eq)


def _b_loose_ne(args: list[Evaluator], path: Path) -> Evaluator:
    eq = _b_loose_eq(args, path)
    return _boolean(lambda data: not eq(data))


def _b_strict_eq(args: list[Evaluator], path: Path) -> Evaluator:
    fa, fb = _arg(args, 0), _arg(args, 1)

    def strict_eq(data: Any) -> bool:
        a, b = fa(data), fb(data)
        t = type(a)
        if t is type(b) and t is not list and t is not dict:
            return a == b
        return _strict_eq(a, b)

    return _boolean(strict_eq)


def _b_strict_ne(args: list[Evaluator], path: Path) -> Evaluator:
    eq = _b_strict_eq(args, path)
    return _boolean(lambda data: not eq(data))


# Comparisons are the bulk of guards: compare plain numbers directly and fall
# back to the JS algorithm only for anything else. `type(x) is int` also keeps
# bools off the fast path.


def _b_lt(args: list[Evaluator], path: Path) -> Evaluator:
    if len(args) >= 3:
        return _between(args, _lt)
    fa, fb = _arg(args, 0), _arg(args, 1)

    def lt(data: Any) -> bool:
        a, b = fa(data), fb(data)
        ta, tb = type(a), type(b)
        if (ta is int or ta is float) and (tb is int or tb is float):
            return a < b
        return _lt(a, b)

    return _boolean(lt)


def _b_le(args: list[Evaluator], path: Path) -> Evaluator:
    if len(args) >= 3:
        return _between(args, _le)
    fa, fb = _arg(args, 0), _arg(args, 1)

    def le(data: Any) -> bool:
        a, b = fa(data), fb(data)
        ta, tb = type(a), type(b)
        if (ta is int or ta is float) and (tb is int or tb is float):
            return a <= b
        return _le(a, b)

    return _boolean(le)


def _b_gt(args: list[Evaluator], path: Path) -> Evaluator:
    fa, fb = _arg(args, 0), _arg(args, 1)

    def gt(data: Any) -> bool:
        a, b = fa(data), fb(data)
        ta, tb = type(a), type(b)
        if (ta is int or ta is float) and (tb is int or tb is float):
            return a > b
        return _lt(b, a)

    return _boolean(gt)


def _b_ge(args: list[Evaluator], path: Path) -> Evaluator:
    fa, fb = _arg(args, 0), _arg(args, 1)

    def ge(data: Any) -> bool:
        a, b = fa(data), fb(data)
        ta, tb = type(a), type(b)
        if (ta is int or ta is float) and (tb is int or tb is float):
            return a >= b
        return _le(b, a)

    return _boolean(ge)


def _between(args: list[Evaluator], compare: Callable[[Any, Any], bool]) -> Evaluator:
    fa, fb, fc = args[0], args[1], args[2]
    strict = compare is _lt

    def between(data: Any) -> bool:
        a, b, c = fa(data), fb(data), fc(data)
        ta, tb, tc = type(a), type(b), type(c)
        if (ta is int or ta is float) and (tb is int or tb is float) and (tc is int or tc is float):
            return a < b < c if strict else a <= b <= c
        return compare(a, b) and compare(b, c)

    return _boolean(between)


def _b_in(args: list[Evaluator], path: Path) -> Evaluator:
    fa, fb = _arg(args, 0), _arg(args, 1)

    def in_(data: Any) -> bool:
        a, b = fa(data), fb(data)
        if type(b) is list and type(a) is str:
            return a in b
        return _in(a, b)

    return _boolean(in_)


def _variadic(op: Callable[[list], Any]) -> Callable[[list[Evaluator], Path], Evaluator]:
    def build(args: list[Evaluator], path: Path) -> Evaluator:
        fs = tuple(args)
        return lambda data: op([f(data) for f in fs])

    return build


def _binary(op: Callable[[Any, Any], Any]) -> Callable[[list[Evaluator], Path], Evaluator]:
    def build(args: list[Evaluator], path: Path) -> Evaluator:
        fa, fb = _arg(args, 0), _arg(args, 1)
        return lambda data: op(fa(data), fb(data))

    return build


def _unary(op: Callable[[Any], Any]) -> Callable[[list[Evaluator], Path], Evaluator]:
    def build(args: list[Evaluator], path: Path) -> Evaluator:
        fa = _arg(args, 0)
        return lambda data: op(fa(data))

    return build


def _b_add(args: list[Evaluator], path: Path) -> Evaluator:
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
            return _add([a, b])

        return add2
    fs = tuple(args)

    def add(data: Any) -> int | float:
        values = [f(data) for f in fs]
        total = 0
        try:
            for v in values:
                t = type(v)
                total += v if t is int or t is float else _parse_float(v)
        except OverflowError:
            return _add(values)
        return total

    return add


def _b_mul(args: list[Evaluator], path: Path) -> Evaluator:
    if not args:
        raise InvalidRule("'*' needs at least one argument", path)
    if len(args) == 1:
        return args[0]
    fs = tuple(args)

    def mul(data: Any) -> Any:
        values = [f(data) for f in fs]
        try:
            return _mul(values)
        except OverflowError:
            return _mul([_parse_float(v) for v in values])

    return mul


def _b_sub(args: list[Evaluator], path: Path) -> Evaluator:
    fa = _arg(args, 0)
    if len(args) < 2:
        return lambda data: -_to_number(fa(data))
    fb = args[1]

    def sub(data: Any) -> int | float:
        a, b = fa(data), fb(data)
        ta, tb = type(a), type(b)
        if (ta is int or ta is float) and (tb is int or tb is float):
            try:
                return a - b
            except OverflowError:
                pass
        return _sub(a, b)

    return sub


def _b_div(args: list[Evaluator], path: Path) -> Evaluator:
    fa, fb = _arg(args, 0), _arg(args, 1)

    def div(data: Any) -> float:
        a, b = fa(data), fb(data)
        ta, tb = type(a), type(b)
        if (ta is int or ta is float) and (tb is int or tb is float) and b:
            try:
                return a / b
            except OverflowError:
                pass
        return _div(a, b)

    return div


def _b_substr(args: list[Evaluator], path: Path) -> Evaluator:
    fs, fstart, fend = _arg(args, 0), _arg(args, 1), _arg(args, 2)
    return lambda data: _substr(fs(data), fstart(data), fend(data))


def _scoped_parts(args: list[Evaluator]) -> tuple[Evaluator, Evaluator]:
    return (args[0] if args else _null), (args[1] if len(args) > 1 else _null)


def _items(value: Any) -> list | None:
    if type(value) is list:
        return value
    return list(value) if _kind(value) == _LIST else None


def _b_map(args: list[Evaluator], path: Path) -> Evaluator:
    source, body = _scoped_parts(args)

    def map_(data: Any) -> list:
        items = _items(source(data))
        return [] if items is None else [body(item) for item in items]

    return map_


def _b_filter(args: list[Evaluator], path: Path) -> Evaluator:
    source, body = _scoped_parts(args)
    test = _tester(body)

    def filter_(data: Any) -> list:
        items = _items(source(data))
        return [] if items is None else [item for item in items if test(item)]

    return filter_


def _b_reduce(args: list[Evaluator], path: Path) -> Evaluator:
    source, body = _scoped_parts(args)
    initial = args[2] if len(args) > 2 else _null

    def reduce_(data: Any) -> Any:
        items = _items(source(data))
        accumulator = initial(data)
        if items is None:
            return accumulator
        for item in items:
            accumulator = body({"current": item, "accumulator": accumulator})
        return accumulator

    return reduce_


def _b_all(args: list[Evaluator], path: Path) -> Evaluator:
    source, body = _scoped_parts(args)
    test = _tester(body)

    def all_(data: Any) -> bool:
        items = _items(source(data))
        if not items:
            return False  # all of nothing is false
        for item in items:
            if not test(item):
                return False
        return True

    return _boolean(all_)


def _b_none(args: list[Evaluator], path: Path) -> Evaluator:
    source, body = _scoped_parts(args)
    test = _tester(body)

    def none_(data: Any) -> bool:
        items = _items(source(data))
        if items:
            for item in items:
                if test(item):
                    return False
        return True

    return _boolean(none_)


def _b_some(args: list[Evaluator], path: Path) -> Evaluator:
    source, body = _scoped_parts(args)
    test = _tester(body)

    def some_(data: Any) -> bool:
        items = _items(source(data))
        if items:
            for item in items:
                if test(item):
                    return True
        return False

    return _boolean(some_)


_BUILDERS: dict[str, Callable[[list[Evaluator], Path], Evaluator]] = {
    # data access
    "var": _b_var,
    "missing": _b_missing,
    "missing_some": _b_missing_some,
    # logic
    "if": _b_if,
    "?:": _b_if,
    "and": _b_and,
    "or": _b_or,
    "!": _b_not,
    "!!": _b_notnot,
    "==": _b_loose_eq,
    "!=": _b_loose_ne,
    "===": _b_strict_eq,
    "!==": _b_strict_ne,
    # numbers
    "<": _b_lt,
    "<=": _b_le,
    ">": _b_gt,
    ">=": _b_ge,
    "max": _variadic(_max),
    "min": _variadic(_min),
    "+": _b_add,
    "-": _b_sub,
    "*": _b_mul,
    "/": _b_div,
    "%": _binary(_mod),
    # arrays
    "map": _b_map,
    "filter": _b_filter,
    "reduce": _b_reduce,
    "all": _b_all,
    "none": _b_none,
    "some": _b_some,
    "merge": _variadic(_merge),
    "in": _b_in,
    # strings
    "cat": _variadic(_cat),
    "substr": _b_substr,
    # ours; a mini-program registers them with jsonLogic.add_operation
    "length": _unary(_length),
    "floor": _unary(lambda v: _rounded(v, math.floor)),
    "ceil": _unary(lambda v: _rounded(v, math.ceil)),
}

ALLOWED_OPERATORS: frozenset[str] = frozenset(_BUILDERS)
"""Every jsonlogic.com operator except ``method`` and ``log``, plus ``length``, ``floor``, ``ceil``."""

_REFUSED = {
    "method": "operator 'method' is refused: it calls arbitrary methods on data",
    "log": "operator 'log' is refused: rules have no side effects",
}
# Operators whose result depends on nothing but their arguments, so constant
# arguments give a constant result that can be computed once.
_FOLDABLE = ALLOWED_OPERATORS - {"var", "missing", "missing_some"}
_SCOPED = frozenset({"map", "filter", "reduce", "all", "none", "some"})
_SCALARS = (type(None), bool, int, float, str)


def _check(rule: Any) -> None:
    """Refuse non-JSON values and oversized rules before anything recurses."""
    count = 0
    stack: list[tuple[Any, tuple, int]] = [(rule, (), 1)]
    while stack:
        node, path, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise RuleTooLarge(f"rule has more than {MAX_NODES} values", [])
        t = type(node)
        if t is dict or t is list:
            if depth > MAX_DEPTH:
                raise RuleTooDeep(f"rule nests deeper than {MAX_DEPTH} levels", list(path))
            if t is dict:
                for key, value in node.items():
                    if type(key) is not str:
                        raise InvalidRule(
                            f"object keys must be strings, not {type(key).__name__}", list(path)
                        )
                    stack.append((value, (*path, key), depth + 1))
            else:
                stack.extend((value, (*path, i), depth + 1) for i, value in enumerate(node))
        elif t not in _SCALARS:
            raise InvalidRule(f"not a JSON value: {t.__name__}", list(path))


def _compile(node: Any, path: Path) -> Evaluator:
    t = type(node)
    if t is dict:
        if len(node) != 1:
            return _literal_object(node)
        ((op, values),) = node.items()
        return _compile_op(op, values, path)
    if t is list:
        fs = [_compile(item, [*path, i]) for i, item in enumerate(node)]
        consts = [_const_value(f) for f in fs]
        if _NOT_CONST not in consts:
            array = lambda data: list(consts)  # noqa: E731 - a fresh array per evaluation, as in JS
            array.constant_items = consts  # type: ignore[attr-defined]
            return array
        fs_t = tuple(fs)
        return lambda data: [f(data) for f in fs_t]
    return _const(node)


def _literal_object(node: dict) -> Evaluator:
    # Objects with other than one key are data, not operations.
    if not node:
        return lambda data: {}
    frozen = copy.deepcopy(node)
    return lambda data: copy.deepcopy(frozen)


def _compile_op(op: str, values: Any, path: Path) -> Evaluator:
    build = _BUILDERS.get(op)
    if build is None:
        raise UnknownOperator(op, path, _REFUSED.get(op))
    if type(values) is list:
        args = [_compile(v, [*path, op, i]) for i, v in enumerate(values)]
    else:
        args = [_compile(values, [*path, op])]  # {"var": "x"} is short for {"var": ["x"]}
    fn = build(args, path)
    if op in _FOLDABLE and all(_const_value(f) is not _NOT_CONST for f in args):
        value = fn(None)
        if type(value) in _SCALARS:
            return _const(value)
    return fn


def compile_rule(rule: Any) -> Callable[[Any], Any]:
    """Validate ``rule`` once and return ``f(data)`` that evaluates it like json-logic-js.

    Raises a ``JsonLogicError`` (with ``.path``) for unknown or refused
    operators, non-JSON values and rules over ``MAX_DEPTH`` / ``MAX_NODES``.
    """
    _check(rule)
    return _compile(rule, [])


def apply(rule: Any, data: Any = None) -> Any:
    """One-off evaluation, like ``jsonLogic.apply``; compile once when reusing a rule."""
    return compile_rule(rule)(data)


# -- introspection ------------------------------------------------------------


def _operations(rule: Any) -> Iterator[tuple[str, list, bool]]:
    """Yield ``(operator, arguments, scoped)`` for every operation that would run.

    ``scoped`` is true inside the per-item body of map/filter/reduce/all/none/some,
    where ``var`` reads the item rather than the data. Literal objects are skipped:
    json-logic-js never evaluates what is inside them.
    """
    stack: list[tuple[Any, bool]] = [(rule, False)]
    while stack:
        node, scoped = stack.pop()
        if type(node) is list:
            stack.extend((item, scoped) for item in reversed(node))
        elif type(node) is dict and len(node) == 1:
            ((op, values),) = node.items()
            args = values if type(values) is list else [values]
            yield op, args, scoped
            stack.extend(
                (arg, scoped or (op in _SCOPED and i == 1))
                for i, arg in reversed(list(enumerate(args)))
            )


def operators_in(rule: Any) -> set[str]:
    """Names of the operations ``rule`` uses, unknown ones included (nothing is raised)."""
    return {op for op, _, _ in _operations(rule)}


def _literal_path(value: Any) -> str | None:
    if type(value) in (str, int, float, bool) and value != "":
        return _to_string(value)
    return None


def _read_paths(rule: Any, want_scoped: bool) -> list[str]:
    paths: dict[str, None] = {}
    for op, args, scoped in _operations(rule):
        if scoped is not want_scoped:
            continue
        if op == "var":
            keys = args[:1]
        elif op == "missing":
            keys = args[0] if args and type(args[0]) is list else args
        elif op == "missing_some":
            keys = args[1] if len(args) > 1 and type(args[1]) is list else args[1:2]
        else:
            continue
        for key in keys:
            literal = _literal_path(key)
            if literal is not None:
                paths[literal] = None
    return list(paths)


def var_paths(rule: Any) -> list[str]:
    """Literal data paths ``rule`` reads (``var``, ``missing``, ``missing_some`` keys).

    Paths inside the per-item body of map/filter/reduce/all/none/some are left
    out: they name fields of the item, not of the data (see ``scoped_var_paths``).
    Computed paths and ``""`` (the whole data) are left out too.
    """
    return _read_paths(rule, want_scoped=False)


def scoped_var_paths(rule: Any) -> list[str]:
    """Literal paths read inside per-item bodies, relative to the item
    (``current``/``accumulator`` for ``reduce``)."""
    return _read_paths(rule, want_scoped=True)
