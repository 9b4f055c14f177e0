"""Calendar days in an activity's time zone.

"Per day" limits mean per calendar day where the merchant is, not per UTC day: a Shanghai
activity's day turns at 16:00 UTC. Timestamps are stored in UTC (epoch seconds).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

DEFAULT_TIMEZONE = "Asia/Shanghai"

# Files of a zoneinfo directory that ZoneInfo opens but that name no place: the host's own
# zone (whatever it is set to), tzcode's placeholder, and the default rules for POSIX strings.
NOT_ZONES = frozenset({"localtime", "Factory", "posixrules"})


@lru_cache(maxsize=1)
def iana_zones() -> frozenset[str]:
    """The IANA time zone names this server knows (`Asia/Shanghai`, `UTC`, `Etc/GMT+8`): read
    once, as it walks the zoneinfo directories."""
    return frozenset(available_timezones()) - NOT_ZONES


def is_iana_zone(name: Any) -> bool:
    """Whether `name` is an IANA time zone name exactly as the database spells it: not a path,
    not another case, nor a file such as `posix/Asia/Shanghai` or `localtime` that ZoneInfo
    would open too."""
    return isinstance(name, str) and name in iana_zones()

# The years our dates may fall in: an activity's times, its config's dates, a campaign's days.
# Python's calendar ends at year 9999 and starts at year 1, and a time near either edge leaves it
# once shifted to a time zone (a local day, a page, a forecast then fail), so dates from
# outside are refused where they come in.
FIRST_YEAR, LAST_YEAR = 2000, 2099
EARLIEST = int(datetime(FIRST_YEAR, 1, 1, tzinfo=UTC).timestamp())  # epoch seconds, inclusive
LATEST = int(datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC).timestamp()) - 1


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


# zone -> (first second, first second of the next day, date) of the day last asked about:
# every action asks for its day, and nearly all of them ask about the same one.
_LAST_DAY: dict[str, tuple[float, float, str]] = {}


def local_date(ts: int, tz: str = DEFAULT_TIMEZONE) -> str:
    """The calendar date (YYYY-MM-DD) at epoch second `ts` in zone `tz`."""
    known = _LAST_DAY.get(tz)
    if known is not None and known[0] <= ts < known[1]:
        return known[2]
    day = datetime.fromtimestamp(ts, UTC).astimezone(zone(tz)).date()
    start = datetime.combine(day, time(0), zone(tz)).timestamp()
    end = datetime.combine(day + timedelta(days=1), time(0), zone(tz)).timestamp()
    text = day.isoformat()
    if start <= ts < end:  # (a day that starts in a daylight-saving gap: not cached)
        _LAST_DAY[tz] = (start, end, text)
    return text


def epoch(dt: datetime) -> int:
    """Whole epoch seconds of an aware datetime."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime: give a time zone")
    return int(dt.timestamp())


def supported_time(ts: int) -> bool:
    """Whether epoch second `ts` lies in the years we support (UTC)."""
    return EARLIEST <= ts <= LATEST


def supported_moment(dt: datetime) -> bool:
    """Whether an aware datetime lies in the years we support; compared as a UTC instant, so
    that an offset cannot carry it out of range."""
    return supported_time(epoch(dt))

