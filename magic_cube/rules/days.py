"""Calendar days in an activity's time zone.

"Per day" limits mean per calendar day where the merchant is, not per UTC day: a Shanghai
activity's day turns at 16:00 UTC. Timestamps are stored in UTC (epoch seconds).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "Asia/Shanghai"


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_date(ts: int, tz: str = DEFAULT_TIMEZONE) -> str:
    """The calendar date (YYYY-MM-DD) at epoch second `ts` in zone `tz`."""
    return datetime.fromtimestamp(ts, UTC).astimezone(zone(tz)).date().isoformat()


def epoch(dt: datetime) -> int:
    """Whole epoch seconds of an aware datetime."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime: give a time zone")
    return int(dt.timestamp())
