"""Rendering: a config schema and values as a view (a tree of plain dicts) for the macros in
`templates/console/_form.html`, which only lay it out.

Names are dotted paths (`config.prizes.0.name`) and ids derive from them, so an error keyed
`prizes.0.name` lands on its input. Array rows get add/remove/move submit buttons (see
`arrays`) and a `<template>` row for forms.js; an inactive `oneOf` variant's fields are
rendered hidden and disabled, with `--off` ids.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, replace
from typing import Any

from flask import current_app, has_request_context, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from markupsafe import Markup
from werkzeug.routing import BuildError

from magic_cube.console.forms import inputs
from magic_cube.console.forms.hidden import hidden_inputs
from magic_cube.console.forms.macros import drop_blank_lines, macros
from magic_cube.console.forms.names import FieldErrors, field_id, input_name
from magic_cube.console.forms.schema import (
    FieldInfo,
    Property,
    condition_holds,
    default_value,
    field_help,
    field_info,
    field_label,
    language,
    localised,
    object_properties,
    pick_variant,
    with_input_names,
)
from magic_cube.console.forms.values import DEFAULT_TIMEZONE, MISSING, json_equal, option_str

CURRENCY_SYMBOLS = {"CNY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "HKD": "HK$"}
LEAF_KINDS = ("integer", "number", "string", "boolean", "choice")
INACTIVE_ID_SUFFIX = "--off"  # on ids inside an inactive oneOf variant, so ids stay unique


@dataclass(frozen=True)
class FieldContext:
    """What surrounds a field as it is rendered."""

    id_suffix: str = ""  # INACTIVE_ID_SUFFIX per inactive variant around it
    readonly: bool = False
    depth: int = 0  # arrays around it (each has its own index placeholder)
    template: bool = False  # in a <template> row: no errors, no values of its own


def render_form(schema: dict[str, Any], values: dict[str, Any] | None,
                errors: FieldErrors | None = None, lang: str = "en", prefix: str = "config", *,
                timezone: str = DEFAULT_TIMEZONE, currency: str = "CNY") -> Markup:
    """The config form's fields as HTML, for a page to wrap in its own `<form>`.

    `values` are the merchant's config (None: a new form, defaults prefilled); `errors` are
    keyed by dotted path as `ConfigValidator.validate` (and `parse_form`) report them, shown next
    to their fields (root errors `""` belong in the summary, see `error_summary`). Date-times are
    shown and read as wall time in `timezone`; money in units of `currency` (stored as cents).
    The template's texts and our own words are in `lang` (our own words through Flask-Babel,
    so in English outside an app).
    """
    renderer = FormRenderer(schema, errors, lang, prefix, timezone, currency)
    with force_locale(renderer.lang):
        view = renderer.form(values)
        return Markup(drop_blank_lines(str(macros().form(view))))


def upload_target() -> tuple[str | None, int | None]:
    """Where image fields upload to and the size limit: the console's upload endpoint when the
    form is rendered in one of its requests; else none (the URL input alone)."""
    if not has_request_context():
        return None, None
    try:
        url = url_for("console.uploads.upload")
    except BuildError:
        return None, None
    engine = current_app.extensions.get("magic_cube")
    limit = engine.settings.values.get("upload_max_bytes") if engine is not None else None
    return url, limit if isinstance(limit, int) else None


class FormRenderer:
    """Builds the view of one form: the schema, the errors to show, and how to show values."""

    def __init__(self, root: dict[str, Any], errors: FieldErrors | None, lang: str, prefix: str,
                 timezone: str, currency: str) -> None:
        self.root = root
        self.errors = errors or {}
        self.lang = language(lang)
        self.prefix = prefix
        self.timezone = timezone
        self.currency_symbol = CURRENCY_SYMBOLS.get(currency, currency)
        self.upload_url, self.upload_max_bytes = upload_target()

    # names, ids and the view every field starts from

    def name(self, path: list[str]) -> str:
        return input_name(self.prefix, path)

    def id_for(self, path: list[str], ctx: FieldContext) -> str:
        return field_id(self.name(path)) + ctx.id_suffix

    def info(self, raw: Any) -> FieldInfo:
        return field_info(self.root, raw, self.lang)

    def messages(self, path: list[str], ctx: FieldContext, deep: bool = False) -> list[str]:
        """The error messages of the field at `path` (`deep`: and of its items)."""
        if ctx.template:
            return []
        key = ".".join(path)
        keys = [key]
        if deep:  # a checkbox group shows its items' errors too
            keys += [k for k in self.errors if k.startswith(key + ".")
                     and k[len(key) + 1:].isdigit()]
        return [e.get("message", "") if isinstance(e, dict) else str(e)
                for k in keys for e in self.errors.get(k, [])]

    def base_view(self, kind: str, path: list[str], info: FieldInfo, required: bool,
                  ctx: FieldContext, *, label: str | None = None, number: Any = None,
                  deep: bool = False, help_id: str | None = None) -> dict[str, Any]:
        """id, name, label, help and errors of a field; `help_id`: a help shown elsewhere (a
        table's column header)."""
        fid = self.id_for(path, ctx)
        help_text = field_help(info, self.lang)
        errors = self.messages(path, ctx, deep)
        own_help = f"{fid}-help" if help_text and help_id is None else None
        view = {
            "kind": kind, "id": fid, "name": self.name(path), "path": ".".join(path),
            "label": label or field_label(info, path[-1] if path else "", self.lang),
            "number": number, "label_hidden": False, "required": required,
            "help": help_text if own_help else None, "help_id": own_help,
            "errors": errors, "error_id": f"{fid}-error" if errors else None,
            "show_if": None, "shown": True, "readonly": ctx.readonly, "carry": [],
        }
        view["describedby"] = " ".join(x for x in (help_id or own_help, view["error_id"]) if x) \
            or None
        return view

    # the form and its fields

    def form(self, values: Any) -> dict[str, Any]:
        value = values if isinstance(values, dict) else {}
        return {"id": field_id(self.name([])),
                "children": self.object_children([], self.info(self.root), value, FieldContext())}

    def field(self, path: list[str], raw: Any, value: Any, required: bool, ctx: FieldContext, *,
              number: Any = None, label: str | None = None) -> dict[str, Any]:
        info = self.info(raw)
        if value is MISSING and "default" in info.node:
            value = copy.deepcopy(info.node["default"])
        if info.hidden:
            return {"kind": "hidden", "show_if": None, "shown": True,
                    "inputs": hidden_inputs(self.root, self.prefix, path, raw, value,
                                            self.timezone)}
        if info.readonly:
            ctx = replace(ctx, readonly=True)
        if info.kind == "object":
            view = self.base_view("object", path, info, required, ctx, number=number,
                                  label=label)
            view["children"] = self.object_children(path, info, value, ctx)
            return view
        if info.kind == "variants":
            return self.variants_view(path, info, value, required, ctx, number=number,
                                      label=label)
        if info.kind == "array":
            return self.array_view(path, info, value, required, ctx, label=label)
        if info.kind == "checkboxes":
            return self.checkboxes_view(path, info, value, required, ctx, label=label)
        return self.leaf(path, info, value, required, ctx, number=number, label=label)

    def object_children(self, path: list[str], info: FieldInfo, value: Any,
                        ctx: FieldContext) -> list[dict[str, Any]]:
        """An object's fields, those of an `x-ui.group` gathered where the group first shows."""
        properties, required = object_properties(self.root, info.node)
        current = value if isinstance(value, dict) else {}
        out: list[dict[str, Any]] = []
        groups: dict[str, dict[str, Any]] = {}
        money = frozenset(p.name for p in properties if self.info(p.schema).widget == "money")
        for prop in properties:
            child = self.field([*path, prop.name], prop.schema, current.get(prop.name, MISSING),
                               prop.name in required or prop.required_when_shown, ctx)
            if prop.show_if is not None:
                condition = with_input_names(prop.show_if, self.name(path), money)
                child["show_if"] = json.dumps(condition, ensure_ascii=False)
                child["shown"] = condition_holds(self.root, prop.show_if, current, properties)
            group = localised(self.info(prop.schema).ui.get("group"), self.lang)
            if not group or child["kind"] == "hidden":
                out.append(child)
                continue
            if group not in groups:
                groups[group] = {"kind": "group", "label": group, "children": [],
                                 "show_if": None, "shown": True}
                out.append(groups[group])
            groups[group]["children"].append(child)
        return out

    def variants_view(self, path: list[str], info: FieldInfo, value: Any, required: bool,
                      ctx: FieldContext, *, number: Any = None, label: str | None = None
                      ) -> dict[str, Any]:
        """A `oneOf` of several kinds: a select of the kind, and each kind's fields (only the
        chosen one's enabled)."""
        view = self.base_view("variants", path, info, required, ctx, number=number, label=label)
        # An optional oneOf without a value starts with no variant chosen ("Choose…").
        view["blank"] = not required
        active = None if not required and (value is MISSING or value is None) \
            else pick_variant(self.root, info.members, value)
        if any(self.info(m).kind != "object" for m in info.members):
            # The active variant's own input takes the path's id and shows the path's errors.
            view["id"] += "-variants"
            view["errors"], view["error_id"] = [], None
            view["help_id"] = f"{view['id']}-help" if view["help"] else None
            view["describedby"] = view["help_id"]
        select_path = [*path, "__variant"]
        view["select_id"] = self.id_for(select_path, ctx)
        view["select_name"] = self.name(select_path)
        view["variants"] = [self.variant(path, member, index, index == active, value, required,
                                         ctx)
                            for index, member in enumerate(info.members)]
        return view

    def variant(self, path: list[str], member: dict[str, Any], index: int, active: bool,
                value: Any, required: bool, ctx: FieldContext) -> dict[str, Any]:
        sub = self.info(member)
        sub_ctx = ctx if active else replace(ctx, id_suffix=ctx.id_suffix + INACTIVE_ID_SUFFIX)
        member_value = value if active else MISSING
        title = (localised(sub.ui.get("label"), self.lang)
                 or localised(member.get("title"), self.lang) or _("Option %(n)s", n=index + 1))
        if sub.kind == "object":
            children = self.object_children(path, sub, member_value, sub_ctx)
        else:
            children = [self.field(path, member, member_value, required, sub_ctx, label=title)]
        return {"index": index, "label": title, "active": active, "children": children}

    def checkboxes_view(self, path: list[str], info: FieldInfo, value: Any, required: bool,
                        ctx: FieldContext, *, label: str | None = None) -> dict[str, Any]:
        view = self.base_view("checkboxes", path, info, required, ctx, label=label, deep=True)
        chosen = value if isinstance(value, list) else []
        view["marker"] = self.name([*path, "__array"])
        view["options"] = [
            {"id": f"{view['id']}--{i}", "value": option_str(v), "label": text,
             "checked": any(json_equal(v, c) for c in chosen)}
            for i, (v, text) in enumerate(info.options)]
        view["input_attrs"] = {**inputs.aria_attrs(view), "disabled": ctx.readonly}
        if ctx.readonly:
            view["carry"] = [(view["name"], o["value"]) for o in view["options"] if o["checked"]]
        return view

    def leaf(self, path: list[str], info: FieldInfo, value: Any, required: bool,
             ctx: FieldContext, *, number: Any = None, label: str | None = None,
             help_id: str | None = None) -> dict[str, Any]:
        """One input: a checkbox, a select or radios, a number, a text input or a textarea."""
        if info.kind == "boolean":
            view = self.base_view("checkbox", path, info, False, ctx, number=number, label=label,
                                  help_id=help_id)
            return inputs.checkbox(view, info, value)
        if info.kind == "choice":
            kind = "radio" if info.widget == "radio" else "select"
            view = self.base_view(kind, path, info, required, ctx, number=number, label=label,
                                  help_id=help_id)
            return inputs.choice(view, info, value)
        if inputs.is_image(info):
            view = self.base_view("image", path, info, required, ctx, number=number,
                                  label=label, help_id=help_id)
            return inputs.image_input(view, info, value,
                                      placeholder=localised(info.ui.get("placeholder"), self.lang),
                                      upload_url=self.upload_url, max_bytes=self.upload_max_bytes)
        textarea = info.kind == "string" and info.widget == "textarea"
        view = self.base_view("textarea" if textarea else "input", path, info, required, ctx,
                              number=number, label=label, help_id=help_id)
        placeholder = localised(info.ui.get("placeholder"), self.lang)
        if info.kind in ("integer", "number"):
            return inputs.number_input(view, info, value, placeholder=placeholder,
                                       currency_symbol=self.currency_symbol)
        return inputs.text_input(view, info, value, placeholder=placeholder,
                                 timezone=self.timezone, tz_name=self.name([*path, "__tz"]))

    # arrays

    def array_view(self, path: list[str], info: FieldInfo, value: Any, required: bool,
                   ctx: FieldContext, *, label: str | None = None) -> dict[str, Any]:
        """Rows of a table (items of simple fields) or of a list, each with its buttons, and a
        `<template>` row that forms.js copies."""
        min_items = info.node["minItems"] if isinstance(info.node.get("minItems"), int) else 0
        max_items = info.node["maxItems"] if isinstance(info.node.get("maxItems"), int) else None
        view = self.base_view("array", path, info, required or min_items > 0, ctx, label=label)
        item = self.info(info.items)
        rows_value = value if isinstance(value, list) else []
        if value is MISSING and not ctx.readonly and not ctx.template:
            # A new form starts with as many empty rows as the list needs (a lottery's first
            # prize), rather than with an error waiting for the first save.
            rows_value = [default_value(self.root, info.items) for _ in range(min_items)]
        layout = "table" if self.fits_table(item) else "list"
        placeholder = f"__i{ctx.depth}__"
        inner = replace(ctx, depth=ctx.depth + 1)
        item_label = (localised(item.ui.get("label"), self.lang)
                      or localised(item.node.get("title"), self.lang) or view["label"])
        count = len(rows_value)
        view.update({
            "layout": layout, "marker": self.name([*path, "__array"]),
            "id_prefix": field_id(self.name(path)), "placeholder": placeholder,
            "min_items": min_items, "max_items": max_items,
            "can_add": not ctx.readonly and (max_items is None or count < max_items),
            "columns": self.columns(path, item, ctx) if layout == "table" else [],
        })
        view["rows"] = [
            self.row(path, str(i), item, info.items, rows_value[i], layout, inner, item_label,
                     number=i + 1, buttons=self.row_buttons(path, i, count, min_items, ctx))
            for i in range(count)]
        view["template"] = None if ctx.readonly else self.row(
            path, placeholder, item, info.items, default_value(self.root, info.items), layout,
            replace(inner, template=True), item_label, number="",
            buttons=self.row_buttons(path, placeholder, None, min_items, ctx))
        return view

    def fits_table(self, item: FieldInfo) -> bool:
        """Whether rows of this item schema fit a table: an object of simple fields only."""
        if item.kind != "object":
            return False
        properties, _required = object_properties(self.root, item.node)
        for prop in properties:
            sub = self.info(prop.schema)
            if prop.show_if is not None or sub.kind not in (*LEAF_KINDS, "const"):
                return False
            if sub.kind == "choice" and sub.widget == "radio":
                return False
            if sub.widget == "textarea" or localised(sub.ui.get("group"), self.lang):
                return False
        return bool(properties)

    def columns(self, path: list[str], item: FieldInfo, ctx: FieldContext
                ) -> list[dict[str, Any]]:
        properties, required = object_properties(self.root, item.node)
        out = []
        for prop in properties:
            sub = self.info(prop.schema)
            if sub.hidden:
                continue
            help_text = field_help(sub, self.lang)
            out.append({"name": prop.name, "label": field_label(sub, prop.name, self.lang),
                        "required": prop.name in required and sub.kind != "boolean",
                        "help": help_text,
                        "help_id": f"{self.id_for([*path, prop.name], ctx)}-help" if help_text
                        else None})
        return out

    def row_buttons(self, path: list[str], index: int | str, count: int | None, min_items: int,
                    ctx: FieldContext) -> list[dict[str, str]]:
        """Move up, move down and remove (`count` None: the template row, which has all)."""
        if ctx.readonly:
            return []
        row_name = self.name([*path, str(index)])
        out = []
        if count is None or (isinstance(index, int) and index > 0):
            out.append({"action": "up", "name": f"__up:{row_name}", "label": _("Move up")})
        if count is None or (isinstance(index, int) and index < count - 1):
            out.append({"action": "down", "name": f"__down:{row_name}", "label": _("Move down")})
        if count is None or count > min_items:
            out.append({"action": "remove", "name": f"__remove:{row_name}", "label": _("Remove")})
        return out

    def row(self, path: list[str], index: str, item: FieldInfo, item_raw: Any, value: Any,
            layout: str, ctx: FieldContext, item_label: str, *, number: Any,
            buttons: list[dict[str, str]]) -> dict[str, Any]:
        row_path = [*path, index]
        row: dict[str, Any] = {
            "id": self.id_for(row_path, ctx), "index": index, "number": number,
            "label": item_label, "buttons": buttons, "layout": layout,
            "marker": self.name([*row_path, "__row"]) if item.kind == "object" else None,
            "errors": [], "error_id": None, "cells": [], "hidden": [], "item": None,
        }
        if layout == "table":
            row["errors"] = self.messages(row_path, ctx)
            row["error_id"] = f"{row['id']}-error" if row["errors"] else None
            self.fill_cells(row, path, item, value, ctx, number)
        else:
            # A row is there by being there: only a primitive item's input is `required`.
            row["item"] = self.field(row_path, item_raw, MISSING if value is None else value,
                                     item.kind not in ("object", "array"), ctx,
                                     number=number, label=item_label)
        return row

    def fill_cells(self, row: dict[str, Any], path: list[str], item: FieldInfo, value: Any,
                   ctx: FieldContext, number: Any) -> None:
        """A table row's cells (labelled by their column headers) and hidden fields."""
        properties, required = object_properties(self.root, item.node)
        current = value if isinstance(value, dict) else {}
        for prop in properties:
            sub = self.info(prop.schema)
            cell_path = [*path, row["index"], prop.name]
            cell_value = current.get(prop.name, MISSING)
            if sub.hidden:
                row["hidden"].append(self.field(cell_path, prop.schema, cell_value, False, ctx))
            else:
                row["cells"].append(self.cell(prop, sub, path, cell_path, cell_value,
                                              prop.name in required, ctx, number))

    def cell(self, prop: Property, sub: FieldInfo, path: list[str], cell_path: list[str],
             value: Any, required: bool, ctx: FieldContext, number: Any) -> dict[str, Any]:
        column_help = self.id_for([*path, prop.name], ctx) + "-help" \
            if field_help(sub, self.lang) else None
        cell_ctx = replace(ctx, readonly=True) if sub.readonly else ctx
        if value is MISSING and "default" in sub.node:
            value = copy.deepcopy(sub.node["default"])
        cell = self.leaf(cell_path, sub, value, required, cell_ctx, number=number,
                         help_id=column_help, label=field_label(sub, prop.name, self.lang))
        cell["label_hidden"] = True
        return cell
