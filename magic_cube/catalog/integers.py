"""A warning for a division stored in an `integer` variable without rounding.

`{"/": [a, b]}` gives a fraction whenever `b` does not divide `a`, and an integer variable
refuses a fraction at run time (`rule_error`): the template validates and its scenarios pass
on round numbers, then an action fails on the first odd split. `floor` or `ceil` around the
division make it whole (docs/expressions.md).
"""

from __future__ import annotations

from typing import Any

from magic_cube.catalog.problems import TemplateProblem, format_path, rule_objects

PASSES = frozenset({"+", "-", "*", "min", "max", "if", "?:"})  # a fraction goes through them
SCOPES = {"activity": "activity", "room": "room", "me": "participant", "them": "participant"}


def may_be_fraction(rule: Any) -> bool:
    """Whether `rule` can give a fraction: a division, or a fractional literal, not made whole
    by rounding on the way."""
    if isinstance(rule, float):
        return not rule.is_integer()
    if isinstance(rule, list):
        return any(may_be_fraction(r) for r in rule)
    if not isinstance(rule, dict) or len(rule) != 1:
        return False
    op, args = next(iter(rule.items()))
    if op == "/":
        return True
    if op in PASSES:
        return may_be_fraction(args)
    return False  # rounded (floor, ceil), a read, or an operator that gives no number


def _integer_target(doc: dict[str, Any], path: Any) -> bool:
    """Whether a `set`/`add` path names an integer variable (or an entry of a map of them)."""
    if not isinstance(path, str):
        return False
    head, _, rest = path.partition(".")
    name, _, entry = rest.partition(".")
    state = doc.get("state")
    scope = state.get(SCOPES.get(head, "")) if isinstance(state, dict) else None
    decl = scope.get(name) if isinstance(scope, dict) else None
    if not isinstance(decl, dict):
        return False
    if entry:
        return decl.get("type") == "map" and decl.get("values") == "integer"
    return decl.get("type") == "integer"


def fraction_warnings(doc: dict[str, Any], file: str) -> list[TemplateProblem]:
    """One warning per `set` or `add` that may store a fraction in an integer variable."""
    out: list[TemplateProblem] = []
    for value, path in rule_objects(doc):
        for kind in ("set", "add"):
            body = value.get(kind)
            if isinstance(body, dict) and _integer_target(doc, body.get("path")) \
                    and may_be_fraction(body.get("value")):
                out.append(TemplateProblem(
                    file, format_path([*path, kind, "value"]),
                    f"{body['path']} is an integer, but this value divides without "
                    'rounding: wrap the division in "floor" or "ceil", or the action '
                    "fails (rule_error) whenever it does not come out whole",
                    "fraction_into_integer"))
    return out
