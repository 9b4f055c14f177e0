"""The error summary at the top of a page: every error, labelled by the path of fields it is
in (`Prizes › 1 › Prize`) and linked to its input, in form order."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from magic_cube.console.forms.macros import macros
from magic_cube.console.forms.names import FieldErrors, field_id, input_name
from magic_cube.console.forms.schema import (
    FieldInfo,
    field_info,
    field_label,
    language,
    object_properties,
)

_UNKNOWN = 10**6  # the place, in form order, of a path the form does not render


class ErrorSummary(list):
    """`error_summary`'s list of `{field_id, label, message}`; in a Jinja template it renders
    itself as the `<ul>` of links (so a page may use it either way)."""

    def __html__(self) -> Markup:
        return Markup(macros().error_summary(list(self)))


def error_summary(errors: FieldErrors | None, schema: dict[str, Any], lang: str = "en",
                  prefix: str = "config") -> ErrorSummary:
    """Every error as `{"field_id", "label", "message"}` in form order, to list at the top of
    the page with links (`href="#" + field_id`); root errors (`""`) have no field (None)."""
    lang = language(lang)
    items = []
    for key, entries in (errors or {}).items():
        path = key.split(".") if key else []
        labels, rendered = _labels_along(schema, path, lang)
        target = field_id(input_name(prefix, path[:rendered])) if path and rendered else None
        label = " › ".join(labels)
        for entry in entries:
            items.append((_form_order(schema, path), {"field_id": target, "label": label,
                                                      "message": entry.get("message", "")}))
    items.sort(key=lambda pair: pair[0])
    return ErrorSummary(item for _key, item in items)


def _object_with(root: dict[str, Any], info: FieldInfo, name: str, lang: str) -> FieldInfo:
    """Of a variants field, the object variant that has the property `name` (else `info`)."""
    if info.kind != "variants":
        return info
    for member in info.members:
        sub = field_info(root, member, lang)
        if sub.kind == "object" and any(
                p.name == name for p in object_properties(root, sub.node)[0]):
            return sub
    return info


def _labels_along(root: dict[str, Any], path: list[str], lang: str) -> tuple[list[str], int]:
    """Labels along a path, and how many of its segments name a field the form renders."""
    labels: list[str] = []
    node: Any = root
    for position, segment in enumerate(path):
        info = _object_with(root, field_info(root, node, lang), segment, lang)
        if info.kind == "object":
            found = next((p for p in object_properties(root, info.node)[0]
                          if p.name == segment), None)
            if found is None:
                return [*labels, *path[position:]], position
            node = found.schema
            labels.append(field_label(field_info(root, node, lang), segment, lang))
        elif info.kind == "array" and segment.isdigit():
            node = info.items
            labels.append(str(int(segment) + 1))
        else:
            return [*labels, *path[position:]], position
    return labels, len(path)


def _form_order(root: dict[str, Any], path: list[str]) -> tuple[int, ...]:
    """Where the field at `path` comes in the form, to sort by."""
    key: list[int] = []
    node: Any = root
    for segment in path:
        info = _object_with(root, field_info(root, node), segment, "en")
        if info.kind == "object":
            properties = object_properties(root, info.node)[0]
            names = [p.name for p in properties]
            if segment not in names:
                return (*key, _UNKNOWN)
            key.append(names.index(segment))
            node = properties[names.index(segment)].schema
        elif info.kind in ("array", "checkboxes") and segment.isdigit():
            key.append(int(segment))
            node = info.items
        else:
            return (*key, _UNKNOWN)
    return tuple(key)
