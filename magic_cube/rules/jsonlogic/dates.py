"""Date and time operators, in the activity's time zone.

Times are epoch seconds (as `now` is). The zone is the activity's: the interpreter names it
with `in_zone` around each evaluation; elsewhere (config checks, a bare `apply`) it is
DEFAULT_ZONE. Local days, weeks and months are those of that zone, so a Shanghai activity's
day turns at 16:00 UTC.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from magic_cube.rules.jsonlogic.errors import EvaluationError, Path

DEFAULT_ZONE = "Asia/Shanghai"
EPOCH_DAY = date(1970, 1, 1)

_local = threading.local()


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@contextmanager
def in_zone(name: str) -> Iterator[None]:
    """Evaluate the date operators in zone `name` (an IANA name) while the block runs."""
    previous = enter_zone(name)
    try:
        yield
    finally:
        leave_zone(previous)


def enter_zone(name: str) -> ZoneInfo | None:
    """`in_zone` without a context manager (for the hot path): returns what `leave_zone`
    must be given back, in a `finally`."""
    previous: ZoneInfo | None = getattr(_local, "zone", None)
    _local.zone = _zone(name)
    return previous


def leave_zone(previous: ZoneInfo | None) -> None:
    _local.zone = previous


def current_zone() -> ZoneInfo:
    zone: ZoneInfo | None = getattr(_local, "zone", None)
    return zone if zone is not None else _zone(DEFAULT_ZONE)


def _seconds(value: Any, op: str, path: Path) -> int:
    if type(value) in (int, float) and math.isfinite(value):
        return int(value)
    raise EvaluationError(f"{op} needs a time in epoch seconds, got {value!r}", path)


def _local_dt(value: Any, op: str, path: Path) -> datetime:
    return datetime.fromtimestamp(_seconds(value, op, path), UTC).astimezone(current_zone())


def parse_date_time(value: Any, path: Path | None = None) -> int:
    """An ISO 8601 date-time (a config `date-time`) as epoch seconds; without an offset it is
    a local time of the zone."""
    path = path or []
    if type(value) is not str:
        raise EvaluationError(f"date_time needs an ISO 8601 string, got {value!r}", path)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise EvaluationError(f"date_time: not an ISO 8601 date-time: {value!r}", path) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=current_zone())
    return int(parsed.timestamp())


def _start_of_day(local: datetime) -> int:
    midnight = datetime(local.year, local.month, local.day, tzinfo=local.tzinfo)
    return int(midnight.timestamp())


def _add_days(ts: Any, days: Any, path: Path) -> int:
    if type(days) not in (int, float) or not math.isfinite(days) or days != int(days):
        raise EvaluationError(f"add_days needs a whole number of days, got {days!r}", path)
    local = _local_dt(ts, "add_days", path)
    # The same wall-clock time `days` later (23 or 25 hours across a DST change).
    moved = (local.replace(tzinfo=None) + timedelta(days=int(days))).replace(tzinfo=local.tzinfo)
    return int(moved.timestamp())


UNARY: dict[str, Callable[[datetime], Any]] = {
    "day_number": lambda d: (d.date() - EPOCH_DAY).days,
    "local_date": lambda d: d.date().isoformat(),
    "week_number": lambda d: d.isocalendar().week,
    "day_of_week": lambda d: d.isoweekday(),
    "start_of_day": _start_of_day,
    "time_of_day": lambda d: d.hour * 3600 + d.minute * 60 + d.second,
}
"""Operators of one time (epoch seconds), read in the zone's local calendar."""


def unary(op: str, value: Any, path: Path) -> Any:
    return UNARY[op](_local_dt(value, op, path))


def add_days(ts: Any, days: Any, path: Path) -> int:
    return _add_days(ts, days, path)


def period_key(day: str, reset: str) -> str:
    """The period a local date (YYYY-MM-DD) falls in, for `reset: daily/weekly/monthly`."""
    if reset == "weekly":
        year, week, _ = date.fromisoformat(day).isocalendar()
        return f"{year}-W{week:02d}"
    if reset == "monthly":
        return day[:7]
    return day
