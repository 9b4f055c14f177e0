"""What a page partial is given: the participant's views of an activity, its actions with their
parameter fields, labels and links — plain values only (see docs/templates.md, "Shopper pages")."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from magic_cube.engine import Engine, EngineError, Participant
from magic_cube.engine.money import money_view_keys
from magic_cube.i18n import gettext


def _pick(text: Any, lang: str) -> Any:
    if isinstance(text, dict) and ("zh" in text or "en" in text):
        return text.get(lang) or text.get("en") or text.get("zh") or ""
    return text


def param_fields(schema: dict[str, Any] | None, lang: str) -> list[dict[str, Any]]:
    """An action's parameter schema as form fields (flat objects of scalars, which is what an
    action's params are in practice; anything else is left to the template's own partial)."""
    if not isinstance(schema, dict):
        return []
    required = set(schema.get("required") or [])
    fields = []
    for name, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, dict):
            continue
        kind = prop.get("type")
        if kind not in ("integer", "number", "string", "boolean"):
            continue
        ui = prop.get("x-ui") or {}
        labels = _choice_labels(prop, lang)
        enum = [{"value": v, "label": labels.get(str(v)) or v} for v in prop.get("enum", [])]
        fields.append({
            "name": name, "type": kind, "required": name in required,
            "label": _pick(ui.get("label"), lang) or name.replace("_", " ").capitalize(),
            "help": _pick(ui.get("help"), lang) or "",
            "money": ui.get("widget") == "money" and kind == "integer",
            "minimum": prop.get("minimum"), "maximum": prop.get("maximum"),
            "max_length": prop.get("maxLength"), "default": prop.get("default"),
            "enum": enum,
        })
    return fields


def _choice_labels(prop: dict[str, Any], lang: str) -> dict[str, str]:
    """A field's `x-ui.choices` in the page's language: {value as text: label}."""
    ui = prop.get("x-ui")
    choices = ui.get("choices") if isinstance(ui, dict) else None
    if not isinstance(choices, dict):
        return {}
    return {str(value): str(_pick(text, lang) or "") for value, text in choices.items()}


def _config_reads(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(view key, config field schema) for each view key read straight from a config field."""
    props = doc.get("config", {}).get("schema", {}).get("properties", {})
    for view in (doc.get("views") or {}).values():
        for key, rule in (view or {}).items():
            if isinstance(rule, dict) and isinstance(rule.get("var"), str):
                prop = props.get(rule["var"].removeprefix("config."))
                if isinstance(prop, dict):
                    yield key, prop


def _row_fields(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(field name, schema) for the fields of the config's tables (a lottery's prizes): the
    keys of the records a view lists, each labelled as the merchant's form labels it."""
    schema = doc.get("config", {}).get("schema", {})
    for prop in (schema.get("properties") or {}).values():
        items = prop.get("items") if isinstance(prop, dict) else None
        ref = items.get("$ref") if isinstance(items, dict) else None
        if isinstance(ref, str) and ref.startswith("#/$defs/"):  # a table's row, defined once
            items = (schema.get("$defs") or {}).get(ref.removeprefix("#/$defs/"))
        if isinstance(items, dict):
            for name, field in (items.get("properties") or {}).items():
                if isinstance(field, dict):
                    yield name, field


def money_keys(doc: dict[str, Any]) -> set[str]:
    """View keys that show money: those read straight from a money field of the config, and
    those the console shows in yuan too (a variable that only ever holds money: a pool, a
    share), in any of the views."""
    keys = {key for key, prop in _config_reads(doc)
            if (prop.get("x-ui") or {}).get("widget") == "money"}
    for view in ("activity", "room", "me"):
        keys |= money_view_keys(doc, view)
    return keys


def image_keys(doc: dict[str, Any]) -> set[str]:
    """View keys read straight from an image field of the config, and the image fields of its
    tables (an entry's picture in a listed record): the generic page shows them as pictures."""
    return {key for key, prop in [*_config_reads(doc), *_row_fields(doc)]
            if str(prop.get("contentMediaType", "")).startswith("image/")}


def view_labels(doc: dict[str, Any], lang: str) -> dict[str, str]:
    """Labels for view keys: the template's `view_labels`, else the label of the config field
    a key reads straight from."""
    labels: dict[str, str] = {}
    for key, prop in _config_reads(doc):
        if (prop.get("x-ui") or {}).get("label"):
            labels.setdefault(key, _pick(prop["x-ui"]["label"], lang))
    for name, field in _row_fields(doc):  # a record's fields: "中奖率（万分之）", not "Odds"
        if (field.get("x-ui") or {}).get("label"):
            labels.setdefault(name, _pick(field["x-ui"]["label"], lang))
    for key, text in (doc.get("view_labels") or {}).items():
        labels[key] = _pick(text, lang)
    return labels


def value_labels(doc: dict[str, Any], lang: str) -> dict[str, dict[str, str]]:
    """For view keys read straight from a config field with `x-ui.choices`, each value's label:
    a view showing `release: "daily"` shows "每天 0 点投放一份", as the merchant's form did."""
    found: dict[str, dict[str, str]] = {}
    for key, prop in [*_config_reads(doc), *_row_fields(doc)]:
        labels = _choice_labels(prop, lang)
        if labels:
            found.setdefault(key, labels)
    return found


def actions_of(doc: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    """The participant actions of a template, in declaration order, with their form fields."""
    out = []
    for name, action in (doc.get("actions") or {}).items():
        if action.get("by", "participant") != "participant":
            continue
        room = action.get("room", "none")
        out.append({"name": name, "title": _pick(action.get("title"), lang) or name,
                    "room": room,
                    "room_status": list(action.get("room_status") or ["open"])
                    if room == "target" else [],
                    # What the page says once it is done, filled from its result.
                    "done": _pick(action.get("done"), lang) or "",
                    "fields": param_fields(action.get("params"), lang)})
    return out


def status_label(status: str | None, lang: str) -> str:
    # From the catalog of magic_cube/translations, by the `lang` given (a page's context is
    # made for a language, not for the request's locale); an unknown status shows as it is.
    labels = {"open": gettext(lang, "open"), "succeeded": gettext(lang, "succeeded"),
              "failed": gettext(lang, "failed"), "expired": gettext(lang, "expired")}
    return labels.get(status or "", status or "")


def my_rooms(engine: Engine, activity_id: str, me: dict[str, Any] | None, lang: str,
             room_url: Callable[[str], str], limit: int = 10) -> list[dict[str, Any]]:
    """The rooms the participant belongs to (`me.rooms`, ids only), most recently joined first,
    as a page lists them: `id`, `url`, `status`, `status_label` and `view` — the room view its
    own page shows, so that a page can tell the rooms the participant opened from those they
    joined (a bargain's `is_mine`, a member's `is_me` and `role`) and say where each stands."""
    if not me or not me.get("rooms"):
        return []
    viewer = Participant(str(me.get("participant") or ""))
    found = []
    for room_id in me["rooms"][:limit]:
        try:
            body = engine.room_view(activity_id, room_id, viewer).body
        except EngineError:
            continue
        if body:
            found.append({"id": room_id, "url": room_url(room_id), "status": body["status"],
                          "status_label": status_label(body["status"], lang),
                          "view": body.get("view") or {}})
    return found


# What a page needs of a template version in a language never changes: worked out once per
# process, not on every page, play-part fetch or console preview.
class Facts(NamedTuple):
    actions: list[dict[str, Any]]  # participant actions with their form fields
    labels: dict[str, str]  # view key -> label
    money_keys: set[str]  # view keys that show money
    value_labels: dict[str, dict[str, str]]  # view key -> {value: its choice's label}
    image_keys: set[str]  # view keys and record fields that hold a picture's address


_facts: dict[tuple[str, str, str], Facts] = {}


def template_facts(entry: Any, lang: str) -> Facts:
    key = (entry.id, entry.content_hash, lang)
    if key not in _facts:
        _facts[key] = Facts(actions_of(entry.doc, lang), view_labels(entry.doc, lang),
                            money_keys(entry.doc), value_labels(entry.doc, lang),
                            image_keys(entry.doc))
    return _facts[key]
