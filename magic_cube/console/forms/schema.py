"""Reading a config schema the way the form needs it.

`field_info` says what kind of field a schema node is (object, variants, array, checkboxes,
choice, const, boolean, integer, number, string); `object_properties` lists an object's
properties in display order, each with the condition under which it shows (from `if`/`then`/
`else`), and `condition_holds` evaluates such a condition on submitted values, as forms.js
does in the browser.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from jsonschema import Draft202012Validator

from magic_cube.catalog.schemaref import resolve
from magic_cube.console.forms.values import MISSING, json_equal, option_str

# {"property", "const"|"enum"|"truthy"|bounds}, {"all": [...]} or {"not": ...}
Condition = dict[str, Any]
BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


# -- texts -------------------------------------------------------------------------------------

def language(lang: str | None) -> str:
    """"zh" or "en"."""
    return "zh" if (lang or "").lower().startswith("zh") else "en"


def localised(value: Any, lang: str) -> str | None:
    """A template's i18n `{zh, en}` object (or a plain string) in `lang`."""
    if value is None:
        return None
    if isinstance(value, dict):
        found = value.get(lang) or value.get("en") or value.get("zh")
        if found is None and value:
            found = next(iter(value.values()))
        return None if found is None else str(found)
    return str(value)


def humanise(name: str) -> str:
    """A property name as a label (`max_per_day` → `Max per day`)."""
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(name)).replace("_", " ").replace("-", " ")
    words = " ".join(words.split())
    return words[:1].upper() + words[1:].lower() if words else ""


def enum_label(value: Any) -> str:
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, str):
        return humanise(value) or value
    return option_str(value)


# -- one node ----------------------------------------------------------------------------------

def resolve_node(root: dict[str, Any], node: Any) -> dict[str, Any]:
    """Follow local `$ref`s; hints (`x-ui`) beside a `$ref` refine those of its target."""
    found = resolve(root, node)
    if not isinstance(found, dict):
        return {}
    if isinstance(node, dict) and "$ref" in node and isinstance(node.get("x-ui"), dict):
        target = resolve(root, {"$ref": node["$ref"]})
        if isinstance(target, dict) and isinstance(target.get("x-ui"), dict):
            found = {**found, "x-ui": {**target["x-ui"], **node["x-ui"]}}
    return found


def is_null(node: dict[str, Any]) -> bool:
    return node.get("type") == "null" or ("const" in node and node["const"] is None)


@dataclass
class FieldInfo:
    """What the form needs to know about one schema node."""

    node: dict[str, Any]
    # object, variants, array, checkboxes, choice, const, boolean, integer, number or string
    kind: str
    nullable: bool = False
    options: list[tuple[Any, str]] = field(default_factory=list)  # (value, label) of a choice
    members: list[dict[str, Any]] = field(default_factory=list)  # the variants
    items: Any = None  # an array's item schema

    @property
    def ui(self) -> dict[str, Any]:
        ui = self.node.get("x-ui")
        return ui if isinstance(ui, dict) else {}

    @property
    def widget(self) -> str | None:
        return self.ui.get("widget")

    @property
    def time_format(self) -> str | None:
        """The date/time flavour of a string field: date, date-time or time (format or widget)."""
        widget = {"date": "date", "datetime": "date-time"}.get(self.widget or "")
        return self.node.get("format") or widget

    @property
    def hidden(self) -> bool:
        """Never shown: carried in hidden inputs (a const is a variant's discriminator)."""
        return self.ui.get("hidden") is True or self.widget == "hidden" or self.kind == "const"

    @property
    def readonly(self) -> bool:
        return self.ui.get("readonly") is True or self.node.get("readOnly") is True


def field_info(root: dict[str, Any], raw: Any, lang: str = "en") -> FieldInfo:
    """What kind of field the schema node `raw` is; labels of choices are in `lang`."""
    node = resolve_node(root, raw)
    for key in ("oneOf", "anyOf"):
        found = _alternatives_info(root, node, key, lang)
        if found is not None:
            return found
    return _typed_info(root, node, lang)


def _alternatives_info(root: dict[str, Any], node: dict[str, Any], key: str,
                       lang: str) -> FieldInfo | None:
    """A `oneOf`/`anyOf`: a choice (all consts), one nullable type, or variants."""
    members = node.get(key)
    if not isinstance(members, list) or not members:
        return None
    resolved = [resolve_node(root, m) for m in members]
    real = [m for m in resolved if not is_null(m)]
    if not real:
        return None
    nullable = len(real) < len(resolved)
    rest = {k: v for k, v in node.items() if k != key}
    if all("const" in m for m in real):
        options = [(m["const"], localised((m.get("x-ui") or {}).get("label"), lang)
                    or localised(m.get("title"), lang) or enum_label(m["const"]))
                   for m in real]
        return FieldInfo(rest, "choice", nullable, options)
    if len(real) == 1:
        inner = field_info(root, {**real[0], **rest}, lang)
        inner.nullable = inner.nullable or nullable
        return inner
    return FieldInfo(rest, "variants", nullable, members=real)


def _typed_info(root: dict[str, Any], node: dict[str, Any], lang: str) -> FieldInfo:
    types = node.get("type")
    types = types if isinstance(types, list) else [types] if isinstance(types, str) else []
    nullable = "null" in types
    if isinstance(node.get("enum"), list):
        values = [v for v in node["enum"] if v is not None]
        return FieldInfo(node, "choice", nullable or None in node["enum"],
                         [(v, choice_label(node, v, lang)) for v in values])
    if "const" in node:
        return FieldInfo(node, "const", options=[(node["const"], enum_label(node["const"]))])
    kinds = [t for t in types if t != "null"]
    kind = kinds[0] if kinds else (
        "object" if "properties" in node or "allOf" in node else
        "array" if "items" in node else "string")
    info = FieldInfo(node, kind if kind in ("object", "boolean", "integer", "number", "array")
                     else "string", nullable)
    if kind == "array":
        items = node.get("items") if isinstance(node.get("items"), dict) else {}
        item = field_info(root, items, lang)
        if item.kind == "choice" and (node.get("uniqueItems") or info.widget == "checkboxes"):
            return FieldInfo(node, "checkboxes", nullable, item.options, items=items)
        info.items = items
    elif kind == "boolean" and info.widget in ("select", "radio"):
        return FieldInfo(node, "choice", nullable, [(True, _("Yes")), (False, _("No"))])
    return info


def choice_label(node: dict[str, Any], value: Any, lang: str) -> str:
    """A choice's label: the template's `x-ui.choices` text, else the value made readable."""
    ui = node["x-ui"] if isinstance(node.get("x-ui"), dict) else {}
    choices = ui["choices"] if isinstance(ui.get("choices"), dict) else {}
    return localised(choices.get(option_str(value)), lang) or enum_label(value)


def field_label(info: FieldInfo, name: str, lang: str) -> str:
    return (localised(info.ui.get("label"), lang) or localised(info.node.get("title"), lang)
            or humanise(name) or name)


def field_help(info: FieldInfo, lang: str) -> str | None:
    return localised(info.ui.get("help"), lang) or localised(info.node.get("description"), lang)


# -- objects and their conditions --------------------------------------------------------------

@dataclass
class Property:
    """One property of an object schema, as the form shows it."""

    name: str
    schema: Any
    show_if: Condition | None = None  # shown only when this holds (from if/then/else)
    required_when_shown: bool = False


@dataclass
class _ObjectParts:
    properties: dict[str, Property] = field(default_factory=dict)
    required: set[str] = field(default_factory=set)
    branches: list[tuple[Condition | None, dict[str, Any]]] = field(default_factory=list)
    order: list[str] = field(default_factory=list)
    dependent: dict[str, str] = field(default_factory=dict)  # shown name -> the name it needs


def object_properties(root: dict[str, Any], node: Any) -> tuple[list[Property], set[str]]:
    """The properties of an object schema in display order (declared ones, those of `allOf`
    members, then those only in `then`/`else`, each with its condition) and the required names."""
    parts = _ObjectParts()
    _collect(root, node, parts)
    _add_branch_properties(parts)
    listed = [n for n in parts.order if n in parts.properties]
    rest = [n for n in parts.properties if n not in listed]
    return [parts.properties[n] for n in (*listed, *rest)], parts.required


def _collect(root: dict[str, Any], raw: Any, parts: _ObjectParts, depth: int = 0) -> None:
    node = resolve_node(root, raw)
    if depth > 16:
        return
    ui = node.get("x-ui")
    if isinstance(ui, dict) and isinstance(ui.get("order"), list) and not parts.order:
        parts.order.extend(str(x) for x in ui["order"])
    for name, sub in _properties_of(node).items():
        parts.properties.setdefault(name, Property(name, sub))
    if isinstance(node.get("required"), list):
        parts.required.update(str(x) for x in node["required"])
    if isinstance(node.get("dependentRequired"), dict):
        for name, needed in node["dependentRequired"].items():
            for other in needed if isinstance(needed, list) else []:
                parts.dependent.setdefault(str(other), str(name))
    for member in node["allOf"] if isinstance(node.get("allOf"), list) else []:
        _collect(root, member, parts, depth + 1)
    if "if" in node:
        condition = show_if_condition(root, node["if"])
        for key, negate in (("then", False), ("else", True)):
            branch = resolve_node(root, node.get(key)) if key in node else None
            if branch:
                when = None if condition is None else {"not": condition} if negate else condition
                parts.branches.append((when, branch))


def _properties_of(node: dict[str, Any]) -> dict[str, Any]:
    properties = node.get("properties")
    return properties if isinstance(properties, dict) else {}


def _add_branch_properties(parts: _ObjectParts) -> None:
    """Properties only in `then`/`else` show under the branch's condition; one in both always
    shows. A property declared outright but required by one branch only matters there, so it
    shows under that branch's condition too; one that `dependentRequired` makes needed by
    another shows while that other is on."""
    _conditional_declared(parts)
    branches_naming = Counter(name for _when, branch in parts.branches
                              for name in _properties_of(branch))
    for when, branch in parts.branches:
        needed = set(branch["required"]) if isinstance(branch.get("required"), list) else set()
        for name, sub in _properties_of(branch).items():
            if name in parts.properties:
                continue  # declared outright (the branch only refines it) or seen already
            always = branches_naming[name] > 1
            parts.properties[name] = Property(
                name, sub, None if always else when,
                required_when_shown=name in needed and when is not None and not always)


def _conditional_declared(parts: _ObjectParts) -> None:
    named = Counter(name for _when, branch in parts.branches
                    for name in {*_properties_of(branch), *_required_of(branch)})
    for when, branch in parts.branches:
        for name in _required_of(branch):
            prop = parts.properties.get(name)
            if when is None or prop is None or prop.show_if is not None \
                    or name in parts.required or named[name] > 1:
                continue
            prop.show_if, prop.required_when_shown = when, True
    for name, needs in parts.dependent.items():
        prop = parts.properties.get(name)
        if prop is not None and prop.show_if is None and needs in parts.properties \
                and name not in parts.required:
            prop.show_if = {"property": needs, "truthy": True}


def _required_of(node: dict[str, Any]) -> list[str]:
    required = node.get("required")
    return [str(x) for x in required] if isinstance(required, list) else []


def show_if_condition(root: dict[str, Any], raw: Any) -> Condition | None:
    """An `if` schema as a show-if condition (`{"property", "const"|"enum"|bounds}` or
    `{"all": […]}`), or None when it says more than property values we can compare in a
    browser. Bounds are `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`."""
    node = resolve_node(root, raw)
    properties = node.get("properties")
    allowed = {"properties", "required", "type", "title", "description", "$comment"}
    if not isinstance(properties, dict) or not properties or set(node) - allowed:
        return None
    leaves = []
    for name, sub in properties.items():
        sub = resolve_node(root, sub)
        if "const" in sub:
            leaves.append({"property": name, "const": sub["const"]})
        elif isinstance(sub.get("enum"), list):
            leaves.append({"property": name, "enum": sub["enum"]})
        elif isinstance(sub.get("not"), dict) and "const" in sub["not"]:
            leaves.append({"not": {"property": name, "const": sub["not"]["const"]}})
        elif any(k in sub for k in BOUNDS) and set(sub) <= {*BOUNDS, "type"} and all(
                isinstance(sub[k], int | float) and not isinstance(sub[k], bool)
                for k in BOUNDS if k in sub):
            leaves.append({"property": name, **{k: sub[k] for k in BOUNDS if k in sub}})
        else:
            return None
    return leaves[0] if len(leaves) == 1 else {"all": leaves}


def with_input_names(condition: Condition, object_name: str,
                     money: frozenset[str] = frozenset()) -> Condition:
    """The condition with the input name of each property, for forms.js (`money`: properties
    typed in yuan, whose bounds are in fen)."""
    if "not" in condition:
        return {"not": with_input_names(condition["not"], object_name, money)}
    if "all" in condition:
        return {"all": [with_input_names(c, object_name, money) for c in condition["all"]]}
    prop = condition["property"]
    named = {**condition, "name": f"{object_name}.{prop}" if object_name else prop}
    if prop in money and any(k in condition for k in BOUNDS):
        named["money"] = True
    return named


def condition_holds(root: dict[str, Any], condition: Condition, value: dict[str, Any],
                    properties: list[Property]) -> bool:
    """Whether `condition` holds for an object's `value` (a missing property: its default)."""
    if "not" in condition:
        return not condition_holds(root, condition["not"], value, properties)
    if "all" in condition:
        return all(condition_holds(root, c, value, properties) for c in condition["all"])
    name = condition["property"]
    current = value.get(name, MISSING)
    if current is MISSING:
        schema = next((resolve_node(root, p.schema) for p in properties if p.name == name), {})
        current = schema.get("default", MISSING)
    if condition.get("truthy"):
        return current is not MISSING and current not in (None, "", False, 0)
    if current is MISSING:
        return False
    if "const" in condition:
        return json_equal(current, condition["const"])
    if "enum" in condition:
        return any(json_equal(current, v) for v in condition["enum"])
    return within_bounds(current, condition)


def within_bounds(value: Any, condition: Condition) -> bool:
    """Whether a number is within a condition's `minimum` … `exclusiveMaximum`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    checks = {"minimum": value >= condition.get("minimum", value),
              "maximum": value <= condition.get("maximum", value),
              "exclusiveMinimum": "exclusiveMinimum" not in condition
              or value > condition["exclusiveMinimum"],
              "exclusiveMaximum": "exclusiveMaximum" not in condition
              or value < condition["exclusiveMaximum"]}
    return all(checks.values())


# -- variants and defaults ---------------------------------------------------------------------

def pick_variant(root: dict[str, Any], members: list[dict[str, Any]], value: Any) -> int:
    """The variant that `value` belongs to: the first it is valid against, else the closest."""
    if value is MISSING or value is None:
        return 0
    for index, member in enumerate(members):
        try:
            if Draft202012Validator(_variant_document(root, member)).is_valid(value):
                return index
        except Exception:  # noqa: BLE001 - an odd member schema is just not a match
            continue
    scores = [_likeness(root, member, value) for member in members]
    return scores.index(max(scores))


def _variant_document(root: dict[str, Any], member: dict[str, Any]) -> dict[str, Any]:
    """A variant as a schema of its own, with the definitions its `$ref`s point at."""
    doc = dict(member)
    for key in ("$defs", "definitions"):
        if key in root and key not in doc:
            doc[key] = root[key]
    return doc


def _likeness(root: dict[str, Any], member: dict[str, Any], value: Any) -> int:
    """How well an invalid `value` matches a variant: its discriminators most of all."""
    info = field_info(root, member)
    if info.kind != "object" or not isinstance(value, dict):
        return -100 if info.kind == "object" or isinstance(value, dict) else 0
    schemas = {p.name: resolve_node(root, p.schema) for p in object_properties(root, info.node)[0]}
    score = 0
    for key, item in value.items():
        sub = schemas.get(key)
        if sub is None:
            score -= 1
        elif "const" in sub:
            score += 10 if json_equal(sub["const"], item) else -100
        else:
            score += 1
    return score


def default_value(root: dict[str, Any], raw: Any) -> Any:
    """A new item's value: its default, or an object of its properties' defaults."""
    info = field_info(root, raw)
    if "default" in info.node:
        return copy.deepcopy(info.node["default"])
    if info.kind != "object":
        return None
    properties, required = object_properties(root, info.node)
    out = {}
    for prop in properties:
        if prop.show_if is not None:
            continue
        sub = field_info(root, prop.schema)
        if "default" in sub.node or (sub.kind == "object" and prop.name in required):
            out[prop.name] = default_value(root, prop.schema)
    return out


def schema_at(root: dict[str, Any], path: list[str], values: Any) -> Any:
    """The schema node at a path of the config (through arrays, and the variants `values` are
    of), or None."""
    node: Any = root
    value: Any = values
    for segment in path:
        info = field_info(root, node)
        if info.kind == "variants":
            node = info.members[pick_variant(root, info.members, value)]
            info = field_info(root, node)
        if info.kind == "object":
            found = next((p for p in object_properties(root, info.node)[0]
                          if p.name == segment), None)
            if found is None:
                return None
            node = found.schema
            value = value.get(segment, MISSING) if isinstance(value, dict) else MISSING
        elif info.kind in ("array", "checkboxes") and segment.isdigit():
            node = info.items
            value = value[int(segment)] if isinstance(value, list) and int(segment) < len(value) \
                else MISSING
        else:
            return None
    return node
