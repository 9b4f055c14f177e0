"""What each operator does with its evaluated arguments, as json-logic-js does it.

These are the general cases on any JSON value. The closures in ``closures`` call them
when their fast paths for plain numbers and dicts do not apply; the reference
interpreter of the tests calls them directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from magic_cube.rules.jsonlogic.errors import EvaluationError
from magic_cube.rules.jsonlogic.js import (
    ARRAY,
    INF,
    NAN,
    NULL,
    OBJECT,
    STRING,
    UNDEFINED,
    kind_of,
    less_or_equal,
    less_than,
    parse_float,
    plus,
    strict_equals,
    to_integer,
    to_number,
    to_string,
    utf16_len,
    utf16_slice,
)

# -- numbers -------------------------------------------------------------------


def add(values: list) -> int | float:
    """``+``: parseFloat of every argument, summed."""
    total: int | float = 0
    for v in values:
        total += parse_float(v)
    return total


def multiply(values: list) -> Any:
    """``*``: a single argument comes back as it is."""
    if len(values) == 1:
        return values[0]  # reduce() without an initial value never calls back
    result = parse_float(values[0])
    for v in values[1:]:
        result *= parse_float(v)
    return result


def subtract(a: Any, b: Any) -> int | float:
    return to_number(a) - to_number(b)


def divide(a: Any, b: Any) -> float:
    a, b = to_number(a), to_number(b)
    if b == 0:
        if a != a or a == 0:
            return NAN
        return math.copysign(INF, math.copysign(1.0, a) * math.copysign(1.0, b))
    return a / b


def remainder(a: Any, b: Any) -> int | float:
    """``%``: JS keeps the sign of the dividend, Python the sign of the divisor."""
    a, b = to_number(a), to_number(b)
    if type(a) is int and type(b) is int:
        if b == 0:
            return NAN
        r = abs(a) % abs(b)
        return -r if a < 0 else r
    a, b = float(a), float(b)
    if b == 0 or a != a or b != b or a in (INF, -INF):
        return NAN
    if b in (INF, -INF):
        return a
    return math.fmod(a, b)


def minimum(values: list) -> int | float:
    nums = [to_number(v) for v in values]
    if any(n != n for n in nums):
        return NAN
    return min(nums) if nums else INF


def maximum(values: list) -> int | float:
    nums = [to_number(v) for v in values]
    if any(n != n for n in nums):
        return NAN
    return max(nums) if nums else -INF


def rounded(value: Any, rounder: Callable[[float], int]) -> int | float:
    """``floor`` and ``ceil``: integers, NaN and infinities stay as they are."""
    n = to_number(value)
    if type(n) is int or n != n or n in (INF, -INF):
        return n
    return rounder(n)


# -- strings and arrays --------------------------------------------------------


def length(value: Any) -> int:
    kind = kind_of(value)
    if kind == STRING:
        return utf16_len(str(value))
    if kind == ARRAY:
        return len(value)
    return 0


def keys_of(value: Any) -> list[str]:
    """``keys``: an object's keys, sorted, so that every store and replay see one order
    (PostgreSQL's jsonb does not keep insertion order); ``[]`` for anything else."""
    return sorted(value) if kind_of(value) == OBJECT else []


def values_of(value: Any) -> list[Any]:
    """``values``: an object's values in the order of ``keys``; ``[]`` for anything else."""
    return [value[k] for k in sorted(value)] if kind_of(value) == OBJECT else []


def size(value: Any) -> int:
    """``size``: the number of an object's keys, else what ``length`` says."""
    return len(value) if kind_of(value) == OBJECT else length(value)


def cat(values: list) -> str:
    # Array.prototype.join(""): null and undefined join as "".
    return "".join(
        v if type(v) is str else "" if v is None or v is UNDEFINED else to_string(v)
        for v in values
    )


def _js_substr(text: str, start: Any, count: Any) -> str:
    """JS ``text.substr(start, count)``."""
    size = utf16_len(text)
    first = to_integer(start)
    if first == -INF:
        first = 0
    elif first < 0:
        first = max(size + first, 0)
    else:
        first = min(first, size)
    wanted = size if count is UNDEFINED else to_integer(count)
    end = min(first + min(max(wanted, 0), size), size)
    return utf16_slice(text, int(first), int(end)) if first < end else ""


def substr(source: Any, start: Any, end: Any) -> str:
    text = to_string(source)
    if end is not UNDEFINED and less_than(end, 0):
        # Negative length counts from the end, as PHP does.
        rest = _js_substr(text, start, UNDEFINED)
        return _js_substr(rest, 0, plus(utf16_len(rest), end))
    return _js_substr(text, start, end)


def contains(needle: Any, haystack: Any) -> bool:
    """``in``: a substring of a string, or an element (by ===) of an array."""
    kind = kind_of(haystack)
    if kind == STRING:
        return haystack != "" and to_string(needle) in haystack
    if kind == ARRAY:
        if type(needle) is str or needle is None:
            return needle in haystack  # == is already === for these
        return any(strict_equals(needle, item) for item in haystack)
    return False


def merge(values: list) -> list:
    merged: list = []
    for v in values:
        if kind_of(v) == ARRAY:
            merged.extend(v)
        else:
            merged.append(v)
    return merged


# -- data access ---------------------------------------------------------------


def _is_index(key: str) -> bool:
    return key.isdigit() and key.isascii() and (key == "0" or key[0] != "0")


def _prop(obj: Any, key: str) -> Any:
    """``obj[key]`` as JS reads it, or UNDEFINED."""
    kind = kind_of(obj)
    if kind == OBJECT:
        return obj.get(key, UNDEFINED) if isinstance(obj, Mapping) else UNDEFINED
    if kind == ARRAY:
        if _is_index(key):
            index = int(key)
            return obj[index] if index < len(obj) else UNDEFINED
        return len(obj) if key == "length" else UNDEFINED
    if kind == STRING:
        if _is_index(key):
            index = int(key)
            return utf16_slice(obj, index, index + 1) if index < utf16_len(obj) else UNDEFINED
        return utf16_len(obj) if key == "length" else UNDEFINED
    return UNDEFINED


def walk(data: Any, keys: Sequence[str], not_found: Any) -> Any:
    """Follow ``keys`` down ``data`` as JS property reads; ``not_found`` at the first gap."""
    for key in keys:
        if type(data) is dict:  # what _prop does for a plain object, without its checks
            data = data.get(key, UNDEFINED)
        elif data is None or data is UNDEFINED:
            return not_found
        else:
            data = _prop(data, key)
        if data is UNDEFINED:
            return not_found
    return data


def var(data: Any, path: Any, default: Any = UNDEFINED) -> Any:
    """``var``: the value at the dotted ``path``, ``default`` (or null) if there is none."""
    if path is UNDEFINED or path is None or path == "":
        return data
    return walk(data, to_string(path).split("."), None if default is UNDEFINED else default)


def missing(values: list, data: Any) -> list:
    """``missing``: the keys whose value is null, absent or ""."""
    keys = values[0] if values and kind_of(values[0]) == ARRAY else values
    absent = []
    for key in keys:
        if kind_of(key) == ARRAY:  # {"var": [path, default]}
            value = var(data, key[0] if key else UNDEFINED, key[1] if len(key) > 1 else UNDEFINED)
        else:
            value = var(data, key)
        if value is None or value == "":
            absent.append(key)
    return absent


def missing_some(need: Any, options: Any, data: Any, path: Sequence[str | int]) -> list:
    """``missing_some``: [] when at least ``need`` of ``options`` are present."""
    kind = kind_of(options)
    if kind <= NULL:
        raise EvaluationError("missing_some needs a list of keys, got null", path)
    absent = missing(list(options) if kind == ARRAY else [options], data)
    count = len(options) if kind == ARRAY else utf16_len(str(options)) if kind == STRING else NAN
    return [] if less_or_equal(need, count - len(absent)) else absent
