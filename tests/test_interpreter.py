"""The interpreter and each effect, on small inline templates."""

from __future__ import annotations

import copy
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from magic_cube.rules.compiler import CompiledTemplate, cannot_raise, compile_template
from magic_cube.rules.interpreter import (
    DAY_KEY,
    initial_activity_state,
    mask_name,
    render_view,
    run,
    run_in_zone,
)
from magic_cube.rules.jsonlogic.dates import in_zone
from magic_cube.rules.model import Actor, Member, Outcome, Rejection, Room, Snapshot
from magic_cube.rules.rng import Rng
from magic_cube.rules.sim import Simulation


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


NOW = utc("2026-11-11T02:00:00")  # 10:00 in Shanghai


def template(actions: dict[str, Any], state: dict[str, Any] | None = None,
             timers: dict[str, Any] | None = None,
             views: dict[str, Any] | None = None) -> CompiledTemplate:
    doc: dict[str, Any] = {"id": "t", "version": "1.0.0", "state": state or {}, "actions": actions}
    if timers:
        doc["timers"] = timers
    if views:
        doc["views"] = views
    return compile_template(doc)


def one(effects: list[dict[str, Any]], *, state: dict[str, Any] | None = None,
        guards: list[dict[str, Any]] | None = None, result: dict[str, Any] | None = None,
        room: str = "none", params: dict[str, Any] | None = None,
        timers: dict[str, Any] | None = None, **extra: Any) -> CompiledTemplate:
    """A template whose only participant action `act` has these effects."""
    body: dict[str, Any] = {"by": "participant", "room": room, "effects": effects,
                            "guards": guards or [], "result": result or {}, **extra}
    if params is not None:
        body["params"] = params
    actions = {"act": body}
    if timers:
        actions["expire"] = {"by": "timer", "room": "target",
                             "effects": [{"close": {"status": "expired"}}]}
    return template(actions, state, timers)


def snapshot(t: CompiledTemplate, config: dict[str, Any] | None = None, *,
             activity: dict[str, Any] | None = None, me: dict[str, Any] | None = None,
             room: Room | None = None, now: int = NOW, tz: str = "Asia/Shanghai") -> Snapshot:
    config = config or {}
    act = initial_activity_state(t, config, now, tz) if activity is None else activity
    return Snapshot("a1", config, act, me, room, tz)


def perform(t: CompiledTemplate, snap: Snapshot, action: str = "act", *, actor: str = "amy",
            kind: str = "participant", params: dict[str, Any] | None = None, now: int = NOW,
            seed: str = "seed", label: str = "a1/amy/1", new_room_id: str | None = "r1",
            first_time: bool = False) -> Outcome | Rejection:
    return run(t, action, snap, Actor(actor, kind=kind, first_time=first_time), params, now,
               Rng(seed, label), new_room_id=new_room_id)


def accepted(outcome: Outcome | Rejection) -> Outcome:
    assert isinstance(outcome, Outcome), f"refused: {outcome}"
    return outcome


def refused(outcome: Outcome | Rejection, error: str) -> Rejection:
    assert isinstance(outcome, Rejection), f"accepted: {outcome.result}"
    assert outcome.error == error, (outcome.error, outcome.where, outcome.detail)
    return outcome


def open_room(members: list[tuple[str, str]] | None = None, *, capacity: int | None = None,
              state: dict[str, Any] | None = None, status: str = "open",
              timers: dict[str, int] | None = None) -> Room:
    members = members or [("ivy", "Ivy")]
    return Room(id="r1", status=status, initiator=members[0][0], capacity=capacity, opened_at=NOW,
                state=state or {}, timers=timers or {},
                members=[Member(pid, "initiator" if i == 0 else "member", NOW, {}, name)
                         for i, (pid, name) in enumerate(members)])


INT = {"type": "integer", "initial": 0}

# --- set, add ---------------------------------------------------------------------------------


def test_set_writes_the_value_of_an_expression() -> None:
    t = one([{"set": {"path": "activity.n", "value": {"+": [2, 3]}}}],
            state={"activity": {"n": INT}})
    out = accepted(perform(t, snapshot(t)))
    assert out.activity["n"] == 5
    assert out.activity_changed


def test_set_writes_inside_a_declared_array() -> None:
    t = one([{"set": {"path": "activity.stock.1", "value": 9}}],
            state={"activity": {"stock": {"type": "array", "initial": [1, 2, 3]}}})
    assert accepted(perform(t, snapshot(t))).activity["stock"] == [1, 9, 3]


def test_set_on_a_path_that_does_not_exist_is_a_rule_error() -> None:
    t = one([{"set": {"path": "activity.obj.missing.deeper", "value": 1}}],
            state={"activity": {"obj": {"type": "object", "initial": {}}}})
    refused(perform(t, snapshot(t)), "rule_error")


def test_add_within_bounds_is_accepted() -> None:
    t = one([{"add": {"path": "me.n", "value": 2, "min": 0, "max": 5}}],
            state={"participant": {"n": INT}})
    out = accepted(perform(t, snapshot(t, me={"n": 3, DAY_KEY: "2026-11-11"})))
    assert out.participant["n"] == 5


def test_add_below_min_is_refused_with_limit_reached() -> None:
    t = one([{"add": {"path": "activity.stock", "value": -1, "min": 0}}],
            state={"activity": {"stock": INT}})
    refused(perform(t, snapshot(t)), "limit_reached")


def test_add_above_max_is_refused_with_its_own_error_code() -> None:
    t = one([{"add": {"path": "activity.n", "value": 4, "max": {"var": "config.cap"},
                      "error": "too_many"}}],
            state={"activity": {"n": INT}})
    refused(perform(t, snapshot(t, {"cap": 3})), "too_many")
    t2 = one([{"add": {"path": "activity.n", "value": 3, "max": {"var": "config.cap"},
                       "error": "too_many"}}],
             state={"activity": {"n": INT}})
    assert accepted(perform(t2, snapshot(t2, {"cap": 3}))).activity["n"] == 3


@pytest.mark.parametrize(("value", "expected"), [(-10, 0), (10, 5), (2, 3)])
def test_add_with_clamp_keeps_the_result_within_bounds(value: int, expected: int) -> None:
    t = one([{"add": {"path": "activity.n", "value": value, "min": 0, "max": 5, "clamp": True}}],
            state={"activity": {"n": {"type": "integer", "initial": 1}}})
    assert accepted(perform(t, snapshot(t))).activity["n"] == expected


@pytest.mark.parametrize("scope", ["activity", "me"])
@pytest.mark.parametrize(("start", "step", "bounds"), [
    (1, -2, {"min": 0}), (1, -1, {"min": 0}), (4, 2, {"max": 5}), (-3, 1, {"min": None}),
    (1, -9, {"min": 0, "max": 5, "clamp": True}), (1, 9, {"min": 0, "max": 5, "clamp": True}),
    (1.5, -1, {"min": 0}), (None, 1, {"max": 0, "error": "too_many"}),
])
def test_add_within_constant_bounds_does_what_bounds_read_from_the_config_do(
        scope: str, start: Any, step: int, bounds: dict[str, Any]) -> None:
    # (constant bounds take a shorter path: its refusals and sums must be the same)
    read = {key: {"var": f"config.{key}"} if key in ("min", "max") else value
            for key, value in bounds.items()}
    decl = {"type": "number", "initial": 0}
    state = {"activity": {"n": decl}} if scope == "activity" else {"participant": {"n": decl}}
    outcomes = []
    for body in (bounds, read):
        t = one([{"add": {"path": f"{scope}.n", "value": step, **body}}], state=state)
        snap = snapshot(t, {k: v for k, v in bounds.items() if k in ("min", "max")})
        if scope == "activity":
            snap.activity = {**snap.activity, "n": start}
        else:
            snap.participant = {"n": start, DAY_KEY: "2026-11-11"}
        outcomes.append(perform(t, snap))
    constant, from_config = outcomes
    assert type(constant) is type(from_config)
    if isinstance(constant, Rejection):
        assert constant == from_config
    else:
        assert isinstance(from_config, Outcome)
        assert (constant.activity, constant.participant) == \
            (from_config.activity, from_config.participant)


@pytest.mark.parametrize(("declared", "stored", "effect", "ok"), [
    ("integer", 2, {"add": {"path": "me.n", "value": 1}}, True),
    ("string", 2, {"add": {"path": "me.n", "value": 1}}, False),  # (a stored value gone wrong)
    ("integer", 2.5, {"add": {"path": "me.n", "value": 1, "min": 0}}, False),
    ("number", 2.5, {"add": {"path": "me.n", "value": 1}}, True),
    ("integer", 2, {"add": {"path": "me.n", "value": 0.5}}, False),
    ("integer", 2, {"add": {"path": "me.n", "value": {"var": "actor.generation"}}}, True),
    ("integer", 2, {"add": {"path": "me.n", "value": 0.5, "max": 9}}, False),
    ("number", 2, {"add": {"path": "me.n", "value": 0.5, "max": 9}}, True),
    ("string", 2, {"add": {"path": "me.n", "value": {"var": "actor.generation"}}}, False),
    ("string", "a", {"set": {"path": "me.n", "value": 1}}, False),
    ("boolean", False, {"set": {"path": "me.n", "value": True}}, True),
    ("integer", 1, {"set": {"path": "me.n", "value": True}}, False),
    ("null", None, {"set": {"path": "me.n", "value": "x"}}, False),
    ("string", "a", {"set": {"path": "me.n", "value": "b"}}, True),
    ("array", [1], {"append": {"path": "me.n", "value": 2}}, True),
    ("object", {}, {"append": {"path": "me.n", "value": 2}}, False),
])
def test_what_an_effect_writes_is_checked_against_its_declared_type(
        declared: str, stored: Any, effect: dict[str, Any], ok: bool) -> None:
    t = one([effect], state={"participant": {"n": {"type": declared, "initial": None}}})
    outcome = perform(t, snapshot(t, me={"n": stored, DAY_KEY: "2026-11-11"}))
    if ok:
        accepted(outcome)
    else:
        refused(outcome, "rule_error")


def test_add_of_a_non_number_is_a_rule_error() -> None:
    t = one([{"add": {"path": "activity.n", "value": "3"}}], state={"activity": {"n": INT}})
    refused(perform(t, snapshot(t)), "rule_error")


def test_add_to_an_absent_key_starts_from_zero() -> None:
    t = one([{"add": {"path": "activity.counts.x", "value": 2}}],
            state={"activity": {"counts": {"type": "object", "initial": {}}}})
    assert accepted(perform(t, snapshot(t))).activity["counts"] == {"x": 2}


# --- append, let, object ---------------------------------------------------------------------


def test_append_adds_to_the_end_of_an_array() -> None:
    t = one([{"append": {"path": "me.log", "value": {"var": "actor.id"}}},
             {"append": {"path": "me.log", "value": "x"}}],
            state={"participant": {"log": {"type": "array", "initial": ["first"]}}})
    assert accepted(perform(t, snapshot(t))).participant["log"] == ["first", "amy", "x"]


def test_append_to_an_absent_key_creates_the_array() -> None:
    t = one([{"append": {"path": "activity.by.amy", "value": 1}}],
            state={"activity": {"by": {"type": "object", "initial": {}}}})
    assert accepted(perform(t, snapshot(t))).activity["by"] == {"amy": [1]}


def test_append_to_a_non_array_is_a_rule_error() -> None:
    t = one([{"append": {"path": "activity.n", "value": 1}}], state={"activity": {"n": INT}})
    refused(perform(t, snapshot(t)), "rule_error")


def test_let_names_a_local_that_later_effects_and_the_result_read() -> None:
    t = one([{"let": {"name": "twice", "value": {"*": [{"var": "params.n"}, 2]}}},
             {"set": {"path": "activity.n", "value": {"+": [{"var": "local.twice"}, 1]}}}],
            state={"activity": {"n": INT}}, result={"twice": {"var": "local.twice"}})
    out = accepted(perform(t, snapshot(t), params={"n": 4}))
    assert out.result == {"twice": 8}
    assert out.activity["n"] == 9


def test_object_form_builds_objects_for_set_append_and_let() -> None:
    obj = {"who": {"var": "actor.id"}, "at": {"var": "now"}, "n": {"+": [1, 1]}}
    t = one([{"set": {"path": "me.last", "object": obj}},
             {"append": {"path": "me.all", "object": obj}},
             {"let": {"name": "o", "object": obj}}],
            state={"participant": {"last": {"type": "object", "initial": {}},
                                   "all": {"type": "array", "initial": []}}},
            result={"o": {"var": "local.o"}})
    out = accepted(perform(t, snapshot(t)))
    expected = {"who": "amy", "at": NOW, "n": 2}
    assert out.participant["last"] == expected
    assert out.participant["all"] == [expected]
    assert out.result["o"] == expected


# --- rooms ------------------------------------------------------------------------------------

ROOM_TEMPLATE_STATE = {"room": {"goal": {"type": "integer", "initial": {"var": "params.goal"}},
                                "owner": {"type": "string", "initial": {"var": "actor.id"}}}}


def test_create_room_opens_a_room_with_the_actor_as_first_member() -> None:
    t = one([{"create_room": {"capacity": {"+": [{"var": "params.goal"}, 1]}, "role": "leader",
                              "data": {"price": 5}}}],
            state=ROOM_TEMPLATE_STATE,
            result={"room": {"var": "room_info.id"}, "size": {"var": "room_info.size"}})
    out = accepted(perform(t, snapshot(t), params={"goal": 3}, new_room_id="r9"))
    room = out.room.room
    assert out.room.created
    assert out.result == {"room": "r9", "size": 1}
    assert (room.id, room.status, room.initiator, room.capacity) == ("r9", "open", "amy", 4)
    members = [(m.participant, m.role, m.data) for m in room.members]
    assert members == [("amy", "leader", {"price": 5})]
    assert [m.participant for m in out.room.joined] == ["amy"]


def test_initial_room_state_reads_the_params_and_the_actor_of_the_opening_action() -> None:
    t = one([{"create_room": {}}], state=ROOM_TEMPLATE_STATE)
    out = accepted(perform(t, snapshot(t), params={"goal": 7}))
    assert out.room.room.state == {"goal": 7, "owner": "amy"}


def test_a_new_room_s_initial_values_and_timers_read_its_info_and_its_state() -> None:
    # Its room_info (built only for a template whose room setup reads it) and its state
    # (a timer's delay reads what the initial values made).
    t = one([{"create_room": {"capacity": 3}}],
            state={"room": {"label": {"type": "string",
                                      "initial": {"cat": [{"var": "room_info.id"}, "/",
                                                          {"var": "room_info.capacity"}]}},
                            "hours": {"type": "integer", "initial": 2}}},
            timers={"expire": {"after": {"*": [{"var": "room.hours"}, 3600]},
                               "action": "expire"}})
    out = accepted(perform(t, snapshot(t), new_room_id="r7"))
    assert out.room.room.state == {"label": "r7/3", "hours": 2}
    assert out.room.room.timers == {"expire": NOW + 7200}


def test_create_room_schedules_each_timer_after_its_delay() -> None:
    t = one([{"create_room": {}}], state={"room": {}},
            timers={"expire": {"after": {"*": [{"var": "config.hours"}, 3600]},
                               "action": "expire"}},
            result={"expires_at": {"var": "room_info.timers.expire"}})
    out = accepted(perform(t, snapshot(t, {"hours": 2})))
    assert out.room.room.timers == {"expire": NOW + 7200}
    assert out.result["expires_at"] == NOW + 7200


def test_a_timer_delay_that_is_not_a_number_is_a_rule_error() -> None:
    t = one([{"create_room": {}}], state={"room": {}},
            timers={"expire": {"after": {"var": "config.missing"}, "action": "expire"}})
    refused(perform(t, snapshot(t)), "rule_error")


def test_create_room_in_a_target_action_is_a_rule_error() -> None:
    t = one([{"create_room": {}}], room="target")
    refused(perform(t, snapshot(t, room=open_room())), "rule_error")


def test_join_adds_the_actor_with_role_and_data() -> None:
    t = one([{"join": {"role": "helper", "data": {"n": {"var": "params.n"}}}}], room="target",
            result={"size": {"var": "room_info.size"}, "me": {"var": "room_info.is_member"}})
    out = accepted(perform(t, snapshot(t, room=open_room(capacity=3)), params={"n": 1}))
    assert out.result == {"size": 2, "me": True}
    members = [(m.participant, m.role, m.data) for m in out.room.room.members]
    assert members[1] == ("amy", "helper", {"n": 1})
    assert [m.participant for m in out.room.joined] == ["amy"]


def test_join_on_full_room_is_refused_with_room_full() -> None:
    t = one([{"join": {}}], room="target")
    full = open_room([("ivy", "Ivy"), ("bo", "Bo")], capacity=2)
    refused(perform(t, snapshot(t, room=full)), "room_full")


def test_join_on_full_room_is_refused_with_the_templates_own_code() -> None:
    t = one([{"join": {"full_error": "group_full"}}], room="target")
    refused(perform(t, snapshot(t, room=open_room(capacity=1))), "group_full")


def test_join_twice_is_refused_with_already_joined() -> None:
    t = one([{"join": {}}], room="target")
    room = open_room([("ivy", "Ivy"), ("amy", "Amy")], capacity=5)
    refused(perform(t, snapshot(t, room=room)), "already_joined")
    t2 = one([{"join": {"twice_error": "already_helped"}}], room="target")
    refused(perform(t2, snapshot(t2, room=room)), "already_helped")


def test_join_without_capacity_is_never_full() -> None:
    t = one([{"join": {}}], room="target")
    room = open_room([(f"p{i}", "") for i in range(50)])
    assert len(accepted(perform(t, snapshot(t, room=room))).room.room.members) == 51


def test_close_sets_the_status_and_cancels_pending_timers() -> None:
    t = one([{"close": {"status": "succeeded"}}], room="target",
            result={"status": {"var": "room_info.status"}, "timers": {"var": "room_info.timers"}})
    room = open_room(timers={"expire": NOW + 60, "remind": NOW + 30})
    out = accepted(perform(t, snapshot(t, room=room)))
    assert out.room.room.status == "succeeded"
    assert out.room.room.timers == {}
    assert out.room.room.closed_at == NOW
    assert out.room.status_changed
    assert out.result == {"status": "succeeded", "timers": {}}


def test_schedule_moves_a_room_timer() -> None:
    t = one([{"schedule": {"timer": "expire", "at": {"+": [{"var": "now"}, 10]}}}], room="target")
    out = accepted(perform(t, snapshot(t, room=open_room(timers={"expire": NOW + 3600}))))
    assert out.room is not None
    assert out.room.room.timers == {"expire": NOW + 10}


def test_schedule_without_a_room_is_refused() -> None:
    t = one([{"schedule": {"timer": "expire", "at": 1}}])
    refused(perform(t, snapshot(t)), "room_required")


# --- draw -------------------------------------------------------------------------------------

DRAW_STATE = {"activity": {"stock": {
    "type": "array", "initial": {"map": [{"var": "config.prizes"}, {"var": "stock"}]},
}}}


def draw_template(**draw: Any) -> CompiledTemplate:
    body = {"items": {"var": "config.prizes"}, "weight": "w", "stock": "activity.stock", "as": "p",
            **draw}
    return one([{"draw": body}], state=DRAW_STATE,
               result={"index": {"var": "local.p.index"}, "hit": {"var": "local.p.hit"},
                       "name": {"var": "local.p.name"}})


def draw_many(t: CompiledTemplate, prizes: list[dict[str, Any]], n: int,
              seed: str = "draws") -> Counter:
    snap = snapshot(t, {"prizes": prizes})
    counts: Counter = Counter()
    for i in range(n):
        counts[accepted(perform(t, snap, seed=seed, label=f"a1/p{i}/{i}")).result["index"]] += 1
    return counts


def test_draw_follows_the_weights_of_the_items() -> None:
    prizes = [{"name": "a", "w": 1, "stock": 10**6}, {"name": "b", "w": 3, "stock": 10**6}]
    counts = draw_many(draw_template(), prizes, 4000)
    assert set(counts) == {0, 1}
    assert 0.21 < counts[0] / 4000 < 0.29


def test_draw_out_of_leaves_the_rest_of_the_scale_as_a_miss() -> None:
    prizes = [{"name": "a", "w": 2, "stock": 10**6}]
    t = draw_template(out_of=10, miss={"name": "none", "kind": "miss"})
    counts = draw_many(t, prizes, 3000)
    assert set(counts) == {0, -1}
    assert 0.16 < counts[0] / 3000 < 0.24


def test_draw_decrements_stock_and_never_below_zero() -> None:
    t = draw_template(out_of=100)
    prizes = [{"name": "sure", "w": 100, "stock": 1}]
    first = accepted(perform(t, snapshot(t, {"prizes": prizes})))
    assert (first.result["hit"], first.activity["stock"]) == (True, [0])
    again = snapshot(t, {"prizes": prizes}, activity=first.activity)
    second = accepted(perform(t, again, label="x"))
    assert (second.result["index"], second.result["hit"]) == (-1, False)
    assert second.activity["stock"] == [0]


def test_draw_of_an_item_out_of_stock_gives_the_miss_object() -> None:
    t = draw_template(out_of=100, miss={"name": "Thanks", "kind": "miss"})
    prizes = [{"name": "sure", "w": 100, "stock": 0}]
    out = accepted(perform(t, snapshot(t, {"prizes": prizes})))
    assert out.result == {"index": -1, "hit": False, "name": "Thanks"}
    assert out.activity["stock"] == [0]
    assert not out.activity_changed


def test_guarantee_draws_only_among_weighted_items_in_stock() -> None:
    t = draw_template(out_of=10000, guarantee=True)
    prizes = [{"name": "rare", "w": 1, "stock": 10**6}, {"name": "gone", "w": 9000, "stock": 0},
              {"name": "never", "w": 0, "stock": 10**6}, {"name": "common", "w": 3, "stock": 10**6}]
    counts = draw_many(t, prizes, 800)
    assert set(counts) == {0, 3}
    assert counts[3] > counts[0]


def test_guarantee_with_nothing_in_stock_misses() -> None:
    t = draw_template(out_of=10000, guarantee=True)
    prizes = [{"name": "gone", "w": 5, "stock": 0}, {"name": "never", "w": 0, "stock": 5}]
    assert set(draw_many(t, prizes, 50)) == {-1}


def test_zero_weight_items_are_never_drawn() -> None:
    prizes = [{"name": "never", "w": 0, "stock": 10**6}, {"name": "x", "w": 1, "stock": 10**6},
              {"name": "never2", "w": 0, "stock": 10**6}]
    assert set(draw_many(draw_template(), prizes, 500)) == {1}
    assert set(draw_many(draw_template(out_of=2), prizes, 500)) == {1, -1}


def test_draw_with_a_stock_list_of_the_wrong_length_is_a_rule_error() -> None:
    t = draw_template()
    snap = snapshot(t, {"prizes": [{"name": "a", "w": 1, "stock": 1}]}, activity={"stock": [1, 2]})
    refused(perform(t, snap), "rule_error")


def test_draw_records_its_random_numbers_for_the_audit() -> None:
    t = draw_template(out_of=10000)
    out = accepted(perform(t, snapshot(t, {"prizes": [{"name": "a", "w": 5000, "stock": 9}]})))
    assert len(out.random) == 1 and out.random[0][0] == 10000


# --- split ------------------------------------------------------------------------------------


def split_template() -> CompiledTemplate:
    return one([{"split": {"total": {"var": "params.total"}, "parts": {"var": "params.parts"},
                           "min": {"var": "params.min"}, "max": {"var": "params.max"}, "as": "x"}}],
               result={"x": {"var": "local.x"}})


def test_split_returns_a_part_within_bounds_that_leaves_a_feasible_rest() -> None:
    t = split_template()
    total, parts, lo, hi = 100, 4, 10, 40
    seen = set()
    for i in range(300):
        params = {"total": total, "parts": parts, "min": lo, "max": hi}
        x = accepted(perform(t, snapshot(t), params=params, label=f"s/{i}")).result["x"]
        rest = total - x
        assert lo <= x <= hi
        assert (parts - 1) * lo <= rest <= (parts - 1) * hi
        seen.add(x)
    assert len(seen) > 10  # random, not constant


def test_split_of_the_last_part_takes_the_whole_rest() -> None:
    t = split_template()
    out = perform(t, snapshot(t), params={"total": 37, "parts": 1, "min": 1, "max": 100})
    assert accepted(out).result["x"] == 37
    assert accepted(out).random == []  # nothing left to choose


def test_split_with_one_possible_value_takes_it() -> None:
    t = split_template()
    out = perform(t, snapshot(t), params={"total": 30, "parts": 3, "min": 10, "max": 20})
    assert 10 <= accepted(out).result["x"] <= 20
    out = perform(t, snapshot(t), params={"total": 60, "parts": 3, "min": 10, "max": 20})
    assert accepted(out).result["x"] == 20


@pytest.mark.parametrize(("total", "parts", "lo", "hi"),
                         [(10, 3, 4, 10), (100, 3, 1, 30), (5, 0, 0, 5), (-1, 1, 0, 5)])
def test_split_without_a_solution_is_a_rule_error(total: int, parts: int, lo: int, hi: int) -> None:
    t = split_template()
    params = {"total": total, "parts": parts, "min": lo, "max": hi}
    refused(perform(t, snapshot(t), params=params), "rule_error")


# --- emit, if, each, reject ----------------------------------------------------------------------


def test_emit_records_events_in_order_with_their_data() -> None:
    t = one([{"emit": {"event": "a.one", "data": {"who": {"var": "actor.id"}}}},
             {"emit": {"event": "a.two"}}])
    out = accepted(perform(t, snapshot(t)))
    assert [e.as_dict() for e in out.events] == [{"type": "a.one", "data": {"who": "amy"}},
                                                 {"type": "a.two", "data": {}}]


@pytest.mark.parametrize(("flag", "branch"), [(True, "then"), (False, "else")])
def test_if_runs_then_or_else(flag: bool, branch: str) -> None:
    t = one([{"if": {"rule": {"var": "params.flag"},
                     "then": [{"emit": {"event": "then"}}],
                     "else": [{"emit": {"event": "else"}}]}}])
    out = accepted(perform(t, snapshot(t), params={"flag": flag}))
    assert [e.type for e in out.events] == [branch]


def test_if_without_else_does_nothing_when_false() -> None:
    t = one([{"if": {"rule": False, "then": [{"emit": {"event": "x"}}]}}])
    assert accepted(perform(t, snapshot(t))).events == []


def test_each_runs_its_effects_once_per_item() -> None:
    t = one([{"each": {"in": {"var": "params.items"}, "as": "it",
                       "do": [{"add": {"path": "activity.n", "value": {"var": "local.it"}}},
                              {"emit": {"event": "item", "data": {"v": {"var": "local.it"}}}}]}}],
            state={"activity": {"n": INT}})
    out = accepted(perform(t, snapshot(t), params={"items": [1, 2, 3]}))
    assert out.activity["n"] == 6
    assert [e.data["v"] for e in out.events] == [1, 2, 3]


def test_each_over_a_non_array_does_nothing() -> None:
    t = one([{"each": {"in": 5, "as": "it", "do": [{"emit": {"event": "x"}}]}}])
    assert accepted(perform(t, snapshot(t))).events == []


def test_reject_refuses_with_its_code_after_earlier_effects() -> None:
    t = one([{"add": {"path": "activity.n", "value": 1}},
             {"if": {"rule": {">": [{"var": "activity.n"}, 0]},
                     "then": [{"reject": {"error": "nope"}}]}}],
            state={"activity": {"n": INT}})
    out = refused(perform(t, snapshot(t)), "nope")
    assert out.where.endswith(".reject")


# --- guards and refusals -----------------------------------------------------------------------


def test_guards_stop_at_the_first_false_rule() -> None:
    t = one([], guards=[{"rule": True, "error": "first"},
                        {"rule": {"var": "params.ok"}, "error": "second"},
                        {"rule": False, "error": "third"}])
    out = refused(perform(t, snapshot(t), params={"ok": False}), "second")
    assert out.where == "guards[1]"
    refused(perform(t, snapshot(t), params={"ok": True}), "third")


def test_guards_are_checked_before_any_effect() -> None:
    t = one([{"emit": {"event": "x"}}, {"reject": {"error": "effect"}}],
            guards=[{"rule": False, "error": "guard"}])
    refused(perform(t, snapshot(t)), "guard")


def test_a_refused_action_leaves_the_snapshot_untouched() -> None:
    t = one([{"add": {"path": "activity.n", "value": 1}},
             {"append": {"path": "activity.log", "value": "x"}},
             {"set": {"path": "activity.obj.k", "value": 2}},
             {"add": {"path": "me.n", "value": 1}},
             {"set": {"path": "room.v", "value": 9}},
             {"join": {}},
             {"schedule": {"timer": "expire", "at": 5}},
             {"close": {"status": "succeeded"}},
             {"reject": {"error": "late"}}],
            room="target",
            state={"activity": {"n": INT, "log": {"type": "array", "initial": []},
                                "obj": {"type": "object", "initial": {}}},
                   "participant": {"n": INT}, "room": {"v": INT}})
    snap = snapshot(t, {"c": 1}, me={"n": 1, DAY_KEY: "2026-11-11"},
                    room=open_room(state={"v": 1}, capacity=4, timers={"expire": NOW + 99}))
    before = copy.deepcopy(snap)
    refused(perform(t, snap), "late")
    assert snap == before


def test_an_accepted_action_does_not_mutate_the_snapshot_in_place() -> None:
    t = one([{"add": {"path": "activity.n", "value": 1}},
             {"append": {"path": "activity.log", "value": 1}},
             {"join": {}}, {"set": {"path": "room.v", "value": 2}},
             {"close": {"status": "failed"}}],
            room="target",
            state={"activity": {"n": INT, "log": {"type": "array", "initial": []}},
                   "room": {"v": INT}})
    snap = snapshot(t, room=open_room(state={"v": 1}, timers={"expire": NOW + 5}))
    before = copy.deepcopy(snap)
    out = accepted(perform(t, snap))
    assert snap == before
    assert out.activity["n"] == 1 and out.room.room.status == "failed"


def test_a_new_participant_gets_the_initial_state() -> None:
    t = one([], state={"participant": {"n": {"type": "integer",
                                             "initial": {"var": "config.start"}}}})
    out = accepted(perform(t, snapshot(t, {"start": 4})))
    assert out.participant == {"n": 4, DAY_KEY: "2026-11-11"}


# --- types --------------------------------------------------------------------------------------


@pytest.mark.parametrize("effect", [
    {"set": {"path": "activity.n", "value": 1.5}},
    {"add": {"path": "activity.n", "value": 0.5}},
    {"set": {"path": "activity.n", "value": {"/": [1, 3]}}},
])
def test_integer_state_never_accepts_a_fraction(effect: dict[str, Any]) -> None:
    t = one([effect], state={"activity": {"n": INT}})
    refused(perform(t, snapshot(t)), "rule_error")


def test_integer_state_turns_an_integral_float_into_an_int() -> None:
    t = one([{"set": {"path": "activity.n", "value": {"/": [10, 2]}}},
             {"add": {"path": "me.n", "value": 2.0}}],
            state={"activity": {"n": INT}, "participant": {"n": INT}})
    out = accepted(perform(t, snapshot(t)))
    assert out.activity["n"] == 5 and type(out.activity["n"]) is int
    assert out.participant["n"] == 2 and type(out.participant["n"]) is int


@pytest.mark.parametrize(("decl", "value"), [
    ("integer", True), ("number", "1"), ("string", 1), ("boolean", 0), ("array", {}),
    ("object", []),
])
def test_a_write_of_the_wrong_type_is_a_rule_error(decl: str, value: Any) -> None:
    initials = {"integer": 0, "number": 0, "string": "", "boolean": False, "array": [],
                "object": {}}
    initial = initials[decl]
    t = one([{"set": {"path": "room.v", "value": value}}], room="target",
            state={"room": {"v": {"type": decl, "initial": initial}}})
    refused(perform(t, snapshot(t, room=open_room(state={"v": initial}))), "rule_error")


def test_a_fractional_initial_value_of_an_integer_is_a_rule_error() -> None:
    t = one([], state={"participant": {"n": {"type": "integer", "initial": 0.5}}})
    refused(perform(t, snapshot(t)), "rule_error")


# --- daily reset ------------------------------------------------------------------------------

DAILY = {"participant": {"today": {"type": "integer", "initial": 0, "reset": "daily"},
                         "total": INT},
         "activity": {"today": {"type": "integer", "initial": 0, "reset": "daily"}}}


def daily_template() -> CompiledTemplate:
    return one([{"add": {"path": "me.today", "value": 1, "max": 2, "error": "daily_limit"}},
                {"add": {"path": "me.total", "value": 1}},
                {"add": {"path": "activity.today", "value": 1}}], state=DAILY)


@pytest.mark.parametrize(("tz", "last_second", "day_before", "new_day"), [
    ("Asia/Shanghai", "2026-11-11T15:59:59", "2026-11-11", "2026-11-12"),
    # spring forward: the local day of 8 March has 23 hours, midnight is 04:00 UTC (EDT)
    ("America/New_York", "2026-03-09T03:59:59", "2026-03-08", "2026-03-09"),
    # fall back: the local day of 1 November has 25 hours, midnight is 05:00 UTC (EST)
    ("America/New_York", "2026-11-02T04:59:59", "2026-11-01", "2026-11-02"),
])
def test_daily_variables_reset_at_the_activitys_local_midnight(
        tz: str, last_second: str, day_before: str, new_day: str) -> None:
    t = daily_template()
    end = utc(last_second)
    me = {"today": 2, "total": 2, DAY_KEY: day_before}
    activity = {"today": 7, DAY_KEY: day_before}
    refused(perform(t, snapshot(t, activity=activity, me=me, tz=tz), now=end), "daily_limit")
    out = accepted(perform(t, snapshot(t, activity=activity, me=me, tz=tz), now=end + 1))
    assert out.participant == {"today": 1, "total": 3, DAY_KEY: new_day}
    assert out.activity == {"today": 1, DAY_KEY: new_day}


def test_shanghai_day_turns_at_1600_utc() -> None:
    t = daily_template()
    me = {"today": 1, "total": 1, DAY_KEY: "2026-11-11"}
    same_day = accepted(perform(t, snapshot(t, me=me), now=utc("2026-11-11T00:00:00")))
    assert same_day.participant["today"] == 2  # 08:00 in Shanghai, still 11 November
    prev = {"today": 2, "total": 2, DAY_KEY: "2026-11-10"}
    out = accepted(perform(t, snapshot(t, me=prev), now=utc("2026-11-10T16:00:00")))
    assert out.participant["today"] == 1


# --- who may act, params, rooms -------------------------------------------------------------------

ROLES = {
    "p": {"by": "participant"},
    "m": {"by": "merchant"},
    "tick": {"by": "timer", "room": "target"},
}


@pytest.mark.parametrize(("action", "kind"), [("p", "merchant"), ("p", "timer"),
                                              ("m", "participant"), ("tick", "participant"),
                                              ("tick", "merchant")])
def test_an_action_by_the_wrong_kind_of_caller_is_not_allowed(action: str, kind: str) -> None:
    t = template(ROLES)
    refused(perform(t, snapshot(t, room=open_room()), action, kind=kind), "not_allowed")


@pytest.mark.parametrize(("action", "kind"),
                         [("p", "participant"), ("m", "merchant"), ("tick", "timer")])
def test_an_action_by_the_right_kind_of_caller_is_accepted(action: str, kind: str) -> None:
    t = template(ROLES)
    accepted(perform(t, snapshot(t, room=open_room()), action, kind=kind))


def test_an_unknown_action_is_refused() -> None:
    t = template(ROLES)
    refused(perform(t, snapshot(t), "nope"), "unknown_action")


@pytest.mark.parametrize("params", [{"count": "3"}, {"count": 0}, {}, {"count": 1, "extra": 1}])
def test_params_that_do_not_match_the_schema_are_invalid_params(params: dict[str, Any]) -> None:
    t = one([{"emit": {"event": "x"}}],
            params={"type": "object", "required": ["count"], "additionalProperties": False,
                    "properties": {"count": {"type": "integer", "minimum": 1}}})
    out = refused(perform(t, snapshot(t), params=params), "invalid_params")
    assert out.where.startswith("params")


def test_invalid_params_names_the_offending_field() -> None:
    t = one([], params={"type": "object", "properties": {"count": {"type": "integer"}}})
    out = refused(perform(t, snapshot(t), params={"count": "x"}), "invalid_params")
    assert out.where == "params.count"


def test_a_target_action_without_a_room_is_refused_with_room_required() -> None:
    t = one([], room="target")
    refused(perform(t, snapshot(t)), "room_required")


@pytest.mark.parametrize("status", ["succeeded", "failed", "expired"])
def test_a_target_action_on_a_closed_room_is_refused_with_room_closed(status: str) -> None:
    t = one([{"emit": {"event": "x"}}], room="target")
    refused(perform(t, snapshot(t, room=open_room(status=status))), "room_closed")


def test_room_status_lists_the_statuses_an_action_accepts() -> None:
    t = one([{"emit": {"event": "x"}}], room="target", room_status=["open", "succeeded"])
    accepted(perform(t, snapshot(t, room=open_room(status="succeeded"))))
    refused(perform(t, snapshot(t, room=open_room(status="expired"))), "room_closed")


def test_actor_flags_are_readable_by_guards() -> None:
    t = one([], guards=[{"rule": {"var": "actor.first_time"}, "error": "not_new"}])
    refused(perform(t, snapshot(t), first_time=False), "not_new")
    accepted(perform(t, snapshot(t), first_time=True))


# --- views ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "masked"), [("张三", "张*"), ("欧阳娜娜", "欧***"),
                                              ("alice", "a***"), ("a", "a*"), ("", "*"),
                                              ("Bo", "B***")])
def test_mask_name_keeps_only_the_first_character(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def view_template() -> CompiledTemplate:
    return template({"act": {"by": "participant"}},
                    state={"participant": {"n": {"type": "integer", "initial": 0,
                                                 "reset": "daily"}},
                           "room": {"v": INT}},
                    views={"room": {"members": {"var": "room_info.members"},
                                    "initiator": {"var": "room_info.initiator"},
                                    "is_member": {"var": "room_info.is_member"},
                                    "v": {"var": "room.v"}},
                           "me": {"n": {"var": "me.n"}},
                           "activity": {"x": {"var": "config.x"}}})


def test_room_view_masks_member_names_and_hides_other_participants_ids() -> None:
    t = view_template()
    room = open_room([("uid-alice-1001", "Alice"), ("uid-zhang-2002", "张三"),
                      ("uid-bob-3003", "")], state={"v": 4})
    snap = snapshot(t, {"x": 1}, room=room)
    view = render_view(t, "room", snap, Actor("uid-zhang-2002"), NOW)
    assert [(m["name"], m["is_me"], m["role"]) for m in view["members"]] == [
        ("A***", False, "initiator"), ("张*", True, "member"), ("u***", False, "member")]
    assert view["initiator"] == "A***"
    assert (view["is_member"], view["v"]) == (True, 4)
    dumped = json.dumps(view, ensure_ascii=False)
    for pid in ("uid-alice-1001", "uid-bob-3003", "uid-zhang-2002"):
        assert pid not in dumped
    assert all("participant" not in m for m in view["members"])


def test_me_view_shows_todays_values_without_changing_the_snapshot() -> None:
    t = view_template()
    me = {"n": 5, DAY_KEY: "2026-11-10"}
    snap = snapshot(t, me=me)
    before = copy.deepcopy(snap)
    assert render_view(t, "me", snap, Actor("amy"), NOW) == {"n": 0}
    assert snap == before
    today = snapshot(t, me={"n": 5, DAY_KEY: "2026-11-11"})
    assert render_view(t, "me", today, Actor("amy"), NOW) == {"n": 5}
    assert render_view(t, "me", snapshot(t), Actor("new"), NOW) == {"n": 0}


def test_activity_view_reads_only_what_the_template_lists() -> None:
    t = view_template()
    snap = snapshot(t, {"x": 3, "secret": 4})
    assert render_view(t, "activity", snap, Actor("amy"), NOW) == {"x": 3}


def test_activity_view_shows_daily_activity_values_reset_on_a_new_day() -> None:
    t = template({"act": {"by": "participant"}},
                 state={"activity": {"today": {"type": "integer", "initial": 0, "reset": "daily"}}},
                 views={"activity": {"today": {"var": "activity.today"}}})
    snap = snapshot(t, activity={"today": 9, DAY_KEY: "2026-11-10"})
    assert render_view(t, "activity", snap, Actor("amy"), NOW) == {"today": 0}


def _built_in(template_id: str) -> CompiledTemplate:
    root = Path(__file__).resolve().parents[1]
    path = root / "activity_templates" / template_id / "template.json"
    return compile_template(json.loads(path.read_text(encoding="utf-8")))


BUILT_IN_RUNS: dict[str, tuple[dict[str, Any], list[tuple[str, str, dict[str, Any]]]]] = {
    "bargain": ({"product_name": "P", "original_price": 1000, "floor_price": 100,
                 "helpers_needed": 3, "cut_min": 100, "cut_max": 500, "stock": 3,
                 "time_limit_hours": 24, "launches_per_participant": 1, "helps_per_day": 3,
                 "new_participants_only": False, "buy_before_floor": False},
                [("start", "uid-0001", {}), ("help", "uid-0002", {}), ("help", "uid-0003", {})]),
    "group_buy": ({"product_name": "P", "original_price": 1000, "group_price": 500, "group_size": 4,
                   "stock": 9, "expiry_hours": 24, "groups_per_participant": 1,
                   "virtual_completion": False, "virtual_min_percent": 80},
                  [("start", "uid-0001", {}), ("join", "uid-0002", {}), ("join", "uid-0003", {})]),
    "gift": ({"gift_name": "G", "mode": "amount", "split": "random", "max_shares": 10,
              "min_share": 1, "max_amount": 20000, "expiry_hours": 24, "receive_per_day": 5,
              "sends_per_day": 3},
             [("send", "uid-0001", {"shares": 3, "amount": 300}), ("claim", "uid-0002", {}),
              ("claim", "uid-0003", {})]),
}


@pytest.mark.parametrize("template_id", sorted(BUILT_IN_RUNS))
def test_built_in_views_never_show_other_participants_ids(template_id: str) -> None:
    config, moves = BUILT_IN_RUNS[template_id]
    sim = Simulation(_built_in(template_id), config, NOW)
    room = None
    for action, who, params in moves:
        out = accepted(sim.act(who, action, params, room=room, display_name=f"Name{who[-1]}"))
        room = room or out.room.room.id
    everyone = {"uid-0001", "uid-0002", "uid-0003"}
    for viewer in sorted(everyone | {"uid-9999"}):
        for scope in ("activity", "room", "me"):
            shown = json.dumps(sim.view(scope, viewer, room=room), ensure_ascii=False)
            leaked = {pid for pid in everyone - {viewer} if pid in shown}
            assert not leaked, f"{scope} view of {viewer} shows {leaked}: {shown}"


@pytest.mark.parametrize(("rule", "pure"), [
    ({"var": "room.price"}, True), ({"var": ["params.reason", ""]}, True), (3, True),
    ({"if": [{"var": "local.hit"}, {"var": "local.name"}, "none"]}, True),
    ({"!": {"var": "me.done"}}, True), ([{"var": "a"}, 1], True),
    ({"-": [{"var": "a"}, 1]}, False), ({"var": {"cat": ["a", "b"]}}, False),
    ({"==": [{"var": "a"}, 1]}, False), ({"def": "x"}, False),
])
def test_a_result_of_reads_and_ifs_is_known_never_to_raise(rule: Any, pure: bool) -> None:
    assert cannot_raise(rule) is pure


def test_an_outcome_without_its_result_is_otherwise_the_same() -> None:
    for result, kept in (({"n": {"var": "activity.n"}}, False),
                         ({"n": {"+": [{"var": "activity.n"}, 1]}}, True)):
        t = one([{"add": {"path": "activity.n", "value": 2}}], result=result,
                state={"activity": {"n": INT}})
        full = accepted(perform(t, snapshot(t)))
        with in_zone("Asia/Shanghai"):
            bare = accepted(run_in_zone(t, "act", snapshot(t), Actor("amy"), None, NOW,
                                        Rng("seed", "a1/amy/1"), "r1", with_result=False))
        assert bare.result == (full.result if kept else {})
        bare.result = full.result
        assert bare == full


def test_the_values_an_action_takes_and_gives_copy_and_pickle_on_either_build() -> None:
    import pickle

    room = Room("r1", "open", "amy", 3, NOW, {"left": [1, 2]},
                [Member("amy", "leader", NOW, {"price": 5})], {"expire": NOW + 60})
    snap = Snapshot("a1", {"n": 1}, {"stock": [3]}, {"draws": 1}, room, "UTC")
    copied = copy.deepcopy(snap)
    assert copied == snap
    assert copied.room is not None and copied.room.members[0].data is not room.members[0].data
    t = one([{"create_room": {}}], state=ROOM_TEMPLATE_STATE)
    out = accepted(perform(t, snapshot(t), params={"goal": 2}))
    again = pickle.loads(pickle.dumps(out))
    assert again == out and again.ok and again.room is not None
    refusal = Rejection("no", "guards[0]", "why")
    assert copy.deepcopy(refusal) == refusal and not refusal.ok
    assert pickle.loads(pickle.dumps(Actor("amy", first_time=True))) == Actor("amy",
                                                                               first_time=True)
