"""A field that is never shown (`x-ui.hidden`, a hidden widget, a const) as hidden inputs that
parse back to its value, so that a submitted form keeps it."""

from __future__ import annotations

import copy
from typing import Any

from magic_cube.console.forms.names import input_name
from magic_cube.console.forms.schema import (
    FieldInfo,
    condition_holds,
    field_info,
    object_properties,
    pick_variant,
)
from magic_cube.console.forms.values import (
    MISSING,
    fen_to_yuan,
    local_datetime,
    local_time,
    number_str,
    option_str,
    zone_or_utc,
)


def hidden_inputs(root: dict[str, Any], prefix: str, path: list[str], raw: Any, value: Any,
                  timezone: str) -> list[tuple[str, str]]:
    """The `(name, value)` pairs of hidden inputs for the field at `path`."""
    writer = _HiddenInputs(root, prefix, timezone)
    writer.field(path, raw, value)
    return writer.inputs


class _HiddenInputs:
    def __init__(self, root: dict[str, Any], prefix: str, timezone: str) -> None:
        self.root = root
        self.prefix = prefix
        self.timezone = timezone
        self.zone = zone_or_utc(timezone)
        self.inputs: list[tuple[str, str]] = []

    def name(self, path: list[str]) -> str:
        return input_name(self.prefix, path)

    def field(self, path: list[str], raw: Any, value: Any) -> None:
        info = field_info(self.root, raw)
        if value is MISSING and "default" in info.node:
            value = copy.deepcopy(info.node["default"])
        if info.kind == "object":
            self.object(path, info, value)
        elif info.kind == "variants":
            self.variants(path, info, value)
        elif info.kind in ("array", "checkboxes"):
            self.array(path, info, value)
        elif info.kind == "const":  # a variant's discriminator: always there
            self.inputs.append((self.name(path), option_str(info.options[0][0])))
        elif value is not MISSING and value is not None:
            self.leaf(path, info, value)

    def object(self, path: list[str], info: FieldInfo, value: Any) -> None:
        if value is MISSING:
            return
        properties, _required = object_properties(self.root, info.node)
        current = value if isinstance(value, dict) else {}
        for prop in properties:
            if prop.show_if is not None and not condition_holds(self.root, prop.show_if,
                                                                current, properties):
                continue
            self.field([*path, prop.name], prop.schema, current.get(prop.name, MISSING))

    def variants(self, path: list[str], info: FieldInfo, value: Any) -> None:
        if value is MISSING:
            return
        index = pick_variant(self.root, info.members, value)
        self.inputs.append((self.name([*path, "__variant"]), str(index)))
        self.field(path, info.members[index], value)

    def array(self, path: list[str], info: FieldInfo, value: Any) -> None:
        if not isinstance(value, list):
            return
        self.inputs.append((self.name([*path, "__array"]), "1"))
        if info.kind == "checkboxes":
            self.inputs.extend((self.name(path), option_str(item)) for item in value)
            return
        rows_are_objects = field_info(self.root, info.items).kind == "object"
        for i, item in enumerate(value):
            if rows_are_objects:
                self.inputs.append((self.name([*path, str(i), "__row"]), "1"))
            self.field([*path, str(i)], info.items, item)

    def leaf(self, path: list[str], info: FieldInfo, value: Any) -> None:
        name = self.name(path)
        if info.kind == "boolean":
            self.inputs.append((name, "true" if value is True else "false"))
        elif info.kind == "choice":
            self.inputs.append((name, option_str(value)))
        elif info.kind in ("integer", "number"):
            self.inputs.append((name, fen_to_yuan(value) if info.widget == "money"
                                else number_str(value)))
        elif info.time_format in ("date-time", "time"):
            shown = local_datetime(value, self.zone) if info.time_format == "date-time" \
                else local_time(value, self.zone)
            self.inputs.extend([(name, shown), (self.name([*path, "__tz"]), self.timezone)])
        else:
            self.inputs.append((name, value if isinstance(value, str) else option_str(value)))
