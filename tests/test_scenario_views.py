"""`expect_view` in scenario steps: the public, `me` and room views, rendered as the engine
renders them, subset-matched; mistakes fail with a message naming the step and the path."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from engine_helpers import Clock, create_merchant, make_engine, publish

from magic_cube.catalog import Catalog, TemplateEntry
from magic_cube.engine import Participant
from magic_cube.scenarios import ScenarioResult, run_entry_scenario, run_scenario

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "activity_templates"
START = "2026-11-11T20:00:00+08:00"
LOTTERY = {"prizes": [{"name": "Voucher", "type": "coupon", "stock": 1, "odds": 10000}],
           "draws_per_day": 2, "draws_total": 3}
GROUP = {"product_name": "Rice cooker", "original_price": 29900, "group_price": 19900,
         "leader_price": 17900, "group_size": 3, "stock": 10, "groups_per_participant": 2}


@cache
def _entry(template_id: str) -> TemplateEntry:
    return Catalog.discover([TEMPLATES_DIR], entry_points=False).get(template_id)


def _run(template_id: str, config: dict[str, Any], steps: list[dict[str, Any]],
         start: str = START) -> ScenarioResult:
    doc = {"title": "views", "config": config, "start": start, "steps": steps}
    return run_entry_scenario(_entry(template_id), doc, "views.json")


def test_matching_views_pass():
    result = _run("lottery", LOTTERY, [
        {"actor": "amy", "action": "draw",
         "expect_view": {"public": {"stock_left": [0], "prize_names": ["Voucher"]},
                         "me:amy": {"draws_left_today": 1, "prizes": [{"name": "Voucher"}]},
                         "me:ben": {"draws_left_today": 2, "prizes": []}}},
    ])
    assert result.failures == []


def test_a_wrong_view_value_names_the_step_and_the_path():
    result = _run("lottery", LOTTERY, [
        {"actor": "amy", "action": "draw"},
        {"actor": "amy", "action": "draw",
         "expect_view": {"me:amy": {"draws_left_today": 5, "prizes": [{"name": "Mug"}]},
                         "public": {"no_such_key": 1}}},
    ])
    assert result.failures == [
        "steps[1]: view me:amy.draws_left_today: expected 5, got 0",
        "steps[1]: view me:amy.prizes[0].name: expected 'Mug', got 'Voucher'",
        "steps[1]: view public.no_such_key: missing",
    ]


def test_room_view_is_the_actors_unless_a_viewer_is_named():
    member = {"name": "A***", "role": "member", "data": {"price": 19900}}
    result = _run("group_buy", GROUP, [
        {"actor": "lee", "name": "李雷", "action": "start", "save_room": "g1"},
        {"actor": "amy", "name": "Amy", "action": "join", "room": "g1",
         "expect_view": {
             "room:g1": {"is_member": True, "members": [{"name": "李*", "is_me": False},
                                                        {**member, "is_me": True}]},
             "room:g1@lee": {"members": [{"is_me": True}, {"is_me": False}]},
             "room:g1@cat": {"is_member": False, "places_left": 1,
                             "members": [{"is_me": False}, {"is_me": False}]}}},
    ])
    assert result.failures == []
    wrong = _run("group_buy", GROUP, [
        {"actor": "lee", "action": "start", "save_room": "g1",
         "expect_view": {"room:g1": {"members": [{"is_me": False}]}}},
    ])
    assert wrong.failures == ["steps[0]: view room:g1.members[0].is_me: expected False, got True"]


def test_views_are_rendered_after_the_steps_action_and_due_timers():
    result = _run("group_buy", {**GROUP, "expiry_hours": 2}, [
        {"actor": "lee", "action": "start", "save_room": "g1",
         "expect_view": {"public": {"stock_left": 9}, "room:g1": {"status": "open"}}},
        {"at": "+2h", "expect_view": {"public": {"stock_left": 10},
                                      "room:g1@lee": {"status": "expired", "expires_at": None}}},
    ])
    assert result.failures == []


def test_unknown_rooms_and_viewers_fail_with_a_message():
    result = _run("group_buy", GROUP, [
        {"actor": "lee", "action": "start", "save_room": "g1",
         "expect_view": {"room:nope": {"status": "open"}}},
        {"at": "+1m", "expect_view": {"room:g1": {"status": "open"}}},
        {"actor": "merchant", "subject": "lee", "action": "start",
         "expect": {"error": "not_allowed"}, "expect_view": {"room:g1": {}}},
    ])
    whose = "whose view? a step without a participant actor names the viewer: 'room:g1@NAME'"
    assert result.failures == [
        "steps[0]: expect_view 'room:nope': room 'nope' was never saved",
        f"steps[1]: expect_view 'room:g1': {whose}",
        f"steps[2]: expect_view 'room:g1': {whose}",
    ]


def test_an_unknown_view_scope_fails_the_schema_and_the_runner():
    steps = [{"actor": "amy", "action": "draw", "expect_view": {"activity": {"x": 1}}}]
    schema = _run("lottery", LOTTERY, steps)
    assert schema.failures == ['steps[0].expect_view.activity: "activity" is not a view: use '
                               'public, me:NAME, room:ROOM or room:ROOM@NAME']
    entry = _entry("lottery")
    config, _ = entry.config_validator.validate(LOTTERY)
    direct = run_scenario(entry.compiled, {"title": "t", "config": config, "start": START,
                                           "steps": steps})
    assert direct.failures == ["steps[0]: expect_view 'activity': unknown view: use 'public', "
                               "'me:NAME', 'room:ROOM' or 'room:ROOM@NAME'"]


def test_a_participant_whose_actions_were_all_refused_has_no_state_but_a_view():
    result = _run("lottery", {**LOTTERY, "draws_per_day": 1}, [
        {"actor": "amy", "action": "grant", "params": {"count": 1},
         "expect": {"error": "not_allowed"},
         "expect_state": {"me:amy": {}},
         "expect_view": {"me:amy": {"draws_left_today": 1, "extra_draws": 0, "prizes": []}}},
    ])
    assert result.failures == ["steps[0]: no such state 'me:amy'"]


def _engine_views(engine: Any, aid: str, room: str, viewers: list[Participant]) -> dict:
    # A room view fires the room's due timers first (as a scenario step does), so it goes
    # before the others: the public view alone waits for the worker to fire them.
    views = {f"room:g1@{who.id}": engine.room_view(aid, room, who).body["view"]
             for who in viewers}
    views["public"] = engine.public_view(aid).body["view"]
    views.update({f"me:{who.id}": engine.me_view(aid, who).body["view"] for who in viewers})
    return views


def test_scenario_views_equal_the_engines(tmp_path):
    """The same run through the engine (SQLite) and a scenario: the engine's views, whole,
    are what the scenario's `expect_view` sees."""
    clock = Clock()  # 2026-11-11 10:00 Asia/Shanghai
    engine = make_engine(tmp_path, clock)
    aid = publish(engine, create_merchant(engine), "group_buy", dict(GROUP))
    lee, amy, cat = Participant("lee", "李雷"), Participant("amy", "Amy"), Participant("cat")
    room = engine.act(aid, "start", lee).room
    assert room is not None
    first = _engine_views(engine, aid, room, [lee, cat])
    clock.advance(60)
    assert engine.act(aid, "join", amy, room_id=room).ok
    assert not engine.act(aid, "join", amy, room_id=room).ok
    second = _engine_views(engine, aid, room, [lee, amy, cat])
    clock.advance(3 * 86400)
    third = _engine_views(engine, aid, room, [lee, amy])
    assert third["room:g1@lee"]["status"] == "expired" and first["me:lee"] == {"groups_left": 1}
    result = _run("group_buy", GROUP, [
        {"actor": "lee", "name": "李雷", "action": "start", "save_room": "g1",
         "expect_view": first},
        {"actor": "amy", "name": "Amy", "action": "join", "room": "g1", "at": "+1m"},
        {"actor": "amy", "action": "join", "room": "g1", "expect": {"error": "already_in_group"},
         "expect_view": second},
        {"at": "+3d", "expect_view": third},
    ], start="2026-11-11T10:00:00+08:00")
    assert result.failures == []
