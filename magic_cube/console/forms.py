"""Server-rendered forms for a template's config schema (JSON Schema 2020-12 + `x-ui` hints).

A template declares the merchant's settings as a JSON Schema with UI hints (`x-ui`, see
docs/templates.md). No maintained Python library turns such a schema into server-side HTML, so
this module does, in four parts:

- `render_form` builds the fields (not the `<form>` tag: pages wrap it) from the Jinja macros in
  `templates/console/_form.html`. Names are dotted paths (`config.prizes.0.name`), ids derive from
  them (`field-config-prizes-0-name`), so an error keyed `prizes.0.name` by the validator lands on
  its input and the error summary can link to it.
- `parse_form` turns the submitted strings back into typed JSON *before* validation (a money
  field typed as yuan becomes integer fen, `"5"` becomes `5`, dates become RFC 3339 strings);
  what cannot be read comes back as a coercion error instead of an exception.
- `form_action` / `apply_array_action` give array rows add/remove/move buttons that work without
  JavaScript: the buttons submit the form and the page renders it again, changed, unsaved.
- `error_summary` lists every error with a link to its field, for the top of the page.

`static/forms.js` makes the same buttons instant and shows conditional fields as values change;
every behaviour also works without it. The few fixed words of our own live in `STRINGS`.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from jsonschema import Draft202012Validator
from markupsafe import Markup, escape

from magic_cube.catalog.schemaref import resolve

__all__ = [
    "STRINGS",
    "ErrorSummary",
    "apply_array_action",
    "error_summary",
    "field_id",
    "form_action",
    "parse_form",
    "render_form",
]

FieldErrors = dict[str, list[dict[str, str]]]

# Our own words (everything else comes from the template). One place, so that Flask-Babel can
# take over later.
STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "add": "Add", "remove": "Remove", "move_up": "Move up", "move_down": "Move down",
        "required": "required", "choose": "Choose…", "yes": "Yes", "no": "No",
        "variant": "Kind", "option": "Option {n}", "actions": "Actions",
        "timezone": "Time zone: {tz}",
        "not_whole": "Must be a whole number", "not_number": "Must be a number",
        "not_money": "Must be an amount such as 12.34",
    },
    "zh": {
        "add": "添加", "remove": "删除", "move_up": "上移", "move_down": "下移",
        "required": "必填", "choose": "请选择…", "yes": "是", "no": "否",
        "variant": "类型", "option": "选项 {n}", "actions": "操作",
        "timezone": "时区：{tz}",
        "not_whole": "应为整数", "not_number": "应为数字",
        "not_money": "应为金额，例如 12.34",
    },
}
CURRENCY_SYMBOLS = {"CNY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "HKD": "HK$"}
DEFAULT_TIMEZONE = "Asia/Shanghai"
ACTIONS = ("add", "remove", "up", "down")
LEAF_KINDS = ("integer", "number", "string", "boolean", "choice")

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
_MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<missing>"})()
_OFF = "--off"  # appended to the ids inside an inactive oneOf variant, so ids stay unique


# -- small helpers -----------------------------------------------------------------------------

def _lang(lang: str | None) -> str:
    return "zh" if (lang or "").lower().startswith("zh") else "en"


def _join(prefix: str, segments: list[str]) -> str:
    return ".".join([prefix, *segments]) if prefix else ".".join(segments)


def field_id(name: str) -> str:
    """The HTML id of the input named `name` (`config.prizes.0.name` → `field-config-prizes-0-name`)."""
    return "field-" + (re.sub(r"[^\w-]", "-", name.replace(".", "-")) or "root")


def _text(value: Any, lang: str) -> str | None:
    """An i18n `{zh, en}` object (or a plain string) in `lang`."""
    if value is None:
        return None
    if isinstance(value, dict):
        found = value.get(lang) or value.get("en") or value.get("zh")
        if found is None and value:
            found = next(iter(value.values()))
        return None if found is None else str(found)
    return str(value)


def _humanise(name: str) -> str:
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(name)).replace("_", " ").replace("-", " ")
    words = " ".join(words.split())
    return words[:1].upper() + words[1:].lower() if words else ""


def _option_str(value: Any) -> str:
    """The form string of an enum value: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _same(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but True != 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def _getlist(form: Any, name: str) -> list[str]:
    if hasattr(form, "getlist"):
        return [str(v) for v in form.getlist(name)]
    value = form.get(name) if isinstance(form, Mapping) else None
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _offset(tz: ZoneInfo) -> str:
    raw = datetime.now(tz).strftime("%z") or "+0000"
    return f"{raw[:3]}:{raw[3:5]}"


def _decimal_str(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _number_str(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    return _decimal_str(Decimal(repr(value)))


def _fen_to_yuan(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    yuan = Decimal(repr(value) if isinstance(value, float) else value) / 100
    if yuan == yuan.quantize(Decimal("0.01")):
        return format(yuan.quantize(Decimal("0.01")), "f")
    return _decimal_str(yuan)


# -- reading a schema --------------------------------------------------------------------------

def _resolve(root: dict[str, Any], node: Any) -> dict[str, Any]:
    """Follow local `$ref`s; hints (`x-ui`) beside a `$ref` refine those of its target."""
    found = resolve(root, node)
    if not isinstance(found, dict):
        return {}
    if isinstance(node, dict) and "$ref" in node and isinstance(node.get("x-ui"), dict):
        target = resolve(root, {"$ref": node["$ref"]})
        if isinstance(target, dict) and isinstance(target.get("x-ui"), dict):
            found = {**found, "x-ui": {**target["x-ui"], **node["x-ui"]}}
    return found


def _is_null(node: dict[str, Any]) -> bool:
    return node.get("type") == "null" or ("const" in node and node["const"] is None)


@dataclass
class _Info:
    """What the form needs to know about one schema node."""

    node: dict[str, Any]
    kind: str  # object, variants, array, checkboxes, choice, const, boolean, integer, number, string
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
    def fmt(self) -> str | None:
        """The date/time flavour of a string field: date, date-time or time (format or widget)."""
        widget = {"date": "date", "datetime": "date-time"}.get(self.widget or "")
        return self.node.get("format") or widget


def _info(root: dict[str, Any], raw: Any, lang: str = "en") -> _Info:
    node = _resolve(root, raw)
    for key in ("oneOf", "anyOf"):
        members = node.get(key)
        if not isinstance(members, list) or not members:
            continue
        resolved = [_resolve(root, m) for m in members]
        real = [m for m in resolved if not _is_null(m)]
        nullable = len(real) < len(resolved)
        rest = {k: v for k, v in node.items() if k != key}
        if real and all("const" in m for m in real):
            options = [(m["const"], _text((m.get("x-ui") or {}).get("label"), lang)
                        or _text(m.get("title"), lang) or _enum_label(m["const"], lang))
                       for m in real]
            return _Info(rest, "choice", nullable, options)
        if len(real) == 1:
            inner = _info(root, {**real[0], **rest}, lang)
            inner.nullable = inner.nullable or nullable
            return inner
        if real:
            return _Info(rest, "variants", nullable, members=real)
    types = node.get("type")
    types = types if isinstance(types, list) else [types] if isinstance(types, str) else []
    nullable = "null" in types
    kinds = [t for t in types if t != "null"]
    if isinstance(node.get("enum"), list):
        values = [v for v in node["enum"] if v is not None]
        return _Info(node, "choice", nullable or None in node["enum"],
                     [(v, _enum_label(v, lang)) for v in values])
    if "const" in node:
        return _Info(node, "const", options=[(node["const"], _enum_label(node["const"], lang))])
    kind = kinds[0] if kinds else (
        "object" if "properties" in node or "allOf" in node else
        "array" if "items" in node else "string")
    widget = (node.get("x-ui") or {}).get("widget") if isinstance(node.get("x-ui"), dict) else None
    if kind == "array":
        items = node.get("items") if isinstance(node.get("items"), dict) else {}
        item = _info(root, items, lang)
        if item.kind == "choice" and (node.get("uniqueItems") or widget == "checkboxes"):
            return _Info(node, "checkboxes", nullable, item.options, items=items)
        return _Info(node, "array", nullable, items=items)
    if kind == "boolean" and widget in ("select", "radio"):
        strings = STRINGS[_lang(lang)]
        return _Info(node, "choice", nullable, [(True, strings["yes"]), (False, strings["no"])])
    if kind in ("object", "boolean", "integer", "number"):
        return _Info(node, kind, nullable)
    return _Info(node, "string", nullable)


def _enum_label(value: Any, lang: str) -> str:
    if isinstance(value, bool):
        return STRINGS[_lang(lang)]["yes" if value else "no"]
    if isinstance(value, str):
        return _humanise(value) or value
    return _option_str(value)


@dataclass
class _Prop:
    name: str
    schema: Any
    cond: dict[str, Any] | None = None  # show only when this holds (from if/then/else)
    cond_required: bool = False  # required whenever it shows


def _object_parts(root: dict[str, Any], node: Any) -> tuple[list[_Prop], set[str]]:
    """The properties of an object schema in display order (declared ones, those of `allOf`
    members, then those only in `then`/`else`, each with its condition) and the required names."""
    props: dict[str, _Prop] = {}
    required: set[str] = set()
    branches: list[tuple[dict[str, Any] | None, dict[str, Any]]] = []
    order: list[str] = []

    def walk(n: Any, depth: int = 0) -> None:
        n = _resolve(root, n)
        if depth > 16:
            return
        ui = n.get("x-ui")
        if isinstance(ui, dict) and isinstance(ui.get("order"), list) and not order:
            order.extend(str(x) for x in ui["order"])
        if isinstance(n.get("properties"), dict):
            for name, sub in n["properties"].items():
                props.setdefault(name, _Prop(name, sub))
        if isinstance(n.get("required"), list):
            required.update(str(x) for x in n["required"])
        for member in n.get("allOf", []) if isinstance(n.get("allOf"), list) else []:
            walk(member, depth + 1)
        if "if" in n:
            cond = _condition(root, n["if"])
            for key, negate in (("then", False), ("else", True)):
                branch = _resolve(root, n.get(key)) if key in n else None
                if branch:
                    branches.append((None if cond is None else {"not": cond} if negate else cond,
                                     branch))

    walk(node)
    seen: dict[str, int] = {}
    for _cond, branch in branches:
        for name in branch.get("properties", {}) if isinstance(branch.get("properties"), dict) \
                else {}:
            seen[name] = seen.get(name, 0) + 1
    for cond, branch in branches:
        names = branch.get("properties") if isinstance(branch.get("properties"), dict) else {}
        needed = set(branch.get("required", [])) if isinstance(branch.get("required"), list) \
            else set()
        for name, sub in names.items():
            if name in props:
                continue  # declared outright (the branch only refines it) or seen already
            both = seen.get(name, 0) > 1  # in then and else: always there
            props[name] = _Prop(name, sub, None if both else cond,
                                cond_required=name in needed and cond is not None and not both)
    listed = [n for n in order if n in props]
    rest = [n for n in props if n not in listed]
    return [props[n] for n in (*listed, *rest)], required


def _condition(root: dict[str, Any], raw: Any) -> dict[str, Any] | None:
    """An `if` schema as a show-if condition (`{"property", "const"|"enum"}` or `{"all": […]}`),
    or None when it says more than property values we can compare in a browser."""
    node = _resolve(root, raw)
    props = node.get("properties")
    allowed = {"properties", "required", "type", "title", "description", "$comment"}
    if not isinstance(props, dict) or not props or set(node) - allowed:
        return None
    leaves = []
    for name, sub in props.items():
        sub = _resolve(root, sub)
        if "const" in sub:
            leaves.append({"property": name, "const": sub["const"]})
        elif isinstance(sub.get("enum"), list):
            leaves.append({"property": name, "enum": sub["enum"]})
        else:
            return None
    return leaves[0] if len(leaves) == 1 else {"all": leaves}


def _with_names(cond: dict[str, Any], object_name: str) -> dict[str, Any]:
    """The condition with the input name of each property, for forms.js."""
    if "not" in cond:
        return {"not": _with_names(cond["not"], object_name)}
    if "all" in cond:
        return {"all": [_with_names(c, object_name) for c in cond["all"]]}
    name = f"{object_name}.{cond['property']}" if object_name else cond["property"]
    return {**cond, "name": name}


def _holds(root: dict[str, Any], cond: dict[str, Any], value: dict[str, Any],
           props: list[_Prop]) -> bool:
    if "not" in cond:
        return not _holds(root, cond["not"], value, props)
    if "all" in cond:
        return all(_holds(root, c, value, props) for c in cond["all"])
    name = cond["property"]
    current = value.get(name, _MISSING)
    if current is _MISSING:
        schema = next((_resolve(root, p.schema) for p in props if p.name == name), {})
        current = schema.get("default", _MISSING)
    if current is _MISSING:
        return False
    if "const" in cond:
        return _same(current, cond["const"])
    return any(_same(current, v) for v in cond.get("enum", []))


def _variant_document(root: dict[str, Any], member: dict[str, Any]) -> dict[str, Any]:
    doc = dict(member)
    for key in ("$defs", "definitions"):
        if key in root and key not in doc:
            doc[key] = root[key]
    return doc


def _pick_variant(root: dict[str, Any], members: list[dict[str, Any]], value: Any) -> int:
    """The variant that `value` belongs to: the first it is valid against, else the closest."""
    if value is _MISSING or value is None:
        return 0
    for index, member in enumerate(members):
        try:
            if Draft202012Validator(_variant_document(root, member)).is_valid(value):
                return index
        except Exception:  # noqa: BLE001 - an odd member schema is just not a match
            continue
    best, best_score = 0, None
    for index, member in enumerate(members):
        info = _info(root, member)
        score = 0
        if info.kind == "object" and isinstance(value, dict):
            props, _ = _object_parts(root, info.node)
            names = {p.name: _resolve(root, p.schema) for p in props}
            for key, item in value.items():
                sub = names.get(key)
                if sub is None:
                    score -= 1
                elif "const" in sub:
                    score += 10 if _same(sub["const"], item) else -100
                else:
                    score += 1
        elif info.kind == "object" or isinstance(value, dict):
            score -= 100
        if best_score is None or score > best_score:
            best, best_score = index, score
    return best


def _default_value(root: dict[str, Any], raw: Any) -> Any:
    """A new item's value: its default, or an object of its properties' defaults."""
    info = _info(root, raw)
    if "default" in info.node:
        return copy.deepcopy(info.node["default"])
    if info.kind == "object":
        props, required = _object_parts(root, info.node)
        out = {}
        for prop in props:
            if prop.cond is not None:
                continue
            sub = _info(root, prop.schema)
            if "default" in sub.node or (sub.kind == "object" and prop.name in required):
                out[prop.name] = _default_value(root, prop.schema)
        return out
    return None


def _label(info: _Info, name: str, lang: str) -> str:
    return (_text(info.ui.get("label"), lang) or _text(info.node.get("title"), lang)
            or _humanise(name) or name)


# -- rendering ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Ctx:
    id_suffix: str = ""  # "--off" per inactive variant around
    readonly: bool = False
    depth: int = 0  # arrays around (each has its own index placeholder)
    template: bool = False  # a <template> row: no errors, no values of its own


def _attrs(values: Mapping[str, Any]) -> Markup:
    """HTML attributes from a dict: True → bare attribute, None/False → left out."""
    out = []
    for key, value in values.items():
        if value is None or value is False:
            continue
        if value is True:
            out.append(f" {escape(key)}")
        else:
            out.append(f' {escape(key)}="{escape(value)}"')
    return Markup("".join(out))


_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=False,
)
_ENV.filters["attrs"] = _attrs


def _macros() -> Any:
    return _ENV.get_template("console/_form.html").module


class _Renderer:
    def __init__(self, root: dict[str, Any], errors: FieldErrors | None, lang: str, prefix: str,
                 timezone: str, currency: str) -> None:
        self.root = root
        self.errors = errors or {}
        self.lang = _lang(lang)
        self.s = STRINGS[self.lang]
        self.prefix = prefix
        self.tz = timezone
        self.zone = _zone(timezone)
        self.currency = CURRENCY_SYMBOLS.get(currency, currency)

    # names and ids
    def name(self, segs: list[str]) -> str:
        return _join(self.prefix, segs)

    def fid(self, segs: list[str], ctx: _Ctx) -> str:
        return field_id(self.name(segs)) + ctx.id_suffix

    def info(self, raw: Any) -> _Info:
        return _info(self.root, raw, self.lang)

    def messages(self, segs: list[str], ctx: _Ctx, deep: bool = False) -> list[str]:
        if ctx.template:
            return []
        key = ".".join(segs)
        keys = [key]
        if deep:  # a checkbox group shows its items' errors too
            keys += [k for k in self.errors if k.startswith(key + ".")
                     and k[len(key) + 1:].isdigit()]
        return [e.get("message", "") if isinstance(e, dict) else str(e)
                for k in keys for e in self.errors.get(k, [])]

    def base(self, kind: str, segs: list[str], info: _Info, required: bool, ctx: _Ctx, *,
             label: str | None = None, number: Any = None, deep: bool = False,
             help_id: str | None = None) -> dict[str, Any]:
        fid = self.fid(segs, ctx)
        help_text = _text(info.ui.get("help"), self.lang) or _text(info.node.get("description"),
                                                                   self.lang)
        errors = self.messages(segs, ctx, deep)
        own_help = f"{fid}-help" if help_text and help_id is None else None
        view = {
            "kind": kind, "id": fid, "name": self.name(segs), "path": ".".join(segs),
            "label": label or _label(info, segs[-1] if segs else "", self.lang),
            "number": number, "label_hidden": False, "required": required,
            "help": help_text if own_help else None, "help_id": own_help,
            "errors": errors, "error_id": f"{fid}-error" if errors else None,
            "show_if": None, "shown": True, "readonly": ctx.readonly, "s": self.s,
            "carry": [],
        }
        view["describedby"] = " ".join(x for x in (help_id or own_help, view["error_id"]) if x) \
            or None
        return view

    def aria(self, view: dict[str, Any]) -> dict[str, Any]:
        return {"aria-invalid": "true" if view["errors"] else None,
                "aria-describedby": view["describedby"]}

    # the form
    def form(self, values: Any) -> dict[str, Any]:
        info = self.info(self.root)
        ctx = _Ctx()
        value = values if isinstance(values, dict) else {}
        return {"id": field_id(self.name([])), "children": self.object_children([], info, value,
                                                                                 ctx)}

    def field(self, segs: list[str], raw: Any, value: Any, required: bool, ctx: _Ctx, *,
              number: Any = None, label: str | None = None) -> dict[str, Any]:
        info = self.info(raw)
        if value is _MISSING and "default" in info.node:
            value = copy.deepcopy(info.node["default"])
        ui = info.ui
        if ui.get("hidden") is True or info.widget == "hidden" or info.kind == "const":
            inputs: list[tuple[str, str]] = []
            self.hidden_inputs(segs, raw, value, inputs)
            return {"kind": "hidden", "inputs": inputs, "show_if": None, "shown": True}
        if ui.get("readonly") is True or info.node.get("readOnly") is True:
            ctx = replace(ctx, readonly=True)
        if info.kind == "object":
            return self.object_view(segs, info, value, required, ctx, number=number, label=label)
        if info.kind == "variants":
            return self.variants_view(segs, info, value, required, ctx, number=number,
                                      label=label)
        if info.kind == "array":
            return self.array_view(segs, info, value, required, ctx, label=label)
        if info.kind == "checkboxes":
            return self.checkboxes_view(segs, info, value, required, ctx, label=label)
        return self.leaf(segs, info, value, required, ctx, number=number, label=label)

    def object_children(self, segs: list[str], info: _Info, value: Any,
                        ctx: _Ctx) -> list[dict[str, Any]]:
        props, required = _object_parts(self.root, info.node)
        current = value if isinstance(value, dict) else {}
        out: list[dict[str, Any]] = []
        groups: dict[str, dict[str, Any]] = {}
        for prop in props:
            child_segs = [*segs, prop.name]
            child = self.field(child_segs, prop.schema, current.get(prop.name, _MISSING),
                               prop.name in required or prop.cond_required, ctx)
            if prop.cond is not None:
                child["show_if"] = json.dumps(_with_names(prop.cond, self.name(segs)),
                                              ensure_ascii=False)
                child["shown"] = _holds(self.root, prop.cond, current, props)
            group = _text(self.info(prop.schema).ui.get("group"), self.lang)
            if group and child["kind"] != "hidden":
                if group not in groups:
                    groups[group] = {"kind": "group", "label": group, "children": [],
                                     "show_if": None, "shown": True}
                    out.append(groups[group])
                groups[group]["children"].append(child)
            else:
                out.append(child)
        return out

    def object_view(self, segs: list[str], info: _Info, value: Any, required: bool, ctx: _Ctx, *,
                    number: Any = None, label: str | None = None) -> dict[str, Any]:
        view = self.base("object", segs, info, required, ctx, number=number, label=label)
        view["children"] = self.object_children(segs, info, value, ctx)
        return view

    def variants_view(self, segs: list[str], info: _Info, value: Any, required: bool,
                      ctx: _Ctx, *, number: Any = None, label: str | None = None
                      ) -> dict[str, Any]:
        view = self.base("variants", segs, info, required, ctx, number=number, label=label)
        # An optional oneOf without a value starts with no variant chosen ("Choose…").
        view["blank"] = not required
        active = None if not required and (value is _MISSING or value is None) \
            else _pick_variant(self.root, info.members, value)
        if any(self.info(m).kind != "object" for m in info.members):
            # The active variant's own input takes the path's id and shows the path's errors.
            view["id"] += "-variants"
            view["errors"], view["error_id"] = [], None
            view["help_id"] = f"{view['id']}-help" if view["help"] else None
            view["describedby"] = view["help_id"]
        select_segs = [*segs, "__variant"]
        view["select_id"] = self.fid(select_segs, ctx)
        view["select_name"] = self.name(select_segs)
        variants = []
        for index, member in enumerate(info.members):
            sub = self.info(member)
            is_active = index == active
            sub_ctx = ctx if is_active else replace(ctx, id_suffix=ctx.id_suffix + _OFF)
            member_value = value if is_active else _MISSING
            title = (_text(sub.ui.get("label"), self.lang) or _text(member.get("title"), self.lang)
                     or self.s["option"].format(n=index + 1))
            if sub.kind == "object":
                children = self.object_children(segs, sub, member_value, sub_ctx)
            else:
                children = [self.field(segs, member, member_value, required, sub_ctx,
                                       label=title)]
            variants.append({"index": index, "label": title, "active": is_active,
                             "children": children})
        view["variants"] = variants
        return view

    def array_view(self, segs: list[str], info: _Info, value: Any, required: bool, ctx: _Ctx, *,
                   label: str | None = None) -> dict[str, Any]:
        min_items = info.node.get("minItems", 0) if isinstance(info.node.get("minItems"), int) \
            else 0
        max_items = info.node.get("maxItems") if isinstance(info.node.get("maxItems"), int) \
            else None
        view = self.base("array", segs, info, required or min_items > 0, ctx, label=label)
        item = self.info(info.items)
        rows_value = value if isinstance(value, list) else []
        layout = "table" if self.flat(item) else "list"
        placeholder = f"__i{ctx.depth}__"
        inner = replace(ctx, depth=ctx.depth + 1)
        item_label = (_text(item.ui.get("label"), self.lang) or _text(item.node.get("title"),
                                                                      self.lang) or view["label"])
        count = len(rows_value)
        view.update({
            "layout": layout, "marker": self.name([*segs, "__array"]),
            "id_prefix": field_id(self.name(segs)), "placeholder": placeholder,
            "min_items": min_items, "max_items": max_items,
            "can_add": not ctx.readonly and (max_items is None or count < max_items),
            "columns": self.columns(segs, item, ctx) if layout == "table" else [],
        })
        view["rows"] = [
            self.row(segs, str(i), item, info.items, rows_value[i], layout, inner, item_label,
                     number=i + 1, buttons=self.buttons(segs, i, count, min_items, ctx))
            for i in range(count)]
        view["template"] = None if ctx.readonly else self.row(
            segs, placeholder, item, info.items, _default_value(self.root, info.items), layout,
            replace(inner, template=True), item_label, number="",
            buttons=self.buttons(segs, placeholder, None, min_items, ctx))
        return view

    def flat(self, item: _Info) -> bool:
        """Whether rows of this item schema fit a table: an object of simple fields only."""
        if item.kind != "object":
            return False
        props, _ = _object_parts(self.root, item.node)
        for prop in props:
            sub = self.info(prop.schema)
            if prop.cond is not None or sub.kind not in (*LEAF_KINDS, "const"):
                return False
            if sub.kind == "choice" and sub.widget == "radio":
                return False
            if sub.widget == "textarea" or _text(sub.ui.get("group"), self.lang):
                return False
        return bool(props)

    def columns(self, segs: list[str], item: _Info, ctx: _Ctx) -> list[dict[str, Any]]:
        props, required = _object_parts(self.root, item.node)
        out = []
        for prop in props:
            sub = self.info(prop.schema)
            if sub.ui.get("hidden") is True or sub.widget == "hidden" or sub.kind == "const":
                continue
            help_text = _text(sub.ui.get("help"), self.lang) or _text(sub.node.get("description"),
                                                                      self.lang)
            out.append({"name": prop.name, "label": _label(sub, prop.name, self.lang),
                        "required": prop.name in required and sub.kind != "boolean",
                        "help": help_text,
                        "help_id": f"{self.fid([*segs, prop.name], ctx)}-help" if help_text
                        else None})
        return out

    def buttons(self, segs: list[str], index: int | str, count: int | None, min_items: int,
                ctx: _Ctx) -> list[dict[str, str]]:
        if ctx.readonly:
            return []
        path = self.name([*segs, str(index)])
        out = []
        if count is None or (isinstance(index, int) and index > 0):
            out.append({"action": "up", "name": f"__up:{path}", "label": self.s["move_up"]})
        if count is None or (isinstance(index, int) and index < count - 1):
            out.append({"action": "down", "name": f"__down:{path}", "label": self.s["move_down"]})
        if count is None or count > min_items:
            out.append({"action": "remove", "name": f"__remove:{path}",
                        "label": self.s["remove"]})
        return out

    def row(self, segs: list[str], index: str, item: _Info, item_raw: Any, value: Any,
            layout: str, ctx: _Ctx, item_label: str, *, number: Any,
            buttons: list[dict[str, str]]) -> dict[str, Any]:
        row_segs = [*segs, index]
        row: dict[str, Any] = {
            "id": self.fid(row_segs, ctx), "index": index, "number": number,
            "label": item_label, "buttons": buttons, "layout": layout,
            "marker": self.name([*row_segs, "__row"]) if item.kind == "object" else None,
            "errors": [], "error_id": None, "cells": [], "hidden": [], "item": None,
        }
        if layout == "table":
            props, required = _object_parts(self.root, item.node)
            current = value if isinstance(value, dict) else {}
            row["errors"] = self.messages(row_segs, ctx)
            row["error_id"] = f"{row['id']}-error" if row["errors"] else None
            for prop in props:
                sub = self.info(prop.schema)
                cell_segs = [*row_segs, prop.name]
                cell_value = current.get(prop.name, _MISSING)
                if sub.ui.get("hidden") is True or sub.widget == "hidden" or sub.kind == "const":
                    row["hidden"].append(self.field(cell_segs, prop.schema, cell_value, False,
                                                    ctx))
                    continue
                column_help = self.fid([*segs, prop.name], ctx) + "-help" \
                    if (_text(sub.ui.get("help"), self.lang)
                        or _text(sub.node.get("description"), self.lang)) else None
                cell_ctx = replace(ctx, readonly=True) if (
                    sub.ui.get("readonly") is True or sub.node.get("readOnly") is True) else ctx
                if cell_value is _MISSING and "default" in sub.node:
                    cell_value = copy.deepcopy(sub.node["default"])
                cell = self.leaf(cell_segs, sub, cell_value, prop.name in required, cell_ctx,
                                 number=number, help_id=column_help,
                                 label=_label(sub, prop.name, self.lang))
                cell["label_hidden"] = True
                row["cells"].append(cell)
        else:
            # A row is there by being there: only a primitive item's input is `required`.
            row["item"] = self.field(row_segs, item_raw, _MISSING if value is None else value,
                                     item.kind not in ("object", "array"), ctx,
                                     number=number, label=item_label)
        return row

    def checkboxes_view(self, segs: list[str], info: _Info, value: Any, required: bool,
                        ctx: _Ctx, *, label: str | None = None) -> dict[str, Any]:
        view = self.base("checkboxes", segs, info, required, ctx, label=label, deep=True)
        chosen = value if isinstance(value, list) else []
        view["marker"] = self.name([*segs, "__array"])
        view["options"] = [
            {"id": f"{view['id']}--{i}", "value": _option_str(v), "label": text,
             "checked": any(_same(v, c) for c in chosen)}
            for i, (v, text) in enumerate(info.options)]
        view["input_attrs"] = {**self.aria(view), "disabled": ctx.readonly}
        if ctx.readonly:
            view["carry"] = [(view["name"], o["value"]) for o in view["options"] if o["checked"]]
        return view

    def leaf(self, segs: list[str], info: _Info, value: Any, required: bool, ctx: _Ctx, *,
             number: Any = None, label: str | None = None, help_id: str | None = None
             ) -> dict[str, Any]:
        kind = info.kind
        if kind == "boolean":
            view = self.base("checkbox", segs, info, False, ctx, number=number, label=label,
                             help_id=help_id)
            checked = value is True
            view["attrs"] = {"type": "checkbox", "id": view["id"], "name": view["name"],
                             "value": "true", "checked": checked,
                             "role": "switch" if info.widget == "switch" else None,
                             "disabled": ctx.readonly, **self.aria(view)}
            view["switch"] = info.widget == "switch"
            view["carry"] = [(view["name"], "true" if checked else "false")] if ctx.readonly \
                else []
            view["unchecked"] = None if ctx.readonly else "false"
            return view
        if kind == "choice":
            radio = info.widget == "radio"
            view = self.base("radio" if radio else "select", segs, info, required, ctx,
                             number=number, label=label, help_id=help_id)
            options = []
            for i, (v, text) in enumerate(info.options):
                options.append({"id": f"{view['id']}--{i}", "value": _option_str(v),
                                "label": text,
                                "selected": value is not _MISSING and _same(v, value)})
            view["options"] = options
            selected = any(o["selected"] for o in options)
            view["blank"] = not radio and (not required or not selected)
            if radio:
                view["input_attrs"] = {"required": required and not ctx.readonly,
                                       "disabled": ctx.readonly, **self.aria(view)}
            else:
                view["attrs"] = {"id": view["id"], "name": view["name"],
                                 "required": required and not ctx.readonly,
                                 "disabled": ctx.readonly, **self.aria(view)}
            if ctx.readonly and selected:
                view["carry"] = [(view["name"], o["value"]) for o in options if o["selected"]]
            return view
        textarea = kind == "string" and info.widget == "textarea"
        view = self.base("textarea" if textarea else "input", segs, info, required, ctx,
                         number=number, label=label, help_id=help_id)
        node = info.node
        attrs: dict[str, Any] = {"id": view["id"], "name": view["name"]}
        view["unit"] = None
        view["tz"] = None
        shown = "" if value is _MISSING or value is None else value
        if kind in ("integer", "number"):
            attrs.update(self.number_attrs(info))
            if info.widget == "money":
                view["unit"] = self.currency
                shown = _fen_to_yuan(shown) if shown != "" else ""
            else:
                shown = _number_str(shown) if shown != "" else ""
                if info.widget == "percent":
                    view["unit"] = "%"
        else:
            fmt = info.fmt
            input_type = {"date": "date", "date-time": "datetime-local", "time": "time",
                          "email": "email", "uri": "url", "iri": "url"}.get(fmt or "", "text")
            if not textarea:
                attrs["type"] = input_type
            if fmt == "date-time" and shown != "":
                shown = self.local_datetime(shown)
            elif fmt == "time" and shown != "":
                shown = self.local_time(shown)
            if fmt in ("date-time", "time"):
                view["tz"] = {"name": self.name([*segs, "__tz"]), "zone": self.tz,
                              "id": f"{view['id']}-tz",
                              "note": self.s["timezone"].format(tz=self.tz)}
                view["describedby"] = " ".join(
                    x for x in (view["tz"]["id"], view["describedby"]) if x)
            if fmt == "time" or fmt == "date-time":
                if isinstance(shown, str) and shown.count(":") == 2:
                    attrs["step"] = "1"
            if isinstance(node.get("maxLength"), int):
                attrs["maxlength"] = node["maxLength"]
            if isinstance(node.get("minLength"), int) and node["minLength"] > 0:
                attrs["minlength"] = node["minLength"]
            if isinstance(node.get("pattern"), str) and not textarea:
                attrs["pattern"] = _html_pattern(node["pattern"])
            shown = shown if isinstance(shown, str) else _option_str(shown)
        placeholder = _text(info.ui.get("placeholder"), self.lang)
        attrs.update({"placeholder": placeholder, "required": required,
                      "readonly": ctx.readonly, **self.aria(view)})
        if textarea:
            view["value"] = str(shown)
        else:
            attrs["value"] = str(shown)
        view["attrs"] = attrs
        return view

    def number_attrs(self, info: _Info) -> dict[str, Any]:
        node = info.node
        money = info.widget == "money"
        integer = info.kind == "integer"
        scale = Decimal(100) if money else Decimal(1)

        def bound(value: Any, nudge: int = 0) -> str | None:
            if isinstance(value, bool) or not isinstance(value, int | float):
                return None
            return _decimal_str((Decimal(repr(value) if isinstance(value, float) else value)
                                 + nudge) / scale)

        attrs: dict[str, Any] = {"type": "text" if info.widget == "text" else "number"}
        attrs["min"] = bound(node.get("minimum"))
        attrs["max"] = bound(node.get("maximum"))
        if integer and attrs["min"] is None:
            attrs["min"] = bound(node.get("exclusiveMinimum"), 1)
        if integer and attrs["max"] is None:
            attrs["max"] = bound(node.get("exclusiveMaximum"), -1)
        multiple = node.get("multipleOf")
        if isinstance(multiple, int | float) and not isinstance(multiple, bool) and multiple > 0:
            attrs["step"] = bound(multiple)
        elif money:
            attrs["step"] = "0.01"
        elif integer:
            attrs["step"] = "1"
        else:
            attrs["step"] = "any"
        attrs["inputmode"] = "numeric" if integer and not money else "decimal"
        if attrs["type"] == "text":
            attrs.pop("min"), attrs.pop("max"), attrs.pop("step")
        return attrs

    def local_datetime(self, value: Any) -> str:
        try:
            moment = datetime.fromisoformat(str(value).replace("z", "Z"))
        except ValueError:
            return str(value)
        if moment.tzinfo is not None:
            moment = moment.astimezone(self.zone)
        return moment.strftime("%Y-%m-%dT%H:%M:%S" if moment.second else "%Y-%m-%dT%H:%M")

    def local_time(self, value: Any) -> str:
        text = str(value)
        match = re.fullmatch(r"(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?([zZ]|[+-]\d{2}:\d{2})?", text)
        if not match:
            return text
        hh, mm, ss, off = match.groups()
        seconds = int(ss or 0)
        if off:
            if off in ("z", "Z"):
                delta = timedelta(0)
            else:
                sign = 1 if off[0] == "+" else -1
                delta = sign * timedelta(hours=int(off[1:3]), minutes=int(off[4:6]))
            base = datetime.combine(date.today(), datetime.min.time()).replace(
                hour=int(hh), minute=int(mm), second=seconds,
                tzinfo=dt_timezone(delta))
            local = base.astimezone(self.zone)
            hh, mm, seconds = f"{local.hour:02d}", f"{local.minute:02d}", local.second
        return f"{hh}:{mm}:{seconds:02d}" if seconds else f"{hh}:{mm}"

    def hidden_inputs(self, segs: list[str], raw: Any, value: Any,
                      out: list[tuple[str, str]]) -> None:
        """A never-shown field as hidden inputs that parse back to its value."""
        info = self.info(raw)
        if value is _MISSING and "default" in info.node:
            value = copy.deepcopy(info.node["default"])
        name = self.name(segs)
        kind = info.kind
        if kind == "object":
            if value is _MISSING:
                return
            props, _ = _object_parts(self.root, info.node)
            current = value if isinstance(value, dict) else {}
            for prop in props:
                if prop.cond is not None and not _holds(self.root, prop.cond, current, props):
                    continue
                self.hidden_inputs([*segs, prop.name], prop.schema,
                                   current.get(prop.name, _MISSING), out)
        elif kind == "variants":
            if value is _MISSING:
                return
            index = _pick_variant(self.root, info.members, value)
            out.append((self.name([*segs, "__variant"]), str(index)))
            self.hidden_inputs(segs, info.members[index], value, out)
        elif kind in ("array", "checkboxes"):
            if not isinstance(value, list):
                return
            out.append((self.name([*segs, "__array"]), "1"))
            for i, item in enumerate(value):
                if kind == "checkboxes":
                    out.append((name, _option_str(item)))
                    continue
                if self.info(info.items).kind == "object":
                    out.append((self.name([*segs, str(i), "__row"]), "1"))
                self.hidden_inputs([*segs, str(i)], info.items, item, out)
        elif kind == "const":  # a variant's discriminator: always there
            out.append((name, _option_str(info.options[0][0])))
        elif value is _MISSING or value is None:
            return
        elif kind == "boolean":
            out.append((name, "true" if value is True else "false"))
        elif kind == "choice":
            out.append((name, _option_str(value)))
        elif kind in ("integer", "number"):
            out.append((name, _fen_to_yuan(value) if info.widget == "money"
                        else _number_str(value)))
        else:
            fmt = info.fmt
            if fmt == "date-time":
                out.append((name, self.local_datetime(value)))
            elif fmt == "time":
                out.append((name, self.local_time(value)))
            else:
                out.append((name, value if isinstance(value, str) else _option_str(value)))
            if fmt in ("date-time", "time"):
                out.append((self.name([*segs, "__tz"]), self.tz))


def _html_pattern(pattern: str) -> str:
    """A JSON Schema pattern (unanchored search) as an HTML `pattern` (always anchored)."""
    anchored = pattern.startswith("^") and pattern.endswith("$") and not pattern.endswith("\\$")
    if anchored and "|" not in pattern:
        return pattern[1:-1]
    return f".*(?:{pattern}).*"


def render_form(schema: dict[str, Any], values: dict[str, Any] | None,
                errors: FieldErrors | None = None, lang: str = "en", prefix: str = "config", *,
                timezone: str = DEFAULT_TIMEZONE, currency: str = "CNY") -> Markup:
    """The config form's fields as HTML, for a page to wrap in its own `<form>`.

    `values` are the merchant's config (None: a new form, defaults prefilled); `errors` are
    keyed by dotted path as `ConfigValidator.validate` (and `parse_form`) report them, shown next
    to their fields (root errors `""` belong in the summary, see `error_summary`). Date-times are
    shown and read as wall time in `timezone`; money in units of `currency` (stored as cents).
    """
    renderer = _Renderer(schema, errors, lang, prefix, timezone, currency)
    view = renderer.form(values)
    return Markup(_tidy(str(_macros().form(view))))


_TEXTAREA = re.compile(r"(<textarea\b.*?</textarea>)", re.DOTALL)


def _tidy(html: str) -> str:
    """Drop the blank lines the macros leave (never inside a textarea's value)."""
    parts = _TEXTAREA.split(html)
    for i in range(0, len(parts), 2):
        parts[i] = re.sub(r"\n[ \t]*(?=\n)", "", parts[i])
    return "".join(parts)


# -- parsing -----------------------------------------------------------------------------------

class _Parser:
    def __init__(self, root: dict[str, Any], form: Any, prefix: str, lang: str,
                 timezone: str) -> None:
        self.root = root
        self.form = form
        self.keys = [str(k) for k in (form.keys() if hasattr(form, "keys") else [])]
        self.prefix = prefix
        self.s = STRINGS[_lang(lang)]
        self.timezone = timezone
        self.errors: FieldErrors = {}

    def name(self, segs: list[str]) -> str:
        return _join(self.prefix, segs)

    def error(self, segs: list[str], message: str) -> None:
        entry = {"code": "type", "message": message}
        bucket = self.errors.setdefault(".".join(segs), [])
        if entry not in bucket:
            bucket.append(entry)

    def parse(self, segs: list[str], raw: Any, required: bool, in_array: bool = False) -> Any:
        info = _info(self.root, raw)
        kind = info.kind
        if kind == "object":
            return self.parse_object(segs, info, required or in_array)
        if kind == "variants":
            chosen = _getlist(self.form, self.name([*segs, "__variant"]))
            if not chosen:
                return _MISSING
            if chosen[-1] == "" and not required:
                return _MISSING
            try:
                index = int(chosen[-1])
            except ValueError:
                index = 0
            index = index if 0 <= index < len(info.members) else 0
            value = self.parse(segs, info.members[index], True, in_array)
            member = _info(self.root, info.members[index])
            if member.kind == "object" and isinstance(value, dict):
                # The chosen variant's discriminators, even when its fields were not submitted
                # (variant switched without JavaScript): the form shows that variant again.
                for prop in _object_parts(self.root, member.node)[0]:
                    sub = _resolve(self.root, prop.schema)
                    if "const" in sub and prop.name not in value:
                        value[prop.name] = copy.deepcopy(sub["const"])
            return value
        if kind == "array":
            return self.parse_array(segs, info, required)
        if kind == "checkboxes":
            return self.parse_checkboxes(segs, info, required)
        values = _getlist(self.form, self.name(segs))
        if not values:
            return _MISSING
        text = values[-1]
        if kind == "boolean":
            return text.strip().lower() in ("true", "on", "1", "yes")
        if kind == "const":
            return copy.deepcopy(info.options[0][0])
        blank = text == "" if kind == "string" else text.strip() == ""
        if blank:
            if in_array:
                return "" if kind == "string" else None
            if required and info.nullable:
                return None
            return _MISSING
        if kind == "choice":
            for value, _label_text in info.options:
                if _option_str(value) == text:
                    return copy.deepcopy(value)
            return text  # not an option: the validator says so
        if kind in ("integer", "number"):
            return self.number(segs, info, text)
        return self.string(segs, info, text)

    def parse_object(self, segs: list[str], info: _Info, required: bool) -> Any:
        props, needed = _object_parts(self.root, info.node)
        out: dict[str, Any] = {}
        for prop in props:
            value = self.parse([*segs, prop.name], prop.schema,
                               prop.name in needed or prop.cond_required)
            if value is not _MISSING:
                out[prop.name] = value
        for prop in props:
            if prop.cond is not None and prop.name in out \
                    and not _holds(self.root, prop.cond, out, props):
                del out[prop.name]
        if not out and not required and segs \
                and self.name([*segs, "__row"]) not in self.keys:
            return _MISSING
        return out

    def indices(self, segs: list[str]) -> list[int]:
        head = self.name(segs) + "."
        found = set()
        for key in self.keys:
            if key.startswith(head):
                segment = key[len(head):].split(".", 1)[0]
                if segment.isdigit():
                    found.add(int(segment))
        return sorted(found)

    def empty_list(self, info: _Info, required: bool) -> Any:
        default = info.node.get("default")
        if required or (isinstance(default, list) and default):
            return []
        return _MISSING

    def parse_array(self, segs: list[str], info: _Info, required: bool) -> Any:
        indices = self.indices(segs)
        if not indices:
            if self.name([*segs, "__array"]) not in self.keys:
                return _MISSING
            return self.empty_list(info, required)
        out = []
        for position, index in enumerate(indices):
            before = set(self.errors)
            value = self.parse([*segs, str(index)], info.items, True, in_array=True)
            out.append(None if value is _MISSING else value)
            if position != index:  # a gap in the submitted rows: errors follow the row
                self.renumber_errors([*segs, str(index)], [*segs, str(position)], before)
        return out

    def renumber_errors(self, old: list[str], new: list[str], before: set[str]) -> None:
        old_key, new_key = ".".join(old), ".".join(new)
        for key in [k for k in self.errors if k not in before]:
            if key == old_key or key.startswith(old_key + "."):
                self.errors[new_key + key[len(old_key):]] = self.errors.pop(key)

    def parse_checkboxes(self, segs: list[str], info: _Info, required: bool) -> Any:
        texts = [t for t in _getlist(self.form, self.name(segs)) if t != ""]
        if not texts:
            if self.name([*segs, "__array"]) not in self.keys:
                return _MISSING
            return self.empty_list(info, required)
        lookup = {_option_str(v): v for v, _label_text in info.options}
        return [copy.deepcopy(lookup[t]) if t in lookup else t for t in texts]

    def number(self, segs: list[str], info: _Info, text: str) -> Any:
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
            self.error(segs, self.s["not_money" if money else
                                    "not_whole" if info.kind == "integer" else "not_number"])
            return text
        if money:
            number = number * 100
        integral = number == number.to_integral_value()
        if info.kind == "integer" and not integral:
            self.error(segs, self.s["not_money" if money else "not_whole"])
            return text
        if integral and (info.kind == "integer" or money
                         or not any(c in cleaned for c in ".eE")):
            return int(number)
        return float(number)

    def string(self, segs: list[str], info: _Info, text: str) -> str:
        fmt = info.fmt
        if info.widget == "textarea":
            return text.replace("\r\n", "\n").replace("\r", "\n")
        if fmt not in ("date-time", "time"):
            return text
        zones = _getlist(self.form, self.name([*segs, "__tz"]))
        tz = _zone(zones[-1] if zones and zones[-1] else self.timezone)
        value = text.strip()
        if fmt == "date-time":
            try:
                moment = datetime.fromisoformat(value.replace(" ", "T", 1))
            except ValueError:
                return text  # the validator reports the format
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=tz)
            spec = "microseconds" if moment.microsecond else "seconds"
            return moment.isoformat(timespec=spec)
        match = re.fullmatch(r"(\d{2}):(\d{2})(?::(\d{2}))?(\.\d+)?([zZ]|[+-]\d{2}:\d{2})?",
                             value)
        if not match:
            return text
        hh, mm, ss, fraction, off = match.groups()
        return f"{hh}:{mm}:{ss or '00'}{fraction or ''}{off or _offset(tz)}"


def parse_form(schema: dict[str, Any], form: Any, prefix: str = "config", *,
               lang: str = "en", timezone: str = DEFAULT_TIMEZONE
               ) -> tuple[dict[str, Any], FieldErrors]:
    """The submitted config as typed JSON, and the fields whose text could not be read.

    `form` is werkzeug's MultiDict (or any mapping of name → str or list of str). Values are
    coerced before validation: numbers, booleans, money typed in yuan → integer fen, enums
    (by their form string), date-time-local → RFC 3339 in `timezone` (or the zone the form
    carried), arrays from indexed names, checkboxes from repeated names, the chosen variant of
    a `oneOf`. Empty optional inputs are left out (so defaults apply). Unreadable text stays as
    typed (the form shows it again) with a `type` error on its path.
    """
    parser = _Parser(schema, form, prefix, lang, timezone)
    value = parser.parse_object([], _info(schema, schema), True)
    return (value if isinstance(value, dict) else {}), parser.errors


# -- array buttons without JavaScript ----------------------------------------------------------

def form_action(form: Any) -> tuple[str, str] | None:
    """The array button that submitted the form (`("add", "config.prizes")`,
    `("remove", "config.prizes.2")`, …), or None for an ordinary submit."""
    keys = form.keys() if hasattr(form, "keys") else []
    for key in keys:
        verb, sep, path = str(key).partition(":")
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
    if not action:
        return out
    verb, path = action
    segs = path.split(".")
    if prefix:
        if segs[:1] != [prefix]:
            return out
        segs = segs[1:]
    if verb == "add":
        array_segs, index = segs, None
    else:
        if not segs or not segs[-1].isdigit():
            return out
        array_segs, index = segs[:-1], int(segs[-1])
    if not array_segs:
        return out
    node = _schema_at(schema, array_segs, out) if schema is not None else None
    info = _info(schema, node) if schema is not None and node is not None else None
    parent: Any = out
    for seg in array_segs[:-1]:
        if isinstance(parent, list) and seg.isdigit() and int(seg) < len(parent):
            if not isinstance(parent[int(seg)], dict | list):
                parent[int(seg)] = {}
            parent = parent[int(seg)]
        elif isinstance(parent, dict):
            if not isinstance(parent.get(seg), dict | list):
                parent[seg] = {}
            parent = parent[seg]
        else:
            return out
    last = array_segs[-1]
    if isinstance(parent, dict):
        if not isinstance(parent.get(last), list):
            if verb != "add":
                return out
            parent[last] = []
        rows = parent[last]
    elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent) \
            and isinstance(parent[int(last)], list):
        rows = parent[int(last)]
    else:
        return out
    min_items = info.node.get("minItems", 0) if info else 0
    max_items = info.node.get("maxItems") if info else None
    if verb == "add":
        if max_items is None or len(rows) < max_items:
            rows.append(_default_value(schema, info.items) if info and info.items is not None
                        else None)
    elif index is not None and 0 <= index < len(rows):
        if verb == "remove" and len(rows) > (min_items if isinstance(min_items, int) else 0):
            rows.pop(index)
        elif verb == "up" and index > 0:
            rows[index - 1], rows[index] = rows[index], rows[index - 1]
        elif verb == "down" and index < len(rows) - 1:
            rows[index + 1], rows[index] = rows[index], rows[index + 1]
    return out


def _schema_at(root: dict[str, Any], segs: list[str], values: Any) -> Any:
    """The schema node at a dotted path of the config (through arrays and variants)."""
    node: Any = root
    value: Any = values
    for seg in segs:
        info = _info(root, node)
        if info.kind == "variants":
            node = info.members[_pick_variant(root, info.members, value)]
            info = _info(root, node)
        if info.kind == "object":
            props, _ = _object_parts(root, info.node)
            found = next((p for p in props if p.name == seg), None)
            if found is None:
                return None
            node = found.schema
            value = value.get(seg, _MISSING) if isinstance(value, dict) else _MISSING
        elif info.kind in ("array", "checkboxes") and seg.isdigit():
            node = info.items
            value = value[int(seg)] if isinstance(value, list) and int(seg) < len(value) \
                else _MISSING
        else:
            return None
    return node


# -- error summary -----------------------------------------------------------------------------

class ErrorSummary(list):
    """`error_summary`'s list of `{field_id, label, message}`; in a Jinja template it renders
    itself as the `<ul>` of links (so a page may use it either way)."""

    def __html__(self) -> Markup:
        return Markup(_macros().error_summary(list(self)))


def error_summary(errors: FieldErrors | None, schema: dict[str, Any], lang: str = "en",
                  prefix: str = "config") -> ErrorSummary:
    """Every error as `{"field_id", "label", "message"}` in form order, to list at the top of
    the page with links (`href="#" + field_id`); root errors (`""`) have no field (None)."""
    lang = _lang(lang)
    items = []
    for key, entries in (errors or {}).items():
        segs = key.split(".") if key else []
        labels, declared = _describe(schema, segs, lang)
        target = None if not segs else field_id(_join(prefix, segs[:declared])) \
            if declared else None
        label = " › ".join(labels)
        for entry in entries:
            items.append((_order_key(schema, segs), {"field_id": target, "label": label,
                                                     "message": entry.get("message", "")}))
    items.sort(key=lambda pair: pair[0])
    return ErrorSummary(item for _key, item in items)


def _describe(root: dict[str, Any], segs: list[str], lang: str) -> tuple[list[str], int]:
    """Labels along a path, and how many of its segments name a field the form renders."""
    labels: list[str] = []
    node: Any = root
    for position, seg in enumerate(segs):
        info = _info(root, node, lang)
        if info.kind == "variants":
            for member in info.members:
                sub = _info(root, member, lang)
                if sub.kind == "object" and any(
                        p.name == seg for p in _object_parts(root, sub.node)[0]):
                    info = sub
                    break
        if info.kind == "object":
            found = next((p for p in _object_parts(root, info.node)[0] if p.name == seg), None)
            if found is None:
                return labels + [seg, *segs[position + 1:]], position
            node = found.schema
            labels.append(_label(_info(root, node, lang), seg, lang))
        elif info.kind == "array" and seg.isdigit():
            node = info.items
            labels.append(str(int(seg) + 1))
        else:
            return labels + list(segs[position:]), position
    return labels, len(segs)


def _order_key(root: dict[str, Any], segs: list[str]) -> tuple[int, ...]:
    key: list[int] = []
    node: Any = root
    for seg in segs:
        info = _info(root, node)
        if info.kind == "variants":
            info = next((s for s in (_info(root, m) for m in info.members) if s.kind == "object"
                         and any(p.name == seg for p in _object_parts(root, s.node)[0])), info)
        if info.kind == "object":
            props = _object_parts(root, info.node)[0]
            names = [p.name for p in props]
            if seg not in names:
                return (*key, 10**6)
            key.append(names.index(seg))
            node = props[names.index(seg)].schema
        elif info.kind in ("array", "checkboxes") and seg.isdigit():
            key.append(int(seg))
            node = info.items
        else:
            return (*key, 10**6)
    return tuple(key)
