"""JavaScript value semantics, as json-logic-js gets them from the language.

Rules see JSON values through JS eyes: truthiness where ``[]`` is falsy but ``{}`` is not,
loose ``==``, ``Number()`` and ``parseFloat`` coercions, ``String()`` with JS number
formatting, and strings measured and compared in UTF-16 code units. Python's own
``bool()``, ``==``, ``float()`` and ``str()`` differ from all of them.
"""

from __future__ import annotations

import math
import re
from typing import Any


class Undefined:
    """JS ``undefined``: what a named parameter sees when its argument is absent."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "undefined"


UNDEFINED = Undefined()
NAN = math.nan
INF = math.inf

# What typeof-like dispatch works on; the order matters (<= NULL means "nullish",
# >= ARRAY means "an object in JS").
UNDEFINED_KIND, NULL, BOOL, NUMBER, STRING, ARRAY, OBJECT = range(7)
_KINDS = {
    Undefined: UNDEFINED_KIND,
    type(None): NULL,
    bool: BOOL,
    int: NUMBER,
    float: NUMBER,
    str: STRING,
    list: ARRAY,
    dict: OBJECT,
}


def kind_of(value: Any) -> int:
    """Which of the JS kinds above ``value`` is."""
    kind = _KINDS.get(type(value))
    if kind is not None:
        return kind
    # Subclasses and the odd tuple a caller may pass as data.
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int | float):
        return NUMBER
    if isinstance(value, str):
        return STRING
    if isinstance(value, list | tuple):
        return ARRAY
    return OBJECT


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
    kind = kind_of(value)
    if kind == UNDEFINED_KIND:
        return False
    if kind == BOOL:
        return bool(value)
    if kind == NUMBER:
        return value == value and value != 0
    if kind == STRING or kind == ARRAY:
        return len(value) != 0
    return True


_MAX_SAFE = 2**53
# StrWhiteSpaceChar: what JS trims, which is not what str.strip() trims.
_JS_WS = (
    "\t\n\v\f\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
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
        return INF if value > 0 else -INF


def _decimal(text: str) -> int | float:
    if _SHORT_INT.fullmatch(text):
        return int(text)  # keep integral input integral for Python callers
    if text.endswith("Infinity"):
        return -INF if text[0] == "-" else INF
    return float(text)


def _str_to_number(text: str) -> int | float:
    text = text.strip(_JS_WS)
    if not text:
        return 0
    if _DECIMAL.fullmatch(text):
        return _decimal(text)
    if _NON_DECIMAL.fullmatch(text):
        return _int_value(int(text, 0))
    return NAN  # also Python-only spellings: "inf", "nan", "1_000"


def to_number(value: Any) -> int | float:
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
    kind = kind_of(value)
    if kind == ARRAY:
        return _str_to_number(to_string(value))
    if kind == BOOL:
        return 1 if value else 0
    if kind == NUMBER:
        return _int_value(value) if isinstance(value, int) else float(value)
    if kind == STRING:
        return _str_to_number(str(value))
    return NAN  # undefined, objects


def parse_float(value: Any) -> int | float:
    """JS ``parseFloat(value)``: the longest numeric prefix of ``String(value)``."""
    t = type(value)
    if t is float:
        return value
    if t is int:
        return _int_value(value)
    match = _DECIMAL.match((value if t is str else to_string(value)).lstrip(_JS_WS))
    return _decimal(match.group()) if match else NAN


def _float_to_string(value: float) -> str:
    """JS ``Number.prototype.toString()``: 1.0 -> "1", 1e21 -> "1e+21", 1e-7 -> "1e-7"."""
    if value != value:
        return "NaN"
    if value in (INF, -INF):
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


def to_string(value: Any) -> str:
    """JS ``String(value)``."""
    t = type(value)
    if t is str:
        return value
    if t is int:
        if -_MAX_SAFE <= value <= _MAX_SAFE:
            return str(value)
        return _float_to_string(_int_value(value))
    if t is float:
        return _float_to_string(value)
    if t is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    kind = kind_of(value)
    if kind == ARRAY:
        # Array.prototype.join: null and undefined elements become "".
        return ",".join("" if v is None or v is UNDEFINED else to_string(v) for v in value)
    if kind == UNDEFINED_KIND:
        return "undefined"
    if kind == BOOL:
        return "true" if value else "false"
    if kind == NUMBER:
        return to_string(int(value) if isinstance(value, int) else float(value))
    if kind == STRING:
        return str(value)
    return "[object Object]"


def _to_primitive(value: Any) -> Any:
    kind = kind_of(value)
    return to_string(value) if kind == ARRAY or kind == OBJECT else value


def to_integer(value: Any) -> int | float:
    """JS ToIntegerOrInfinity."""
    n = to_number(value)
    if n != n:
        return 0
    if n in (INF, -INF):
        return n
    return int(n)


def utf16_len(text: str) -> int:
    """``text.length`` in JS: UTF-16 code units, so an emoji counts twice."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def utf16_slice(text: str, start: int, end: int) -> str:
    """``text.slice(start, end)`` for 0 <= start <= end, in UTF-16 code units."""
    if text.isascii():
        return text[start:end]
    units = text.encode("utf-16-le", "surrogatepass")
    return units[2 * start : 2 * end].decode("utf-16-le", "surrogatepass")


def _str_lt(a: str, b: str) -> bool:
    if a.isascii() and b.isascii():
        return a < b
    return a.encode("utf-16-be", "surrogatepass") < b.encode("utf-16-be", "surrogatepass")


def less_than(a: Any, b: Any) -> bool:
    """JS ``a < b``."""
    a, b = _to_primitive(a), _to_primitive(b)
    if kind_of(a) == STRING and kind_of(b) == STRING:
        return _str_lt(str(a), str(b))
    return to_number(a) < to_number(b)  # NaN compares false


def less_or_equal(a: Any, b: Any) -> bool:
    """JS ``a <= b``."""
    a, b = _to_primitive(a), _to_primitive(b)
    if kind_of(a) == STRING and kind_of(b) == STRING:
        return not _str_lt(str(b), str(a))
    return to_number(a) <= to_number(b)


def strict_equals(a: Any, b: Any) -> bool:
    """JS ``a === b``: bool is not a number, arrays and objects compare by identity."""
    ka, kb = kind_of(a), kind_of(b)
    if ka != kb:
        return False
    if ka == ARRAY or ka == OBJECT:
        return a is b
    if ka <= NULL:
        return True
    return a == b


def loose_equals(a: Any, b: Any) -> bool:
    """JS ``a == b`` (the Abstract Equality Comparison)."""
    ka, kb = kind_of(a), kind_of(b)
    if ka == kb:
        if ka == ARRAY or ka == OBJECT:
            return a is b
        return ka <= NULL or a == b
    if ka <= NULL or kb <= NULL:
        return ka <= NULL and kb <= NULL
    if ka == BOOL:
        return loose_equals(1 if a else 0, b)
    if kb == BOOL:
        return loose_equals(a, 1 if b else 0)
    if ka == NUMBER and kb == STRING:
        return a == _str_to_number(b)
    if ka == STRING and kb == NUMBER:
        return _str_to_number(a) == b
    if ka >= ARRAY and kb in (NUMBER, STRING):
        return loose_equals(to_string(a), b)
    if kb >= ARRAY and ka in (NUMBER, STRING):
        return loose_equals(a, to_string(b))
    return False


def plus(a: Any, b: Any) -> Any:
    """JS binary ``a + b``: concatenation as soon as either side is a string."""
    a, b = _to_primitive(a), _to_primitive(b)
    if kind_of(a) == STRING or kind_of(b) == STRING:
        return to_string(a) + to_string(b)
    return to_number(a) + to_number(b)
