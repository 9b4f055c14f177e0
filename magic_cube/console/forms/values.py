"""JSON values and the strings a form shows for them: numbers, money in yuan for integer fen,
enum values, and times as wall time in the activity's time zone (and back to RFC 3339)."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE = "Asia/Shanghai"

# "No value at this path", unlike None (JSON null): an optional field left out, so that its
# default applies.
MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<missing>"})()

_TIME = re.compile(r"(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?([zZ]|[+-]\d{2}:\d{2})?")
_TYPED_TIME = re.compile(r"(\d{2}):(\d{2})(?::(\d{2}))?(\.\d+)?([zZ]|[+-]\d{2}:\d{2})?")


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but True != 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def option_str(value: Any) -> str:
    """The form string of an enum value: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def decimal_str(value: Decimal) -> str:
    """A decimal without trailing zeros or exponent (`12.50` → `12.5`)."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def number_str(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    return decimal_str(Decimal(repr(value)))


def fen_to_yuan(value: Any) -> str:
    """An amount in the smallest unit as the main unit a merchant types (`1234` → `12.34`)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    yuan = Decimal(repr(value) if isinstance(value, float) else value) / 100
    if yuan == yuan.quantize(Decimal("0.01")):
        return format(yuan.quantize(Decimal("0.01")), "f")
    return decimal_str(yuan)


def zone_or_utc(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def utc_offset(tz: ZoneInfo) -> str:
    """The zone's offset now, as RFC 3339 writes it (`+08:00`)."""
    raw = datetime.now(tz).strftime("%z") or "+0000"
    return f"{raw[:3]}:{raw[3:5]}"


def local_datetime(value: Any, zone: ZoneInfo) -> str:
    """An RFC 3339 date-time as the value of a `datetime-local` input in `zone`."""
    try:
        moment = datetime.fromisoformat(str(value).replace("z", "Z"))
        if moment.tzinfo is not None:
            moment = moment.astimezone(zone)
    except (ValueError, OverflowError):  # not a date-time, or one the zone pushes past 9999
        return str(value)
    return moment.strftime("%Y-%m-%dT%H:%M:%S" if moment.second else "%Y-%m-%dT%H:%M")


def local_time(value: Any, zone: ZoneInfo) -> str:
    """An RFC 3339 time (with its offset) as the value of a `time` input in `zone`."""
    text = str(value)
    match = _TIME.fullmatch(text)
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
            hour=int(hh), minute=int(mm), second=seconds, tzinfo=dt_timezone(delta))
        local = base.astimezone(zone)
        hh, mm, seconds = f"{local.hour:02d}", f"{local.minute:02d}", local.second
    return f"{hh}:{mm}:{seconds:02d}" if seconds else f"{hh}:{mm}"


def rfc3339_datetime(text: str, zone: ZoneInfo) -> str:
    """A typed date-time (wall time in `zone` unless it has an offset) in RFC 3339; text that is
    no date-time comes back as it is, for the validator to report."""
    try:
        moment = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")


def rfc3339_time(text: str, zone: ZoneInfo) -> str:
    """A typed time with seconds and an offset (`zone`'s, unless it has one)."""
    match = _TYPED_TIME.fullmatch(text.strip())
    if not match:
        return text
    hh, mm, ss, fraction, off = match.groups()
    return f"{hh}:{mm}:{ss or '00'}{fraction or ''}{off or utc_offset(zone)}"
