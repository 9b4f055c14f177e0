"""How the console shows a template's values to a merchant: human labels for config fields,
choices, view keys and event types (from the template's own zh/en texts), money in yuan with two
decimals, and config errors whose limits are quoted in the unit the merchant types.

A template's texts come with it (`x-ui.label`, `x-ui.choices`, `view_labels`, `events`); the
console's own words come from its catalog. A raw key is shown only when a template has no label
for it, and `magic-cube templates validate` warns about those.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext

from magic_cube.catalog import TemplateEntry
from magic_cube.catalog.labels import event_label
from magic_cube.catalog.tables import config_var, row_names
from magic_cube.console.context import format_time, i18n, joined, lang
from magic_cube.console.forms.names import FieldErrors
from magic_cube.console.forms.schema import (
    choice_label,
    field_info,
    field_label,
    humanise,
    localised,
    resolve_node,
    schema_at,
)
from magic_cube.engine.money import money_view_keys
from magic_cube.shopper.context import template_facts

BOUND_CODES = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
# Keys of a lottery's view that its odds table already shows.
ODDS_KEYS = {"prize_names", "prize_images", "prize_odds", "prize_stock", "stock_left",
             "stock_held", "miss_name", "miss_odds", "odds_scale"}
MERCHANT_ACTIONS = {"$config", "$end", "$start", "$schedule", "$stock"}


def yuan(fen: Any, symbol: str = "¥") -> str:
    """An amount in fen as yuan with two decimals and thousands separators: `¥1,234.50`."""
    if isinstance(fen, bool) or not isinstance(fen, int | float):
        return "—" if fen is None else str(fen)
    amount = (Decimal(int(fen)) / 100).quantize(Decimal("0.01"))
    sign = "-" if amount < 0 else ""
    return f"{sign}{symbol}{abs(amount):,.2f}"


UNIT_SUFFIXES = ("（元）", "(元)", " (yuan)", "(yuan)")


def money_label(label: str) -> str:
    """A money field's label beside a value shown as ¥12.34: without its "(yuan)" unit."""
    for suffix in UNIT_SUFFIXES:
        if label.endswith(suffix):
            return label.removesuffix(suffix).rstrip()
    return label


def config_schema(entry: TemplateEntry) -> dict[str, Any]:
    return entry.doc.get("config", {}).get("schema", {"type": "object"})


def field_node(entry: TemplateEntry, path: str) -> dict[str, Any] | None:
    """The resolved schema node of a config field (`prizes.0.stock`), or None."""
    root = config_schema(entry)
    raw = schema_at(root, [p for p in path.split(".") if p], None)
    return resolve_node(root, raw) if raw is not None else None


def is_money(node: dict[str, Any] | None) -> bool:
    ui = node.get("x-ui") if isinstance(node, dict) else None
    return isinstance(ui, dict) and ui.get("widget") == "money"


def field_name(entry: TemplateEntry, path: str) -> str:
    """A config field's label in the page's language (`draws_per_day` -> its label)."""
    root = config_schema(entry)
    raw = schema_at(root, [p for p in path.split(".") if p], None)
    if raw is None:
        return humanise(path.split(".")[-1]) or path
    return field_label(field_info(root, raw, lang()), path.split(".")[-1], lang())


def is_image(node: dict[str, Any] | None) -> bool:
    media = node.get("contentMediaType") if isinstance(node, dict) else None
    return isinstance(media, str) and media.startswith("image/")


def show_value(node: dict[str, Any] | None, value: Any, currency: str = "¥", *,
               timezone: str | None = None) -> str:
    """A config value as a merchant reads it: money in yuan, a choice by its label, a date-time
    as local time in `timezone` (when given)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if is_money(node):
        return yuan(value, currency)
    if isinstance(node, dict) and isinstance(node.get("enum"), list):
        return choice_label(node, value, lang())
    if timezone is not None and isinstance(node, dict) and node.get("format") == "date-time":
        moment = epoch_of(value)
        return format_time(moment, timezone) if moment is not None else str(value)
    if isinstance(value, list):
        return ", ".join(show_value(None, v) for v in value) or "—"
    if isinstance(value, dict):
        return ", ".join(f"{humanise(k)}: {show_value(None, v)}" for k, v in value.items())
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def epoch_of(value: Any) -> int | None:
    """An RFC 3339 date-time (`2026-11-14T12:00:00+08:00`) as epoch seconds; None if it is
    not one (or has no offset)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return None
    return int(moment.timestamp()) if moment.tzinfo is not None else None


def is_epoch(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _has_records(value: Any) -> bool:
    return isinstance(value, dict) or (isinstance(value, list)
                                       and any(isinstance(v, dict) for v in value))


def records(entry: TemplateEntry, value: Any, money: bool = False) -> str:
    """A record, or a list of them (a prize won, a ranking), as the shopper's page shows them:
    each by its `name`, then its other fields labelled as the template labels them (its
    `view_labels`, else its config tables' field labels), choices by their labels, without
    the positions, ids and image addresses that mean nothing to read."""
    facts = template_facts(entry, lang())
    labels, choices = facts.labels, facts.value_labels

    def field(key: str, v: Any) -> str:
        if money and isinstance(v, int | float) and not isinstance(v, bool):
            return yuan(v)
        if isinstance(v, str) and v in choices.get(key, {}):
            return choices[key][v]
        return show_value(None, v)

    def one(record: Any) -> str:
        if not isinstance(record, dict):
            return show_value(None, record)
        shown = [f"{labels.get(k) or humanise(k)}{colon}{field(k, v)}"
                 for k, v in record.items()
                 if v not in (None, "") and k not in RECORD_HIDDEN and not is_address(v)]
        name = record.get("name")
        return " ".join(part for part in (show_value(None, name) if name is not None else "",
                                          " · ".join(shown)) if part)

    colon = "：" if lang() == "zh" else ": "
    items = value if isinstance(value, list) else [value]
    return joined(one(item) for item in items) or "—"


RECORD_HIDDEN = ("name", "index", "id")


def is_address(value: Any) -> bool:
    """An image's or a page's address (`/media/…`, `https://…`): a picture, not words."""
    return isinstance(value, str) and value.startswith(("/media/", "https://", "http://"))


def view_rows(entry: TemplateEntry, view: dict[str, Any], *, skip: set[str] | None = None,
              timezone: str | None = None, config: dict[str, Any] | None = None
              ) -> list[tuple[str, str]]:
    """The activity view as (label, value) rows: a key that shows a config field takes the
    field's label and way of showing; any other its `view_labels` text. Money is in yuan; a
    date-time (a date-time field, or epoch seconds under a key named `at` or `…_at`, or made
    from a date-time field) is local time in `timezone`; a list that runs along a config table
    (a number per prize) names each number by its row. A row that repeats another (the same
    time read twice, once as text and once as seconds) is shown once."""
    declared = entry.doc.get("views", {}).get("activity", {})
    labels = entry.doc.get("view_labels") or {}
    money = money_view_keys(entry.doc)
    tz = timezone or "UTC"
    rows: list[tuple[str, str]] = []
    for key, value in view.items():
        if skip and key in skip:
            continue
        expression = declared.get(key)
        field = config_var(expression)
        if field is not None and field_node(entry, field) is not None:
            node = field_node(entry, field)
            if is_image(node):
                continue  # the page above shows the picture; its URL means nothing to read
            label = field_name(entry, field)
            row = (money_label(label) if is_money(node) else label,
                   show_value(node, value, timezone=tz))
        else:
            label = localised(labels.get(key), lang()) or humanise(key)
            if key in money and isinstance(value, int | float) and not isinstance(value, bool):
                row = (money_label(label), yuan(value))
            elif is_epoch(value) and (key == "at" or key.endswith("_at")
                                      or _date_time_of_field(entry, expression)):
                row = (label, format_time(value, tz))
            else:
                names = row_names(entry.doc, expression, config or {})
                row = (label, by_row(names, value) if names
                       else records(entry, value, key in money) if _has_records(value)
                       else show_value(None, value))
        if row not in rows:
            rows.append(row)
    return rows


def by_row(names: list[str], values: Any) -> str:
    """A list of numbers that runs along a config table, each named by its row:
    `Gold: 2 · Tea: 0`."""
    if not isinstance(values, list) or len(values) != len(names) \
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return show_value(None, values)
    return " · ".join(f"{name}: {show_value(None, v)}" for name, v in zip(names, values,
                                                                          strict=True)) or "—"


def _date_time_of_field(entry: TemplateEntry, expression: Any) -> bool:
    """Whether a view expression is a date-time field read as epoch seconds
    (`{"date_time": {"var": "config.settle_at"}}`)."""
    if not isinstance(expression, dict) or set(expression) != {"date_time"}:
        return False
    inner = expression["date_time"]
    inner = inner[0] if isinstance(inner, list) and len(inner) == 1 else inner
    field = config_var(inner)
    node = field_node(entry, field) if field is not None else None
    return isinstance(node, dict) and node.get("format") == "date-time"


def event_name(entry: TemplateEntry, event_type: str) -> str:
    """An event type's label in the page's language; the type itself when it has none."""
    return event_label(entry.doc, event_type, lang()) or event_type


def action_name(entry: TemplateEntry, name: str) -> str:
    """An action's title, or what a merchant's own logged change was."""
    merchant = {"$config": _("Settings changed by the merchant"),
                "$end": _("Activity ended: open rooms closed"),
                "$start": _("Started early by the merchant"),
                "$schedule": _("End time changed by the merchant"),
                "$stock": _("Stock topped up by the merchant")}
    if name in merchant:
        return merchant[name]
    action = entry.compiled.actions.get(name)
    return i18n(action.title) if action is not None else name


def money_errors(entry: TemplateEntry, errors: FieldErrors) -> FieldErrors:
    """Config errors with the limits of money fields quoted in yuan, as the merchant types
    them (the validator speaks in fen, the unit stored)."""
    out: FieldErrors = {}
    for path, entries in errors.items():
        node = field_node(entry, path) if path else None
        fixed = []
        for e in entries:
            code = e.get("code", "")
            if is_money(node) and node is not None and code in BOUND_CODES \
                    and isinstance(node.get(code), int | float):
                limit = yuan(node[code])
                words = {"minimum": _("Must be at least %(amount)s", amount=limit),
                         "maximum": _("Must be at most %(amount)s", amount=limit),
                         "exclusiveMinimum": _("Must be more than %(amount)s", amount=limit),
                         "exclusiveMaximum": _("Must be less than %(amount)s", amount=limit)}
                fixed.append({**e, "message": words[code]})
            else:
                fixed.append(e)
        out[path] = fixed
    return out


def count_errors(entry: TemplateEntry, errors: FieldErrors) -> FieldErrors:
    """Config errors about how many items a list has, worded with the right number ("at least
    1 item", "at least 2 items")."""
    out: FieldErrors = {}
    for path, entries in errors.items():
        node = field_node(entry, path) if path else None
        fixed = []
        for e in entries:
            code = e.get("code", "")
            limit = node.get(code) if isinstance(node, dict) else None
            if code == "minItems" and isinstance(limit, int) and not isinstance(limit, bool):
                fixed.append({**e, "message": ngettext("Must have at least %(num)d item",
                                                       "Must have at least %(num)d items",
                                                       limit)})
            elif code == "maxItems" and isinstance(limit, int) and not isinstance(limit, bool):
                fixed.append({**e, "message": ngettext("Must have at most %(num)d item",
                                                       "Must have at most %(num)d items",
                                                       limit)})
            else:
                fixed.append(e)
        out[path] = fixed
    return out


def event_text(entry: Any, event: dict[str, Any]) -> str:
    """An event as a merchant reads it: its label, and what was won or bought."""
    label = event_name(entry, event.get("type", ""))
    raw = event.get("data")
    data: dict[str, Any] = raw if isinstance(raw, dict) else {}
    what = data.get("prize")
    if what:
        return _("%(event)s: %(prize)s", event=label, prize=what)
    return label


def merchant_details(entry: Any, r: dict[str, Any]) -> str:
    """What a merchant's own logged change did (a top-up, a new end)."""
    params = r.get("params") or {}
    if r["action"] == "$stock":
        field, add = params.get("field", ""), params.get("add")
        if is_money(field_node(entry, field)):
            return f"{money_label(field_name(entry, field))} +{yuan(add)}"
        return f"{field_name(entry, field)} +{add}"
    if r["action"] == "$config":
        after = params.get("after") or {}
        return ", ".join(f"{field_name(entry, k)}: {changed_value(entry, k, v)}"
                         for k, v in after.items())
    return ""


def changed_value(entry: Any, field: str, value: Any) -> str:
    if is_image(field_node(entry, field)):  # a picture's URL is a long hash, nothing to read
        return _("new image") if value else _("image removed")
    return show_value(None, value)
