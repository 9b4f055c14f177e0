"""Walking a JSON Schema by hand: local `$ref`s, declared properties, array items.

The semantic checks ask "does the config schema declare `prizes.0.stock`?" and the config
validator fills defaults; both need the same small, forgiving navigation. Anything we cannot
follow (remote refs, exotic combinators) answers "unknown", never an error.
"""

from __future__ import annotations

from typing import Any

_MAX_HOPS = 32  # a guard against `$ref` cycles


def resolve(root: dict[str, Any], node: Any) -> Any:
    """Follow local `$ref`s (`#/$defs/x`, `#/definitions/x`, `#`) from `node` to a schema."""
    for _ in range(_MAX_HOPS):
        if not isinstance(node, dict) or not isinstance(node.get("$ref"), str):
            return node
        target = pointer(root, node["$ref"])
        if target is None:
            return node
        if len(node) > 1:
            # `$ref` beside other keywords (allowed in 2020-12): merge, the local keywords win.
            merged = {k: v for k, v in node.items() if k != "$ref"}
            return {**(target if isinstance(target, dict) else {}), **merged}
        node = target
    return node


def pointer(root: dict[str, Any], ref: str) -> Any:
    if not ref.startswith("#"):
        return None
    node: Any = root
    for raw in ref[1:].lstrip("/").split("/") if ref not in ("#", "#/") else []:
        key = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return None
    return node


def object_properties(root: dict[str, Any], node: Any) -> dict[str, Any] | None:
    """The properties `node` declares (its own and its `allOf` members'), or None if none."""
    node = resolve(root, node)
    if not isinstance(node, dict):
        return None
    found: dict[str, Any] = {}
    listed = False
    if isinstance(node.get("properties"), dict):
        found.update(node["properties"])
        listed = True
    for member in node.get("allOf", []) if isinstance(node.get("allOf"), list) else []:
        more = object_properties(root, member)
        if more is not None:
            found.update(more)
            listed = True
    return found if listed else None


def is_open(root: dict[str, Any], node: Any) -> bool:
    """Whether an object schema admits keys beyond `properties` by design (a map)."""
    node = resolve(root, node)
    return isinstance(node, dict) and (
        bool(node.get("patternProperties")) or isinstance(node.get("additionalProperties"), dict))


def array_items(root: dict[str, Any], node: Any) -> Any:
    """The schema of an array's items, or None when `node` is not an array schema."""
    node = resolve(root, node)
    if not isinstance(node, dict):
        return None
    if isinstance(node.get("items"), dict):
        return node["items"]
    if node.get("type") == "array" or "prefixItems" in node:
        return {}
    return None


def undeclared_segment(root: dict[str, Any], segments: list[str]) -> int | None:
    """Index of the first segment of a dotted path that the schema does not declare, or None.

    The first segment must be a listed property of the root. Deeper segments are checked only
    while the schema says what is there: a listed property of a closed object, or a numeric
    index into an array; below an object without listed properties anything goes.
    """
    node: Any = root
    for index, segment in enumerate(segments):
        props = object_properties(root, node)
        if index == 0 or props:
            if props and segment in props:
                node = props[segment]
                continue
            if index > 0 and is_open(root, node):
                return None
            return index
        items = array_items(root, node)
        if items is not None:
            if not segment.isdigit():
                return index
            node = items
            continue
        return None
    return None


def schema_at(root: dict[str, Any], segments: list[str]) -> dict[str, Any] | None:
    """The schema a dotted path leads to (array indexes step into `items`), or None."""
    node: Any = root
    for segment in segments:
        items = array_items(root, node) if segment.isdigit() else None
        if items is not None:
            node = items
            continue
        props = object_properties(root, node)
        if props is None or segment not in props:
            return None
        node = props[segment]
    found = resolve(root, node)
    return found if isinstance(found, dict) else None
