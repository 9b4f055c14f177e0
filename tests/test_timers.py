"""When activity timers come due (magic_cube.rules.timers): daily times in the activity's zone
(daylight saving included), lists of times, the window from going live to the end, and each
occurrence once however late."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from magic_cube.rules.timers import (
    ActivityTimer,
    Window,
    due_timers,
    mark_fired,
    next_due,
    occurrence,
    parse_time_of_day,
)

SHANGHAI, NEW_YORK = "Asia/Shanghai", "America/New_York"


def _at(text: str, zone: str = SHANGHAI) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp())


def _daily(*times: object) -> ActivityTimer:
    return ActivityTimer("t", "a", daily=lambda data: list(times))


def _fire_all(timer: ActivityTimer, window: Window, now: int, zone: str = SHANGHAI) -> list[int]:
    """Fire `timer` as the engine does until nothing is due; the occurrences it stood for."""
    state: dict = {}
    fired = []
    while due_timers({"t": timer}, {}, state, window, now, zone):
        when = occurrence(timer, {}, state, window, now, zone)
        fired.append(when)
        state = mark_fired(state, "t", when)
    return fired


def test_times_of_day_are_local_and_validated():
    assert parse_time_of_day("20:00") == 72000
    assert parse_time_of_day("08:30:15") == 30615
    assert parse_time_of_day(3600) == 3600
    for bad in ("25:00", "8pm", "20:00+08:00", 86400, -1, True, None, 3.5):
        assert parse_time_of_day(bad) is None


def test_a_daily_timer_fires_every_missed_day_once_in_order():
    window = Window(_at("2026-11-11T10:00"), None, False)
    now = _at("2026-11-14T21:00")
    assert _fire_all(_daily("20:00"), window, now) == [
        _at(f"2026-11-{d}T20:00") for d in (11, 12, 13, 14)]


def test_several_times_a_day_and_nothing_before_the_start_or_from_the_end_on():
    window = Window(_at("2026-11-11T10:00"), _at("2026-11-12T12:00"), False)
    fired = _fire_all(_daily("09:00", "12:00", "18:00"), window, _at("2026-11-20T00:00"))
    assert fired == [_at("2026-11-11T12:00"), _at("2026-11-11T18:00"), _at("2026-11-12T09:00")]


def test_daily_times_follow_daylight_saving():
    # 2026-03-08 02:30 does not exist in New York: that day the timer fires an hour of wall
    # clock later (03:30, as long after midnight as planned), then at 02:30 again.
    window = Window(_at("2026-03-06T12:00", NEW_YORK), None, False)
    fired = _fire_all(_daily("02:30"), window, _at("2026-03-09T12:00", NEW_YORK), NEW_YORK)
    assert fired[0] == _at("2026-03-07T02:30", NEW_YORK)
    assert fired[1] == _at("2026-03-08T03:30", NEW_YORK)
    assert fired[2] - fired[1] == 23 * 3600
    assert fired[2] == _at("2026-03-09T02:30", NEW_YORK)


def test_at_takes_a_list_and_ignores_what_is_not_a_time():
    start = _at("2026-11-11T10:00")
    timer = ActivityTimer("t", "a", at=lambda data: [start + 50, "soon", start - 10, None,
                                                      start + 10, True, float("nan")])
    window = Window(start, None, False)
    assert _fire_all(timer, window, start + 100) == [start + 10, start + 50]
    assert next_due({"t": timer}, {}, {}, window, start, SHANGHAI) == start + 10


def test_the_end_timer_fires_once_when_the_end_has_come():
    end = _at("2026-11-12T00:00")
    timer = ActivityTimer("t", "a", end=True)
    assert _fire_all(timer, Window(0, end, False), end + 10) == []
    assert _fire_all(timer, Window(0, end, True), end + 10) == [end + 10]
    marked = mark_fired({}, "t", end)
    assert due_timers({"t": timer}, {}, marked, Window(0, end, True), end + 20, SHANGHAI) == []


def test_marks_keep_the_rest_of_the_state():
    state = mark_fired({"pool": 5}, "a", 10)
    assert mark_fired(state, "b", 20) == {"pool": 5, "$timers": {"a": 10, "b": 20}}
