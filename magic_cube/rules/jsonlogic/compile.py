"""Validate a whole rule once and compile it into a tree of closures.

Evaluating a compiled rule looks nothing up by operator name, and every operation whose
arguments are all constant has already been computed.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from magic_cube.rules.jsonlogic.closures import (
    ALLOWED_OPERATORS,
    DATE_OPERATORS,
    JSON_SCALARS,
    NOT_CONSTANT,
    OPERATORS,
    PRESERVE,
    Evaluator,
    constant,
    constant_value,
)
from magic_cube.rules.jsonlogic.errors import (
    InvalidRule,
    Path,
    RuleTooDeep,
    RuleTooLarge,
    UnknownOperator,
)

MAX_DEPTH = 64
"""Deepest nesting of objects and arrays a rule may have."""
MAX_NODES = 10_000
"""Most values (objects, arrays and scalars) a rule may contain."""

_REFUSED = {
    "method": "operator 'method' is refused: it calls arbitrary methods on data",
    "log": "operator 'log' is refused: rules have no side effects",
}
# Operators whose result depends on nothing but their arguments, so constant
# arguments give a constant result that can be computed once.
# Date operators depend on the activity's zone, known only when a rule runs.
_FOLDABLE = ALLOWED_OPERATORS - {"var", "missing", "missing_some", "val", "exists", "try",
                                  "throw", *DATE_OPERATORS}
# Operators whose second argument runs once per item, with the item as its data.
_LOOPS = frozenset({"map", "filter", "reduce", "all", "none", "some"})


def _rescoped(op: str, index: int) -> bool:
    """Whether argument ``index`` of ``op`` runs with other data (an item, an error)."""
    return (op in _LOOPS and index == 1) or (op == "try" and index >= 1)
DEFINITION_OPERATOR = "def"
"""Reads a named expression of the template: ``{"def": "NAME"}``."""

Definitions = Mapping[str, Evaluator]
Known = Mapping[str, Any]
"""Data whose values are the same wherever a rule runs, by top-level key (``config``, for a
template compiled for one activity's config)."""


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
        elif t not in JSON_SCALARS:
            raise InvalidRule(f"not a JSON value: {t.__name__}", list(path))


def _compile(node: Any, path: Path, defs: Definitions | None, in_loop: bool = False,
             known: Known | None = None) -> Evaluator:
    t = type(node)
    if t is dict:
        if len(node) != 1:
            return _literal_object(node)
        ((op, values),) = node.items()
        return _compile_op(op, values, path, defs, in_loop, known)
    if t is list:
        fs = [_compile(item, [*path, i], defs, in_loop, known) for i, item in enumerate(node)]
        consts = [constant_value(f) for f in fs]
        if NOT_CONSTANT not in consts:
            array = lambda data: list(consts)  # noqa: E731 - a fresh array per evaluation, as in JS
            array.constant_items = consts  # type: ignore[attr-defined]
            return array
        fs_t = tuple(fs)
        return lambda data: [f(data) for f in fs_t]
    return constant(node)


def _literal_object(node: dict) -> Evaluator:
    # Objects with other than one key are data, not operations.
    if not node:
        return lambda data: {}
    frozen = copy.deepcopy(node)
    return lambda data: copy.deepcopy(frozen)


def _compile_literal(value: Any) -> Evaluator:
    """``preserve``: the value as written, never evaluated."""
    if type(value) in JSON_SCALARS:
        return constant(value)
    frozen = copy.deepcopy(value)
    return lambda data: copy.deepcopy(frozen)


def _definition(values: Any, path: Path, definitions: Definitions, in_loop: bool) -> Evaluator:
    name = values[0] if type(values) is list and len(values) == 1 else values
    where = [*path, DEFINITION_OPERATOR]
    if type(name) is not str:
        raise InvalidRule('"def" takes the name of a definition: {"def": "NAME"}', where)
    if in_loop:
        # A loop body's data is the item: the definition would read the item's fields.
        raise InvalidRule(f"def {name!r} is read inside a loop body, where the data is the "
                          "item: read it outside the loop (e.g. with let)", where)
    fn = definitions.get(name)
    if fn is None:
        known = ", ".join(sorted(definitions)) or "none"
        raise InvalidRule(f"no definition named {name!r} (defined: {known})", where)
    return fn  # the same closure at every use: compiled once


def _compile_op(op: str, values: Any, path: Path, defs: Definitions | None,
                in_loop: bool, known: Known | None) -> Evaluator:
    # Outside templates (defs is None) "def" is an unknown operator like any other.
    if op == DEFINITION_OPERATOR and defs is not None:
        return _definition(values, path, defs, in_loop)
    if op == PRESERVE:
        return _compile_literal(values)
    build = OPERATORS.get(op)
    if build is None:
        raise UnknownOperator(op, path, _REFUSED.get(op), known=ALLOWED_OPERATORS)
    if op == "var" and known is not None and not in_loop:
        value = _known_value(values, known)
        if value is not NOT_CONSTANT:
            return constant(value)
    if type(values) is list:
        args = [_compile(v, [*path, op, i], defs, in_loop or _rescoped(op, i), known)
                for i, v in enumerate(values)]
    else:  # {"var": "x"} is {"var": ["x"]}
        args = [_compile(values, [*path, op], defs, in_loop, known)]
    fn = build(args, path)
    if op in _FOLDABLE and all(constant_value(f) is not NOT_CONSTANT for f in args):
        try:
            value = fn(None)
        except Exception:
            if known is None:
                raise
            return fn  # (with a known value it fails where it runs, as it would have)
        if type(value) in JSON_SCALARS:
            return constant(value)
    return fn


def _known_value(values: Any, known: Known) -> Any:
    """What ``{"var": values}`` reads from ``known`` when its path is literal and leads through
    objects (and arrays, by index) to a JSON scalar other than null; else NOT_CONSTANT. (A
    default matters only for a missing or null value.)"""
    path = values[0] if type(values) is list and 1 <= len(values) <= 2 else values
    if type(path) is not str or not path:
        return NOT_CONSTANT
    value: Any = known
    for key in path.split("."):
        if isinstance(value, Mapping) and key in value:
            value = value[key]
        elif type(value) is list and key.isdigit() and str(int(key)) == key \
                and int(key) < len(value):
            value = value[int(key)]
        else:
            return NOT_CONSTANT
    return value if type(value) in (bool, int, float, str) else NOT_CONSTANT


def compile_rule(rule: Any, definitions: Definitions | None = None,
                 known: Known | None = None) -> Evaluator:
    """Validate ``rule`` once and return ``f(data)`` that evaluates it like json-logic-js.

    ``definitions`` (a template's named expressions, already compiled) makes ``{"def":
    "NAME"}`` evaluate the named closure on the same data. ``known``: data the rule will
    always be given the same values of (``{"config": …}``, for a template compiled for one
    activity): a literal ``var`` path into it that finds a scalar reads as that constant, so
    that all that depends only on it is worked out here, once; not in loop bodies, whose data
    is the item. Raises a ``JsonLogicError`` (with ``.path``) for unknown or refused
    operators, unknown definitions, non-JSON values and rules over ``MAX_DEPTH`` /
    ``MAX_NODES``.
    """
    _check(rule)
    return _compile(rule, [], definitions, False, known)


def apply(rule: Any, data: Any = None) -> Any:
    """One-off evaluation, like ``jsonLogic.apply``; compile once when reusing a rule."""
    return compile_rule(rule)(data)
