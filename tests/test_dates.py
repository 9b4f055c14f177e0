"""Date and time operators in the activity's time zone, weekly and monthly resets, and the
check that refuses comparing a date-time string with a number."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from template_factory import minimal_template

from magic_cube.catalog.catalog import check_document
from magic_cube.catalog.semantic import semantic_problems
from magic_cube.rules.compiler import compile_template
from magic_cube.rules.days import epoch, local_date
from magic_cube.rules.jsonlogic import EvaluationError, apply, compile_rule
from magic_cube.rules.jsonlogic.dates import in_zone
from magic_cube.rules.model import Outcome
from magic_cube.rules.sim import Simulation


def ts(text: str) -> int:
    return epoch(datetime.fromisoformat(text))


WED = ts("2026-11-11T10:30:15+08:00")  # a Wednesday in Shanghai; 21:30:15 on the 10th in NY


# -- the operators ------------------------------------------------------------------------------

@pytest.mark.parametrize(("rule", "shanghai", "new_york"), [
    ({"date_time": "2026-11-11T10:30:15+08:00"}, WED, WED),
    ({"date_time": "2026-11-11T02:30:15Z"}, WED, WED),
    ({"date_time": "2026-11-11T10:30:15"}, WED, ts("2026-11-11T10:30:15-05:00")),
    ({"local_date": WED}, "2026-11-11", "2026-11-10"),
    ({"day_number": WED}, 20768, 20767),
    ({"day_of_week": WED}, 3, 2),
    ({"week_number": WED}, 46, 46),
    ({"week_number": ts("2027-01-01T12:00:00+08:00")}, 53, 53),
    ({"time_of_day": WED}, 10 * 3600 + 30 * 60 + 15, 21 * 3600 + 30 * 60 + 15),
    ({"start_of_day": WED}, ts("2026-11-11T00:00:00+08:00"), ts("2026-11-10T00:00:00-05:00")),
    ({"add_days": [WED, 2]}, WED + 2 * 86400, WED + 2 * 86400),
    ({"add_days": [WED, -1]}, WED - 86400, WED - 86400),
])
def test_date_operators_read_the_activity_zone(rule: Any, shanghai: Any, new_york: Any) -> None:
    evaluate = compile_rule(rule)
    with in_zone("Asia/Shanghai"):
        assert evaluate(None) == shanghai
    with in_zone("America/New_York"):
        assert evaluate(None) == new_york
    assert apply(rule) == shanghai  # outside an activity: the default zone


def test_add_days_keeps_the_wall_clock_time_across_a_dst_change() -> None:
    before = ts("2026-03-07T12:00:00-05:00")  # New York moves its clocks on 2026-03-08
    with in_zone("America/New_York"):
        later = apply({"add_days": [before, 1]})
    assert later - before == 23 * 3600


@pytest.mark.parametrize("rule", [
    {"date_time": "soon"}, {"date_time": 5}, {"local_date": "2026-11-11"},
    {"add_days": [WED, 1.5]}, {"day_of_week": None},
])
def test_date_operators_refuse_what_is_not_a_time(rule: Any) -> None:
    with pytest.raises(EvaluationError):
        apply(rule)


def test_date_operators_are_not_folded_with_the_compile_time_zone() -> None:
    rule = compile_rule({"date_time": "2026-11-11T10:30:15"})
    with in_zone("America/New_York"):
        assert rule(None) == ts("2026-11-11T10:30:15-05:00")


# -- in templates: the interpreter and resets ---------------------------------------------------

def _template(reset: str) -> dict[str, Any]:
    doc = minimal_template()
    doc["config"]["schema"]["properties"]["opens_at"] = {"type": "string", "format": "date-time"}
    doc["state"]["participant"]["joins_today"]["reset"] = reset
    start = doc["actions"]["start"]
    start["guards"] = [{"rule": {">=": [{"var": "now"}, {"date_time": {"var": "config.opens_at"}}]},
                        "error": "joins_used_up"}]
    start["result"] = {"weekday": {"day_of_week": {"var": "now"}},
                       "minute": {"floor": {"/": [{"time_of_day": {"var": "now"}}, 60]}}}
    return doc


def _sim(reset: str, start: str, tz: str = "Asia/Shanghai") -> Simulation:
    compiled, problems = check_document(_template(reset), "t.json")
    assert problems == [] and compiled is not None
    config = {"team_size": 9, "joins_per_day": 50, "hours": 24 * 60,
              "opens_at": "2026-11-02T00:00:00+08:00"}
    return Simulation(compiled, config, ts(start), timezone=tz)


def test_a_guard_compares_now_with_a_parsed_config_time() -> None:
    sim = _sim("daily", "2026-11-01T23:59:00+08:00")
    refused = sim.act("ivy", "start")
    assert not isinstance(refused, Outcome) and refused.error == "joins_used_up"
    sim.advance(ts("2026-11-02T08:15:00+08:00"))
    started = sim.act("ivy", "start")
    assert isinstance(started, Outcome)
    assert started.result == {"weekday": 1, "minute": 8 * 60 + 15}


def _joins_after(sim: Simulation, moments: list[str]) -> list[int]:
    started = sim.act("ivy", "start")
    assert isinstance(started, Outcome) and started.room is not None
    room = started.room.room.id
    seen = []
    for moment in moments:
        sim.advance(ts(moment))
        outcome = sim.act("amy", "join", room=room)
        assert isinstance(outcome, Outcome), outcome
        seen.append(sim.participants["amy"]["joins_today"])
        fresh = sim.act("ivy", "start")
        assert isinstance(fresh, Outcome) and fresh.room is not None
        room = fresh.room.room.id
    return seen


@pytest.mark.parametrize(("reset", "expected"), [
    ("daily", [1, 1, 1, 1]),
    ("weekly", [1, 2, 1, 2]),  # Mon, Sun, next Mon, the Tuesday after
    ("monthly", [1, 2, 3, 1]),  # … and the last one in December
])
def test_weekly_and_monthly_resets_follow_the_local_calendar(reset: str,
                                                             expected: list[int]) -> None:
    sim = _sim(reset, "2026-11-02T09:00:00+08:00")
    moments = ["2026-11-02T09:00:00+08:00", "2026-11-08T23:00:00+08:00",
               "2026-11-09T00:30:00+08:00", "2026-12-01T10:00:00+08:00"]
    if reset == "weekly":
        moments[3] = "2026-11-10T10:00:00+08:00"
    assert _joins_after(sim, moments) == expected


# -- the semantic pass --------------------------------------------------------------------------

def _problems_of_view(expression: Any) -> list[tuple[str, str]]:
    doc = minimal_template()
    doc["config"]["schema"]["properties"]["opens_at"] = {"type": "string", "format": "date-time"}
    doc["config"]["schema"]["properties"]["rounds"] = {
        "type": "array", "items": {"type": "object", "properties": {
            "at": {"type": "string", "format": "date-time"}}}}
    doc["views"]["me"]["x"] = expression
    return [(p.path, p.code) for p in semantic_problems(doc, "t.json")]


REFUSED = ("views.me.x", "date_time_compared_with_number")


@pytest.mark.parametrize("expression", [
    {">=": [{"var": "now"}, {"var": "config.opens_at"}]},
    {"<": [{"var": "config.opens_at"}, {"+": [{"var": "now"}, 60]}]},
    {"<=": [1, {"var": "config.rounds.0.at"}, {"var": "now"}]},
    {"==": [{"var": "me.joins_today"}, {"var": "config.opens_at"}]},
    {"<": [{"var": "now"}, "2026-11-11T00:00:00+08:00"]},
    {">": [{"val": "now"}, {"val": ["config", "opens_at"]}]},
    {"if": [{">": [{"var": "now"}, {"var": "config.opens_at"}]}, 1, 0]},
])
def test_comparing_a_date_time_string_with_a_number_is_refused(expression: Any) -> None:
    assert _problems_of_view(expression) == [REFUSED]


@pytest.mark.parametrize("expression", [
    {">=": [{"var": "now"}, {"date_time": {"var": "config.opens_at"}}]},
    {"==": [{"var": "config.opens_at"}, "2026-11-11T00:00:00+08:00"]},
    {"<": [{"local_date": {"var": "now"}}, {"var": "today"}]},
    {"preserve": {"<": [{"var": "now"}, {"var": "config.opens_at"}]}},
])
def test_comparisons_of_like_with_like_pass(expression: Any) -> None:
    assert _problems_of_view(expression) == []


def test_a_definition_that_compares_wrongly_is_refused_where_it_is_used() -> None:
    doc = minimal_template(definitions={"open": {">": [{"var": "now"},
                                                       {"var": "config.opens_at"}]}})
    doc["config"]["schema"]["properties"]["opens_at"] = {"type": "string", "format": "date-time"}
    doc["views"]["me"]["open"] = {"def": "open"}
    found = [(p.path, p.code) for p in semantic_problems(doc, "t.json")]
    assert found == [("views.me.open", "date_time_compared_with_number")]


def test_compiled_template_resets_are_read_from_the_declaration() -> None:
    doc = _template("monthly")
    assert compile_template(doc).state["participant"]["joins_today"].reset == "monthly"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1_500_000_000, 2_000_000_000), min_size=1, max_size=30),
       st.sampled_from(["Asia/Shanghai", "America/New_York", "America/Havana",
                        "Australia/Lord_Howe", "Pacific/Chatham", "Europe/London"]))
def test_the_remembered_day_is_always_the_day(seconds, tz):
    # local_date remembers the last day it worked out; near and far calls alike must agree
    # with a fresh conversion, daylight-saving days (one starting at 01:00 in Havana) too.
    for ts in seconds + [s + 1 for s in seconds] + [s - 86400 for s in seconds]:
        fresh = datetime.fromtimestamp(ts, UTC).astimezone(ZoneInfo(tz)).date().isoformat()
        assert local_date(ts, tz) == fresh
