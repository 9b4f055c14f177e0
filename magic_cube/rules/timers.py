"""Activity timers: actions the activity runs by itself, at times from its config, on a daily
schedule, or when it ends.

Room timers (`after`) belong to each room and are stored with it. An activity timer is worked
out from the template, the config and one mark per timer in the activity's state: `$timers`
maps a timer's name to the epoch second it last fired, so everything here is a pure function
of stored data, and replay, the worker and the lazy path all agree.

A timer's occurrences count from the moment the activity went live and stop before it ends
(except `at: "end"`, which fires as it ends). Each occurrence fires once, in order: one that
passed unobserved (the worker down, nobody acting) fires late rather than never, and its mark
is the occurrence's time, not the firing's, so the next one is found from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from magic_cube.rules.days import local_date, zone
from magic_cube.rules.jsonlogic.dates import enter_zone, leave_zone

FIRED = "$timers"  # activity state key: timer name -> epoch second it last fired
END = "end"
MAX_DAYS = 400  # a daily schedule is searched this far ahead at most
MAX_TIMES = 1000  # occurrences one expression may list
MAX_CATCH_UP = 1000  # firings in one pass; the rest come due on the next


@dataclass
class ActivityTimer:
    name: str
    action: str
    at: Callable[[Any], Any] | None = None  # epoch seconds, or a list of them
    daily: Callable[[Any], Any] | None = None  # local times of day: "HH:MM" or seconds
    end: bool = False  # `"at": "end"`


@dataclass(init=False)
class Window:
    """When an activity's timers may fire: from going live, to its end (if it has one)."""

    start: int
    end: int | None  # the planned or actual end
    ended: bool  # the end has come: `at: "end"` timers are due

    def __init__(self, start: int, end: int | None, ended: bool) -> None:
        # (written out for mypyc, as model.py's are: built before every action)
        self.start = start
        self.end = end
        self.ended = ended


def fired_at(state: dict[str, Any], name: str) -> int | None:
    marks = state.get(FIRED)
    value = marks.get(name) if isinstance(marks, dict) else None
    return value if isinstance(value, int) else None


def mark_fired(state: dict[str, Any], name: str, now: int) -> dict[str, Any]:
    """A copy of `state` recording that timer `name` fired at `now`."""
    marks = state.get(FIRED)
    return {**state, FIRED: {**(marks if isinstance(marks, dict) else {}), name: now}}


def due_timers(timers: dict[str, ActivityTimer], config: dict[str, Any],
               state: dict[str, Any], window: Window, now: int,
               timezone: str) -> list[tuple[int, str]]:
    """The activity timers due at `now`, earliest first (ties by name, so replay is stable)."""
    due = []
    for timer in timers.values():
        when = _next(timer, config, state, window, timezone, now)
        if when is not None and when <= now:
            due.append((when, timer.name))
    return sorted(due)


def occurrence(timer: ActivityTimer, config: dict[str, Any], state: dict[str, Any],
               window: Window, now: int, timezone: str) -> int:
    """The occurrence a firing of `timer` at `now` stands for: its first one not yet fired,
    or `now` itself for `at: "end"` (and for a timer no longer due, which marks it anyway)."""
    when = None if timer.end else _next(timer, config, state, window, timezone, now)
    return when if when is not None and when <= now else now


def next_due(timers: dict[str, ActivityTimer], config: dict[str, Any], state: dict[str, Any],
             window: Window, now: int, timezone: str) -> int | None:
    """The earliest time any activity timer comes due (possibly already past), for the worker."""
    times = [t for t in (_next(timer, config, state, window, timezone, now)
                         for timer in timers.values()) if t is not None]
    return min(times) if times else None


def upcoming(timers: dict[str, ActivityTimer], config: dict[str, Any], state: dict[str, Any],
             window: Window, now: int, timezone: str) -> list[tuple[int, str]]:
    """When each of the activity's timers runs next (time, name), earliest first, as things
    stand now: the schedule a merchant is shown. Only the next one of each, since what a
    firing writes can change the times after it (a paced release stops after its last part).
    An `at: "end"` timer comes at the planned end."""
    out = [(t, timer.name) for timer in timers.values()
           if (t := _next(timer, config, state, window, timezone, now)) is not None]
    if window.end is not None and not window.ended:
        out += [(window.end, t.name) for t in timers.values()
                if t.end and fired_at(state, t.name) is None]
    return sorted(out)


def _next(timer: ActivityTimer, config: dict[str, Any], state: dict[str, Any], window: Window,
          timezone: str, now: int) -> int | None:
    """The timer's first occurrence after it last fired (or from the start), or None."""
    last = fired_at(state, timer.name)
    if timer.end:
        return window.end if window.ended and window.end is not None and last is None else None
    # An `at` time equal to the moment the activity goes live fires; a daily time equal to it
    # is where the first period begins (a part released "each day at 00:00" by an activity
    # that starts at 00:00 comes at its start with the first part, not twice).
    after = last if last is not None else window.start - (1 if timer.at is not None else 0)
    data = {"config": config, "activity": state, "now": now, "today": local_date(now, timezone)}
    previous = enter_zone(timezone)
    try:
        if timer.at is not None:
            candidates = [t for t in _epochs(timer.at(data)) if t > after]
            first = min(candidates) if candidates else None
        else:
            assert timer.daily is not None
            first = _next_daily(_times_of_day(timer.daily(data)), after, timezone)
    finally:
        leave_zone(previous)
    if first is None or (window.end is not None and first >= window.end):
        return None
    return first


def _epochs(value: Any) -> list[int]:
    """`at`'s value: one epoch second or a list of them; anything else is no occurrence."""
    values = value if isinstance(value, list) else [value]
    out = []
    for v in values[:MAX_TIMES]:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            continue
        out.append(int(v))
    return out


def _times_of_day(value: Any) -> tuple[int, ...]:
    """`daily`'s value: local times as "HH:MM" / "HH:MM:SS" or seconds after midnight."""
    values = value if isinstance(value, list) else [value]
    if all(type(v) is str or type(v) is int for v in values):
        return _parsed_times(tuple(values))  # the same few values every time: parsed once
    return _parse_times(values)


@lru_cache(maxsize=1024)
def _parsed_times(values: tuple[str | int, ...]) -> tuple[int, ...]:
    return _parse_times(values)


def _parse_times(values: Sequence[Any]) -> tuple[int, ...]:
    out = set()
    for v in values[:MAX_TIMES]:
        seconds = parse_time_of_day(v)
        if seconds is not None:
            out.add(seconds)
    return tuple(sorted(out))


def parse_time_of_day(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 <= value < 86400 else None
    if not isinstance(value, str):
        return None
    try:
        parsed = time.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        return None  # a time of day here is always the activity's local time
    return parsed.hour * 3600 + parsed.minute * 60 + parsed.second


@lru_cache(maxsize=4096)
def _next_daily(times: tuple[int, ...], after: int, timezone: str) -> int | None:
    """The first of `times` (local) after epoch second `after`; a pure function of its
    arguments, asked again and again with the same ones (cached)."""
    if not times:
        return None
    tz = zone(timezone)
    day = date.fromisoformat(local_date(after, timezone))
    for _ in range(MAX_DAYS):
        for seconds in times:
            local = datetime.combine(day, time(seconds // 3600, seconds % 3600 // 60,
                                               seconds % 60), tz)
            # Wall-clock times; one skipped by a daylight-saving change (02:30 on the day
            # clocks jump from 02:00 to 03:00) comes as late as the jump: at 03:30.
            at = int(local.astimezone(UTC).timestamp())
            if at > after:
                return at
        day += timedelta(days=1)
    return None
