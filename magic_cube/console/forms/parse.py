"""Parsing: the submitted strings back into typed JSON, before validation.

Numbers, booleans, money typed in yuan → integer fen, enums (by their form string),
date-time-local → RFC 3339, arrays from indexed names, checkboxes from repeated names, the
chosen variant of a `oneOf`. Marker inputs tell an empty array (`…__array`) or an empty row
(`…__row`) from one that was never in the form.
"""

from __future__ import annotations

import copy
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _

from magic_cube.console.forms.names import FieldErrors, form_keys, input_name, submitted
from magic_cube.console.forms.schema import (
    FieldInfo,
    condition_holds,
    field_info,
    language,
    object_properties,
    resolve_node,
)
from magic_cube.console.forms.values import (
    DEFAULT_TIMEZONE,
    MISSING,
    option_str,
    rfc3339_datetime,
    rfc3339_time,
    zone_or_utc,
)


def parse_form(schema: dict[str, Any], form: Any, prefix: str = "config", *,
               lang: str = "en", timezone: str = DEFAULT_TIMEZONE
               ) -> tuple[dict[str, Any], FieldErrors]:
    """The submitted config as typed JSON, and the fields whose text could not be read.

    `form` is werkzeug's MultiDict (or any mapping of name → str or list of str). Values are
    coerced before validation: numbers, booleans, money typed in yuan → integer fen, enums
    (by their form string), date-time-local → RFC 3339 in `timezone` (or the zone the form
    carried), arrays from indexed names, checkboxes from repeated names, the chosen variant of
    a `oneOf`. Empty optional inputs are left out (so defaults apply). Unreadable text stays as
    typed (the form shows it again) with a `type` error on its path, in `lang`.
    """
    parser = FormParser(schema, form, prefix, timezone)
    with force_locale(language(lang)):
        value = parser.parse_object([], field_info(schema, schema), True)
    return (value if isinstance(value, dict) else {}), parser.errors


class FormParser:
    def __init__(self, root: dict[str, Any], form: Any, prefix: str, timezone: str) -> None:
        self.root = root
        self.form = form
        self.keys = form_keys(form)
        self.prefix = prefix
        self.timezone = timezone
        self.errors: FieldErrors = {}

    def name(self, path: list[str]) -> str:
        return input_name(self.prefix, path)

    def error(self, path: list[str], message: str) -> None:
        entry = {"code": "type", "message": message}
        bucket = self.errors.setdefault(".".join(path), [])
        if entry not in bucket:
            bucket.append(entry)

    def parse(self, path: list[str], raw: Any, required: bool, in_array: bool = False) -> Any:
        """The value at `path`, or MISSING when the form has none."""
        info = field_info(self.root, raw)
        if info.kind == "object":
            return self.parse_object(path, info, required or in_array)
        if info.kind == "variants":
            return self.parse_variants(path, info, required, in_array)
        if info.kind == "array":
            return self.parse_array(path, info, required)
        if info.kind == "checkboxes":
            return self.parse_checkboxes(path, info, required)
        return self.parse_leaf(path, info, required, in_array)

    def parse_leaf(self, path: list[str], info: FieldInfo, required: bool,
                   in_array: bool) -> Any:
        texts = submitted(self.form, self.name(path))
        if not texts:
            return MISSING
        text = texts[-1]
        if info.kind == "boolean":
            return text.strip().lower() in ("true", "on", "1", "yes")
        if info.kind == "const":
            return copy.deepcopy(info.options[0][0])
        if (text == "") if info.kind == "string" else (text.strip() == ""):
            if in_array:  # a row keeps its place
                return "" if info.kind == "string" else None
            return None if required and info.nullable else MISSING
        if info.kind == "choice":
            found = next((v for v, _label in info.options if option_str(v) == text), MISSING)
            return text if found is MISSING else copy.deepcopy(found)  # else: not an option
        if info.kind in ("integer", "number"):
            return self.number(path, info, text)
        return self.string(path, info, text)

    def parse_object(self, path: list[str], info: FieldInfo, required: bool) -> Any:
        properties, needed = object_properties(self.root, info.node)
        out: dict[str, Any] = {}
        for prop in properties:
            value = self.parse([*path, prop.name], prop.schema,
                               prop.name in needed or prop.required_when_shown)
            if value is not MISSING:
                out[prop.name] = value
        for prop in properties:  # a field whose condition does not hold was not meant
            if prop.show_if is not None and prop.name in out \
                    and not condition_holds(self.root, prop.show_if, out, properties):
                del out[prop.name]
        if not out and not required and path \
                and self.name([*path, "__row"]) not in self.keys:
            return MISSING
        return out

    def parse_variants(self, path: list[str], info: FieldInfo, required: bool,
                       in_array: bool) -> Any:
        chosen = submitted(self.form, self.name([*path, "__variant"]))
        if not chosen or (chosen[-1] == "" and not required):
            return MISSING
        try:
            index = int(chosen[-1])
        except ValueError:
            index = 0
        index = index if 0 <= index < len(info.members) else 0
        value = self.parse(path, info.members[index], True, in_array)
        member = field_info(self.root, info.members[index])
        if member.kind == "object" and isinstance(value, dict):
            # The chosen variant's discriminators, even when its fields were not submitted
            # (variant switched without JavaScript): the form shows that variant again.
            for prop in object_properties(self.root, member.node)[0]:
                sub = resolve_node(self.root, prop.schema)
                if "const" in sub and prop.name not in value:
                    value[prop.name] = copy.deepcopy(sub["const"])
        return value

    def row_indices(self, path: list[str]) -> list[int]:
        """The indices of an array's submitted rows (`config.prizes.3.name` → 3)."""
        head = self.name(path) + "."
        found = set()
        for key in self.keys:
            if key.startswith(head):
                segment = key[len(head):].split(".", 1)[0]
                if segment.isdigit():
                    found.add(int(segment))
        return sorted(found)

    def empty_list(self, info: FieldInfo, required: bool) -> Any:
        default = info.node.get("default")
        if required or (isinstance(default, list) and default):
            return []
        return MISSING

    def parse_array(self, path: list[str], info: FieldInfo, required: bool) -> Any:
        indices = self.row_indices(path)
        if not indices:
            if self.name([*path, "__array"]) not in self.keys:
                return MISSING
            return self.empty_list(info, required)
        out = []
        for position, index in enumerate(indices):
            before = set(self.errors)
            value = self.parse([*path, str(index)], info.items, True, in_array=True)
            out.append(None if value is MISSING else value)
            if position != index:  # a gap in the submitted rows: errors follow the row
                self.renumber_errors([*path, str(index)], [*path, str(position)], before)
        return out

    def renumber_errors(self, old: list[str], new: list[str], before: set[str]) -> None:
        old_key, new_key = ".".join(old), ".".join(new)
        for key in [k for k in self.errors if k not in before]:
            if key == old_key or key.startswith(old_key + "."):
                self.errors[new_key + key[len(old_key):]] = self.errors.pop(key)

    def parse_checkboxes(self, path: list[str], info: FieldInfo, required: bool) -> Any:
        texts = [t for t in submitted(self.form, self.name(path)) if t != ""]
        if not texts:
            if self.name([*path, "__array"]) not in self.keys:
                return MISSING
            return self.empty_list(info, required)
        lookup = {option_str(v): v for v, _label in info.options}
        return [copy.deepcopy(lookup[t]) if t in lookup else t for t in texts]

    def number(self, path: list[str], info: FieldInfo, text: str) -> Any:
        """A typed number (money in yuan → integer fen); unreadable text comes back as it is,
        with an error."""
        money = info.widget == "money"
        cleaned = text.strip().replace(",", "").replace(" ", "").replace("_", "")
        if money:
            cleaned = cleaned.lstrip("¥￥$€£")
        elif info.widget == "percent":
            cleaned = cleaned.rstrip("%")
        try:
            number = Decimal(cleaned)
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            self.error(path, _("Must be an amount such as 12.34") if money
                       else _("Must be a whole number") if info.kind == "integer"
                       else _("Must be a number"))
            return text
        if money:
            number = number * 100
        integral = number == number.to_integral_value()
        if info.kind == "integer" and not integral:
            self.error(path, _("Must be an amount such as 12.34") if money
                       else _("Must be a whole number"))
            return text
        if integral and (info.kind == "integer" or money
                         or not any(c in cleaned for c in ".eE")):
            return int(number)
        return float(number)

    def string(self, path: list[str], info: FieldInfo, text: str) -> str:
        if info.widget == "textarea":
            return text.replace("\r\n", "\n").replace("\r", "\n")
        time_format = info.time_format
        if time_format not in ("date-time", "time"):
            return text
        zones = submitted(self.form, self.name([*path, "__tz"]))
        zone = zone_or_utc(zones[-1] if zones and zones[-1] else self.timezone)
        if time_format == "date-time":
            return rfc3339_datetime(text, zone)
        return rfc3339_time(text, zone)
