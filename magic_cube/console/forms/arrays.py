"""Array rows without JavaScript: each row's add/remove/move button submits the form under a
name that says what to do (`__add:config.prizes`, `__remove:config.prizes.2`, `__up:…`,
`__down:…`), and the page renders the parsed values again, changed and unsaved."""

from __future__ import annotations

import copy
from typing import Any

from magic_cube.console.forms.names import form_keys
from magic_cube.console.forms.schema import FieldInfo, default_value, field_info, schema_at

ACTIONS = ("add", "remove", "up", "down")


def form_action(form: Any) -> tuple[str, str] | None:
    """The array button that submitted the form (`("add", "config.prizes")`,
    `("remove", "config.prizes.2")`, …), or None for an ordinary submit."""
    for key in form_keys(form):
        verb, sep, path = key.partition(":")
        if sep and verb.startswith("__") and verb[2:] in ACTIONS and path:
            return verb[2:], path
    return None


def apply_array_action(values: dict[str, Any], action: tuple[str, str] | None,
                       schema: dict[str, Any] | None = None, prefix: str = "config"
                       ) -> dict[str, Any]:
    """A copy of `values` with the row added, removed or moved, to render the form again
    (unsaved). With `schema`, a new row gets the item's defaults and min/maxItems hold; without,
    a new row is empty and shows its defaults when rendered."""
    out = copy.deepcopy(values) if isinstance(values, dict) else {}
    target = _target(action, prefix)
    if target is None:
        return out
    verb, array_path, index = target
    node = schema_at(schema, array_path, out) if schema is not None else None
    info = field_info(schema, node) if schema is not None and node is not None else None
    rows = _rows(out, array_path, create=verb == "add")
    if rows is None:
        return out
    if verb == "add":
        _add_row(rows, schema, info)
    elif index is not None and 0 <= index < len(rows):
        min_items = info.node.get("minItems", 0) if info else 0
        _change_row(rows, verb, index, min_items if isinstance(min_items, int) else 0)
    return out


def _target(action: tuple[str, str] | None, prefix: str
            ) -> tuple[str, list[str], int | None] | None:
    """The verb, the path of the array in the config, and the row (None for add)."""
    if not action:
        return None
    verb, path = action
    segments = path.split(".")
    if prefix:
        if segments[:1] != [prefix]:
            return None
        segments = segments[1:]
    if verb == "add":
        return (verb, segments, None) if segments else None
    if not segments or not segments[-1].isdigit() or len(segments) < 2:
        return None
    return verb, segments[:-1], int(segments[-1])


def _rows(values: dict[str, Any], path: list[str], create: bool) -> list[Any] | None:
    """The array at `path` in `values` (made, with the objects around it, when `create`)."""
    parent: Any = values
    for segment in path[:-1]:
        if isinstance(parent, list) and segment.isdigit() and int(segment) < len(parent):
            if not isinstance(parent[int(segment)], dict | list):
                parent[int(segment)] = {}
            parent = parent[int(segment)]
        elif isinstance(parent, dict):
            if not isinstance(parent.get(segment), dict | list):
                parent[segment] = {}
            parent = parent[segment]
        else:
            return None
    last = path[-1]
    if isinstance(parent, dict):
        if not isinstance(parent.get(last), list):
            if not create:
                return None
            parent[last] = []
        return parent[last]
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent) \
            and isinstance(parent[int(last)], list):
        return parent[int(last)]
    return None


def _add_row(rows: list[Any], schema: dict[str, Any] | None, info: FieldInfo | None) -> None:
    max_items = info.node.get("maxItems") if info else None
    if max_items is not None and len(rows) >= max_items:
        return
    if schema is not None and info is not None and info.items is not None:
        rows.append(default_value(schema, info.items))
    else:
        rows.append(None)


def _change_row(rows: list[Any], verb: str, index: int, min_items: int) -> None:
    if verb == "remove" and len(rows) > min_items:
        rows.pop(index)
    elif verb == "up" and index > 0:
        rows[index - 1], rows[index] = rows[index], rows[index - 1]
    elif verb == "down" and index < len(rows) - 1:
        rows[index + 1], rows[index] = rows[index], rows[index + 1]
