"""The views of single inputs: a checkbox, a select or radios, a number or text input.

Each function completes the base view the renderer made for a field (id, name, label, help,
errors, `readonly`, `required`) with the input's attributes and its value as the form shows it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask_babel import gettext as _

from magic_cube.console.context import zone_name
from magic_cube.console.forms.schema import FieldInfo
from magic_cube.console.forms.values import (
    MISSING,
    decimal_str,
    fen_to_yuan,
    json_equal,
    local_datetime,
    local_time,
    number_str,
    option_str,
    zone_or_utc,
)

_INPUT_TYPES = {"date": "date", "date-time": "datetime-local", "time": "time", "email": "email",
                "uri": "url", "iri": "url"}


def aria_attrs(view: dict[str, Any]) -> dict[str, Any]:
    return {"aria-invalid": "true" if view["errors"] else None,
            "aria-describedby": view["describedby"]}


def checkbox(view: dict[str, Any], info: FieldInfo, value: Any) -> dict[str, Any]:
    readonly = view["readonly"]
    checked = value is True
    view["attrs"] = {"type": "checkbox", "id": view["id"], "name": view["name"], "value": "true",
                     "checked": checked, "role": "switch" if info.widget == "switch" else None,
                     "disabled": readonly, **aria_attrs(view)}
    view["switch"] = info.widget == "switch"
    # A disabled input is not submitted: a read-only field carries its value in a hidden one.
    view["carry"] = [(view["name"], "true" if checked else "false")] if readonly else []
    view["unchecked"] = None if readonly else "false"
    return view


def choice(view: dict[str, Any], info: FieldInfo, value: Any) -> dict[str, Any]:
    """A select, or radios (`view["kind"] == "radio"`)."""
    readonly, required = view["readonly"], view["required"]
    options = [{"id": f"{view['id']}--{i}", "value": option_str(v), "label": text,
                "selected": value is not MISSING and json_equal(v, value)}
               for i, (v, text) in enumerate(info.options)]
    view["options"] = options
    selected = any(o["selected"] for o in options)
    radio = view["kind"] == "radio"
    view["blank"] = not radio and (not required or not selected)
    attrs = {"required": required and not readonly, "disabled": readonly, **aria_attrs(view)}
    if radio:
        view["input_attrs"] = attrs
    else:
        view["attrs"] = {"id": view["id"], "name": view["name"], **attrs}
    if readonly and selected:
        view["carry"] = [(view["name"], o["value"]) for o in options if o["selected"]]
    return view


def number_input(view: dict[str, Any], info: FieldInfo, value: Any, *, placeholder: str | None,
                 currency_symbol: str) -> dict[str, Any]:
    """A number; money is shown in the main unit (yuan) and stored in the smallest (fen)."""
    attrs: dict[str, Any] = {"id": view["id"], "name": view["name"], **number_attrs(info)}
    view["unit"], view["tz"] = None, None
    shown = "" if value is MISSING or value is None else value
    if info.widget == "money":
        view["unit"] = currency_symbol
        shown = fen_to_yuan(shown) if shown != "" else ""
    else:
        shown = number_str(shown) if shown != "" else ""
        if info.widget == "percent":
            view["unit"] = "%"
    return _with_value(view, attrs, shown, placeholder)


def number_attrs(info: FieldInfo) -> dict[str, Any]:
    """type, min, max, step and inputmode of a number input (in yuan for money)."""
    node = info.node
    money = info.widget == "money"
    integer = info.kind == "integer"
    scale = Decimal(100) if money else Decimal(1)

    def bound(value: Any, nudge: int = 0) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return decimal_str((Decimal(repr(value) if isinstance(value, float) else value)
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
    else:
        attrs["step"] = "0.01" if money else "1" if integer else "any"
    attrs["inputmode"] = "numeric" if integer and not money else "decimal"
    if attrs["type"] == "text":
        attrs.pop("min"), attrs.pop("max"), attrs.pop("step")
    return attrs


def text_input(view: dict[str, Any], info: FieldInfo, value: Any, *, placeholder: str | None,
               timezone: str, tz_name: str) -> dict[str, Any]:
    """A text input or textarea (`view["kind"] == "textarea"`); a date-time or time is shown as
    wall time in `timezone`, which a hidden input named `tz_name` submits with it."""
    textarea = view["kind"] == "textarea"
    node = info.node
    time_format = info.time_format
    attrs: dict[str, Any] = {"id": view["id"], "name": view["name"]}
    view["unit"], view["tz"] = None, None
    shown = "" if value is MISSING or value is None else value
    if not textarea:
        attrs["type"] = _INPUT_TYPES.get(time_format or "", "text")
    if time_format in ("date-time", "time"):
        if shown != "":
            zone = zone_or_utc(timezone)
            shown = local_datetime(shown, zone) if time_format == "date-time" \
                else local_time(shown, zone)
        view["tz"] = {"name": tz_name, "zone": timezone, "id": f"{view['id']}-tz",
                      "note": _("Time zone: %(tz)s", tz=zone_name(timezone))}
        view["describedby"] = " ".join(
            x for x in (view["tz"]["id"], view["describedby"]) if x)
        if isinstance(shown, str) and shown.count(":") == 2:
            attrs["step"] = "1"
    if isinstance(node.get("maxLength"), int):
        attrs["maxlength"] = node["maxLength"]
    if isinstance(node.get("minLength"), int) and node["minLength"] > 0:
        attrs["minlength"] = node["minLength"]
    if isinstance(node.get("pattern"), str) and not textarea:
        attrs["pattern"] = html_pattern(node["pattern"])
    shown = shown if isinstance(shown, str) else option_str(shown)
    return _with_value(view, attrs, shown, placeholder)


# -- images: a string with `contentMediaType: image/*` (docs/templates.md, "Image fields")

ACCEPTED_IMAGES = "image/png,image/jpeg,image/gif,image/webp"


def is_image(info: FieldInfo) -> bool:
    media = info.node.get("contentMediaType")
    return info.kind == "string" and isinstance(media, str) and media.startswith("image/")


def previewable(url: Any) -> bool:
    """A URL the console may show as a thumbnail: one of ours (`/media/…`) or http(s)."""
    return isinstance(url, str) and (
        (url.startswith("/") and not url.startswith("//")) or url.startswith(("https://",
                                                                              "http://")))


def image_input(view: dict[str, Any], info: FieldInfo, value: Any, *, placeholder: str | None,
                upload_url: str | None, max_bytes: int | None) -> dict[str, Any]:
    """A URL input with a thumbnail; unless read-only, a file picker that uploads to
    `upload_url` (static/uploads.js) and puts the answered URL in the input."""
    shown = value if isinstance(value, str) else "" if value is MISSING or value is None \
        else option_str(value)
    attrs: dict[str, Any] = {"id": view["id"], "name": view["name"], "type": "text",
                             "inputmode": "url", "autocomplete": "off", "data-image-url": True}
    if isinstance(info.node.get("maxLength"), int):
        attrs["maxlength"] = info.node["maxLength"]
    view["unit"], view["tz"] = None, None
    view["image"] = {
        "src": shown if previewable(shown) else None,
        "upload_url": None if view["readonly"] else upload_url, "max_bytes": max_bytes,
        "file_id": f"{view['id']}-file", "status_id": f"{view['id']}-status",
        "accept": ACCEPTED_IMAGES}
    return _with_value(view, attrs, shown, placeholder)


def _with_value(view: dict[str, Any], attrs: dict[str, Any], shown: Any,
                placeholder: str | None) -> dict[str, Any]:
    attrs.update({"placeholder": placeholder, "required": view["required"],
                  "readonly": view["readonly"], **aria_attrs(view)})
    if view["kind"] == "textarea":
        view["value"] = str(shown)
    else:
        attrs["value"] = str(shown)
    view["attrs"] = attrs
    return view


def html_pattern(pattern: str) -> str:
    """A JSON Schema pattern (unanchored search) as an HTML `pattern` (always anchored)."""
    anchored = pattern.startswith("^") and pattern.endswith("$") and not pattern.endswith("\\$")
    if anchored and "|" not in pattern:
        return pattern[1:-1]
    return f".*(?:{pattern}).*"
