"""What every console view needs: the engine, the signed-in merchant, the language, times in
an activity's time zone, and field errors in the shape the config form uses.

Field errors everywhere in the console are `{path: [{"code", "message"}]}`, exactly as the
engine reports config errors, so one template macro shows any of them next to its field.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import abort, current_app, g
from flask_babel import get_locale
from flask_babel import gettext as _

from magic_cube.engine import Engine, Merchant
from magic_cube.engine.errors import ActivityNotFound

LANGUAGES = ("zh", "en")
FieldErrors = dict[str, list[dict[str, str]]]


def get_engine() -> Engine:
    return current_app.extensions["magic_cube"]


def current_merchant() -> Merchant:
    """The signed-in merchant (set by `auth.login_required`)."""
    return g.merchant


def lang() -> str:
    """"zh" or "en": the language the page is rendered in."""
    locale = get_locale()
    return "zh" if locale is not None and locale.language == "zh" else "en"


def joined(parts: Any) -> str:
    """Several short texts in one cell: "；" between them on a Chinese page, "; " in English."""
    return ("；" if lang() == "zh" else "; ").join(str(p) for p in parts)


# The zones the console's forms offer by name (`zone_name`); any other IANA zone set through
# the API is kept and shown as itself.
COMMON_TIMEZONES = ("Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Singapore",
                    "Asia/Tokyo", "Asia/Seoul", "UTC", "Europe/London", "Europe/Berlin",
                    "America/New_York", "America/Los_Angeles", "Australia/Sydney")


def zone_name(tz: str | None) -> str:
    """A time zone as a merchant knows it (北京时间 / Beijing time), else its id."""
    names = {"Asia/Shanghai": _("Beijing time"), "Asia/Hong_Kong": _("Hong Kong time"),
             "Asia/Taipei": _("Taipei time"), "Asia/Singapore": _("Singapore time"),
             "Asia/Tokyo": _("Tokyo time"), "Asia/Seoul": _("Seoul time"),
             "Europe/London": _("London time"), "Europe/Berlin": _("Berlin time"),
             "America/New_York": _("New York time"),
             "America/Los_Angeles": _("Los Angeles time"),
             "Australia/Sydney": _("Sydney time"), "UTC": "UTC"}
    return names.get(tz or "UTC", tz or "UTC")


def i18n(text: Any) -> str:
    """A template's `{"zh": …, "en": …}` text in the page's language (English as fallback)."""
    if not isinstance(text, dict):
        return "" if text is None else str(text)
    return text.get(lang()) or text.get("en") or next(iter(text.values()), "")


def load_activity(activity_id: str) -> dict[str, Any]:
    """The merchant's activity, or 404: another merchant's activity looks exactly missing."""
    try:
        return get_engine().get_activity(current_merchant(), activity_id)
    except ActivityNotFound:
        abort(404)


def merchant_timezone() -> str:
    """The time zone the merchant works in, for times that belong to no activity (an API key's
    creation): the zone of most of their latest activities, else the service's default."""
    engine = get_engine()
    items, _cursor = engine.list_activities(current_merchant(), limit=100)
    zones = Counter(a["timezone"] for a in items if a.get("timezone"))
    return zones.most_common(1)[0][0] if zones else engine.settings.default_timezone


def tz_or_utc(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_moment(ts: int | None, tz: str | None) -> datetime | None:
    """Epoch seconds as an aware datetime in `tz`; None without a time, or for one the
    calendar cannot hold in that zone (beyond years 1-9999): a row from before times were
    checked may keep one, and its pages must still show."""
    if ts is None:
        return None
    try:
        return datetime.fromtimestamp(int(ts), tz=UTC).astimezone(tz_or_utc(tz))
    except (OverflowError, ValueError, OSError):
        return None


def format_time(ts: int | None, tz: str | None = None, seconds: bool = False) -> str:
    """Epoch seconds as local wall time in `tz`, e.g. `2026-11-11 10:00`."""
    if ts is None:
        return "—"
    moment = local_moment(ts, tz)
    if moment is None:
        return ""
    return moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def input_time(ts: int | None, tz: str | None) -> str:
    """Epoch seconds as the value of an `<input type="datetime-local">` in `tz`."""
    moment = local_moment(ts, tz)
    return "" if moment is None else moment.strftime("%Y-%m-%dT%H:%M")


def parse_local_time(value: str, tz: str | None) -> int | None:
    """A `datetime-local` value read as wall time in `tz`; None when empty.

    Raises ValueError for text that is not a date and time.
    """
    value = (value or "").strip()
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz_or_utc(tz))
    return int(moment.timestamp())


def add_error(errors: FieldErrors, field: str, code: str, message: str) -> None:
    errors.setdefault(field, []).append({"code": code, "message": message})


def iso_utc(ts: int | None) -> str:
    moment = local_moment(ts, "UTC")
    return "" if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")
