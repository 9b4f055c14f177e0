"""What the interpreter and the forecast learn from expressions before running them: whether
an action may read `room_info.members`, and what an activity timer's time depends on."""

from __future__ import annotations

from typing import Any

import pytest

from magic_cube.rules.compiler import compile_template
from magic_cube.rules.interpreter import run
from magic_cube.rules.jsonlogic.introspect import data_reads, reads_path
from magic_cube.rules.model import Actor, Member, Outcome, Room, Snapshot
from magic_cube.rules.rng import Rng

MEMBERS = "room_info.members"


@pytest.mark.parametrize("rule", [
    {"var": "room_info.members"}, {"var": "room_info.members.0.role"}, {"var": "room_info"},
    {"val": ["room_info", "members"]}, {"missing": ["room_info.members"]},
    {"var": ""}, {"var": []}, {"var": {"cat": ["room_", "info"]}},
    {"val": [[1], "me", {"var": "k"}]},
    {"effects": [{"if": {"rule": {"!": {"var": "room_info.members"}}}}]},
])
def test_what_may_read_the_members(rule: Any) -> None:
    assert reads_path(rule, MEMBERS)


@pytest.mark.parametrize("rule", [
    {"var": "room_info.size"}, {"var": "room_info.member"}, {"val": ["room_info", "id"]},
    {"missing": ["me.members"]}, {"+": [1, 2]}, "room_info.members",
])
def test_what_does_not_read_the_members(rule: Any) -> None:
    assert not reads_path(rule, MEMBERS)


def test_data_reads_skip_loop_items_but_not_unknown_paths() -> None:
    assert data_reads({"map": [{"var": "config.times"}, {"*": [{"var": ""}, 60]}]}) == [
        "config.times"]
    assert data_reads({"map": [[1], {"val": [[1], "activity", "n"]}]}) == ["activity.n"]
    for rule in ({"var": ""}, {"var": {"var": "k"}}, {"def": "x"}, {"missing": {"var": "k"}}):
        assert data_reads(rule) is None


def room_template(actions: dict[str, Any]) -> Any:
    return compile_template({"id": "t", "version": "1.0.0", "actions": actions})


def test_room_info_lists_members_for_the_actions_that_read_them() -> None:
    tpl = room_template({
        "count": {"room": "target", "result": {"n": {"length": {"var": "room_info.members"}}}},
        "size": {"room": "target", "result": {"n": {"var": "room_info.size"}}},
    })
    assert (tpl.actions["count"].room_info_members, tpl.actions["size"].room_info_members) == (
        True, False)
    room = Room("r", "open", "ann", 3, 0, {}, [Member("ann", "initiator", 0)], {})
    for action in ("count", "size"):
        out = run(tpl, action, Snapshot("a", {}, {}, None, room), Actor("bob"), None, 0,
                  Rng("s", "l"))
        assert isinstance(out, Outcome) and out.result == {"n": 1}


def timers_template(times: Any) -> Any:
    return compile_template({"id": "t", "version": "1.0.0", "actions": {"tick": {"by": "timer"}},
                             "timers": {"t": {"daily": times, "action": "tick"}}})


def test_timer_inputs_name_what_a_timer_time_reads() -> None:
    assert timers_template(
        {"if": [{"var": "activity.done"}, [], "12:00"]}).timer_inputs == ("$timers", "done")
    assert timers_template("12:00").timer_inputs == ("$timers",)
    assert timers_template({"if": [{"var": "now"}, "12:00", []]}).timer_inputs is None
    assert timers_template({"var": "activity"}).timer_inputs is None
