"""A config's values read through its schema: each value with the schemas that describe it.

JSON Schema answers "is this valid?"; some questions need the value and its schema together
afterwards (is this date-time one we support? which floats are whole numbers of an integer
field?). `walk` pairs them, following what a config schema uses: `properties`, an object's
`additionalProperties`, array `items`, local `$ref`s, and the branches of `allOf`, `anyOf`,
`oneOf`, `if`/`then`/`else`. A value no schema describes is not visited.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from magic_cube.catalog.schemaref import resolve

_BRANCHES = ("allOf", "anyOf", "oneOf")
_MAX_DEPTH = 32  # a guard against branches that refer to themselves


@dataclass(frozen=True)
class Spot:
    """One value of a config, where it sits, and every schema that describes it."""

    value: Any
    schemas: tuple[dict[str, Any], ...]
    path: tuple[str, ...]  # keys and array indexes from the config's root
    parent: dict[str, Any] | list[Any] | None = None
    key: str | int | None = None

    @property
    def dotted(self) -> str:
        """The path as errors are keyed: `prizes.0.stock`."""
        return ".".join(self.path)

    def replace(self, value: Any) -> None:
        """Put `value` where this one is (the root cannot be replaced)."""
        if isinstance(self.parent, dict) and isinstance(self.key, str):
            self.parent[self.key] = value
        elif isinstance(self.parent, list) and isinstance(self.key, int):
            self.parent[self.key] = value


def walk(root: dict[str, Any], value: Any) -> Iterator[Spot]:
    """Every value of `value` (a config of schema `root`) that a schema describes, parents
    before their children. Iterative: a config cannot nest deep enough to exhaust the stack."""
    stack = [Spot(value, _expanded(root, [root]), ())]
    while stack:
        spot = stack.pop()
        yield spot
        stack.extend(reversed(list(_children(root, spot))))


def types_of(spot: Spot) -> set[str]:
    """The JSON types the spot's schemas name (`type`, as a string or a list)."""
    found: set[str] = set()
    for node in spot.schemas:
        kind = node.get("type")
        found.update([kind] if isinstance(kind, str) else
                     [k for k in kind if isinstance(k, str)] if isinstance(kind, list) else [])
    return found


def formats_of(spot: Spot) -> set[str]:
    return {node["format"] for node in spot.schemas if isinstance(node.get("format"), str)}


def _children(root: dict[str, Any], spot: Spot) -> Iterator[Spot]:
    value = spot.value
    if isinstance(value, dict):
        for key, item in value.items():
            found = [sub for node in spot.schemas if (sub := _property(node, key)) is not None]
            if found:
                yield Spot(item, _expanded(root, found), (*spot.path, str(key)), value, key)
    elif isinstance(value, list):
        found = [node["items"] for node in spot.schemas if isinstance(node.get("items"), dict)]
        if found:
            schemas = _expanded(root, found)
            for index, item in enumerate(value):
                yield Spot(item, schemas, (*spot.path, str(index)), value, index)


def _property(node: dict[str, Any], key: str) -> Any:
    """The schema of property `key` in an object schema: declared, or its extra properties'."""
    props = node.get("properties")
    if isinstance(props, dict) and key in props:
        return props[key]
    extra = node.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def _expanded(root: dict[str, Any], schemas: list[Any]) -> tuple[dict[str, Any], ...]:
    """The schemas with `$ref`s followed and the members of their branches added."""
    out: list[dict[str, Any]] = []
    pending = [(schema, 0) for schema in schemas]
    while pending:
        schema, depth = pending.pop()
        node = resolve(root, schema)
        if not isinstance(node, dict) or depth > _MAX_DEPTH or any(n is node for n in out):
            continue
        out.append(node)
        for key in _BRANCHES:
            members = node.get(key)
            if isinstance(members, list):
                pending += [(member, depth + 1) for member in members]
        pending += [(node[key], depth + 1) for key in ("then", "else") if key in node]
    return tuple(out)
