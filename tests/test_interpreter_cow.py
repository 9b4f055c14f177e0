"""Copy-on-write: an action copies a scope only when it writes it, yet the snapshot it was given
is never changed, and values shared inside one action behave as if every scope were copied."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from magic_cube.rules.compiler import CompiledTemplate, compile_template
from magic_cube.rules.interpreter import run
from magic_cube.rules.model import Actor, Member, Outcome, Rejection, Room, Snapshot
from magic_cube.rules.rng import Rng

NOW = int(datetime(2026, 11, 11, 2, tzinfo=UTC).timestamp())
TODAY = "2026-11-11"

STATE = {
    "activity": {"n": {"type": "integer", "initial": 0},
                 "list": {"type": "array", "initial": []},
                 "copy": {"type": "array", "initial": []},
                 "stock": {"type": "array", "initial": [5, 5]},
                 "m": {"type": "map", "values": "integer", "initial": {}},
                 "prizes": {"type": "array", "initial": []}},
    "participant": {"n": {"type": "integer", "initial": 0},
                    "x": {"type": "array", "initial": []},
                    "o": {"type": "object", "initial": {}}},
    "room": {"items": {"type": "array", "initial": []},
             "n": {"type": "integer", "initial": 0}},
}


def template(effects: list[dict[str, Any]], room: str = "target") -> CompiledTemplate:
    return compile_template({"id": "t", "version": "1.0.0", "state": STATE, "actions": {
        "act": {"by": "participant", "room": room, "effects": effects}}})


def snapshot() -> Snapshot:
    others = {"bob": {"n": 1, "x": [[1]], "o": {"k": [2]}, "$day": TODAY}}
    room = Room("r1", "open", "zed", 5, NOW - 60, {"items": [[1], [2]], "n": 1},
                [Member("zed", "initiator", NOW - 60, {"tags": ["a"]}, "Zed")],
                {"expire": NOW + 3600})
    prizes = [{"name": "P", "weight": 1, "tags": ["t"]}, {"name": "Q", "weight": 0}]
    return Snapshot("a1", {},
                    {"n": 1, "list": [[1], [2]], "copy": [], "stock": [5, 5], "m": {"a": 1},
                     "prizes": prizes, "$day": TODAY},
                    {"n": 1, "x": [[9]], "o": {"k": [3]}, "$day": TODAY}, room,
                    participants=others.get)


def act(tpl: CompiledTemplate, snap: Snapshot) -> Outcome | Rejection:
    return run(tpl, "act", snap, Actor("ann"), {}, NOW, Rng("seed", "a1/ann/1"),
               new_room_id="r2")


def frozen(snap: Snapshot) -> Any:
    room = snap.room
    assert room is not None
    return copy.deepcopy([snap.activity, snap.participant, snap.participants("bob"),
                          room.state, room.timers, room.status, room.closed_at,
                          [(m.participant, m.role, m.data) for m in room.members]])


WRITES: dict[str, list[dict[str, Any]]] = {
    "set nested": [{"set": {"path": "activity.list.0", "value": [7]}},
                   {"set": {"path": "me.o.k", "value": 1}}],
    "add with a key": [{"add": {"path": "activity.m", "key": "a", "value": 1}},
                       {"add": {"path": "activity.stock", "key": 1, "value": -1}}],
    "append in place": [{"append": {"path": "activity.list.0", "value": 3}},
                        {"append": {"path": "me.x.0", "value": 3}},
                        {"append": {"path": "room.items.1", "value": 3}}],
    "remove": [{"remove": {"path": "activity.m", "key": "a"}},
               {"remove": {"path": "me.x", "value": [9]}}],
    "draw from stock": [{"draw": {"items": {"var": "activity.prizes"}, "out_of": 1,
                                  "stock": "activity.stock", "as": "won"}},
                        {"append": {"path": "local.won.tags", "value": "x"}}],
    "room": [{"join": {"data": {"tags": {"var": "room_info.members.0.data.tags"}}}},
             {"schedule": {"timer": "later", "at": 5}},
             {"close": {"status": "succeeded"}}],
    "with": [{"with": {"participant": "bob", "do": [
        {"append": {"path": "them.x.0", "value": 4}}, {"add": {"path": "them.n", "value": 1}}]}},
        {"with": {"participant": "ann", "do": [{"append": {"path": "them.x.0", "value": 4}}]}}],
    "aliases": [{"let": {"name": "l", "value": {"var": "activity.list"}}},
                {"append": {"path": "local.l.0", "value": 8}},
                {"set": {"path": "me.x", "value": {"var": "room.items"}}},
                {"append": {"path": "me.x.0", "value": 8}},
                {"each": {"in": {"var": "me.x"}, "as": "i",
                          "do": [{"append": {"path": "local.i", "value": 8}}]}}],
}


@pytest.mark.parametrize("name", sorted(WRITES))
@pytest.mark.parametrize("refused", [False, True])
def test_the_snapshot_is_never_changed(name: str, refused: bool) -> None:
    effects = WRITES[name] + ([{"reject": {"error": "no"}}] if refused else [])
    snap = snapshot()
    before = frozen(snap)
    out = act(template(effects), snap)
    assert out.ok is not refused, out
    assert frozen(snap) == before


def test_a_value_written_twice_by_name_is_still_one_value() -> None:
    """`a` and `b` hold the same array inside the action, as when everything was copied first:
    appending to one shows in the other, and the stored activity is untouched."""
    snap = snapshot()
    out = act(template([{"set": {"path": "activity.copy", "value": {"var": "activity.list"}}},
                        {"append": {"path": "activity.copy", "value": [3]}}]), snap)
    assert isinstance(out, Outcome)
    assert out.activity["copy"] == out.activity["list"] == [[1], [2], [3]]
    assert snap.activity["list"] == [[1], [2]]


def test_values_shared_across_scopes_and_events_behave_as_copies() -> None:
    snap = snapshot()
    out = act(template([{"emit": {"event": "e", "data": {"l": {"var": "activity.list"}}}},
                        {"set": {"path": "me.x", "value": {"var": "activity.list"}}},
                        {"append": {"path": "me.x", "value": [4]}},
                        {"append": {"path": "room.items.0", "value": 5}}]), snap)
    assert isinstance(out, Outcome)
    assert out.activity["list"] == out.participant["x"] == [[1], [2], [4]]
    assert out.events[0].data == {"l": [[1], [2], [4]]}
    assert out.room is not None and out.room.room.state["items"] == [[1, 5], [2]]
    assert snap.activity["list"] == [[1], [2]] and snap.participant == {
        "n": 1, "x": [[9]], "o": {"k": [3]}, "$day": TODAY}
    assert snap.room is not None and snap.room.state["items"] == [[1], [2]]


def test_a_drawn_item_is_the_item_of_the_copies() -> None:
    snap = snapshot()
    out = act(template(WRITES["draw from stock"]), snap)
    assert isinstance(out, Outcome)
    assert out.activity["prizes"][0]["tags"] == ["t", "x"] and out.activity["stock"] == [4, 5]
    assert snap.activity["prizes"][0]["tags"] == ["t"] and snap.activity["stock"] == [5, 5]


def test_scopes_left_alone_are_reported_unchanged() -> None:
    snap = snapshot()
    out = act(template([{"add": {"path": "me.n", "value": 1}}]), snap)
    assert isinstance(out, Outcome)
    assert (out.activity_changed, out.participant_changed, out.room) == (False, True, None)
    assert out.activity == snap.activity and out.participant["n"] == 2


def test_writing_the_same_value_changes_nothing() -> None:
    snap = snapshot()
    out = act(template([{"add": {"path": "activity.n", "value": 0}},
                        {"set": {"path": "room.n", "value": 1}}]), snap)
    assert isinstance(out, Outcome)
    assert (out.activity_changed, out.room) == (False, None)


def test_a_written_value_of_the_wrong_type_is_refused() -> None:
    out = act(template([{"set": {"path": "room.n", "value": 1.5}}]), snapshot())
    assert isinstance(out, Rejection) and (out.error, out.where) == ("rule_error", "state.n")


@pytest.mark.parametrize("initial", [[], {"var": "activity.list"}])
def test_a_daily_reset_copies_what_its_initial_value_reads(initial: Any) -> None:
    """A reset whose initial value is a literal copies only the scope it resets; one that reads
    another scope sees the copies, as if everything were copied first."""
    participant = {**STATE["participant"],
                   "r": {"type": "array", "initial": initial, "reset": "daily"}}
    tpl = compile_template({"id": "t", "version": "1.0.0",
                            "state": {**STATE, "participant": participant},
                            "actions": {"act": {"by": "participant", "room": "target", "effects": [
                                {"append": {"path": "me.r", "value": 1}},
                                {"append": {"path": "activity.list", "value": [2]}}]}}})
    snap = snapshot()
    snap.participant = {**(snap.participant or {}), "r": ["old"], "$day": "2026-11-10"}
    before = frozen(snap)
    out = act(tpl, snap)
    assert isinstance(out, Outcome)
    assert frozen(snap) == before
    assert out.participant["$day"] == TODAY
    if initial == []:
        assert out.participant["r"] == [1] and out.activity["list"] == [[1], [2], [2]]
    else:
        assert out.participant["r"] == out.activity["list"] == [[1], [2], 1, [2]]


@pytest.mark.parametrize("first", [[], [{"add": {"path": "room.n", "value": 1}}]])
def test_a_member_written_through_a_shared_value_is_the_rooms_copy(
        first: list[dict[str, Any]]) -> None:
    """Whether or not the room was copied for a write before, a member's data written through
    a value bound from room_info is the working room's, never the snapshot's."""
    snap = snapshot()
    before = frozen(snap)
    out = act(template([*first,
                        {"let": {"name": "d", "value": {"var": "room_info.members.0.data"}}},
                        {"append": {"path": "local.d.tags", "value": "b"}},
                        {"join": {"data": {"seen": {"var": "room_info.members.0.data.tags"}}}},
                        {"each": {"in": {"var": "room_info.members"}, "as": "m", "do": [
                            {"append": {"path": "me.x", "value": {"var": "local.m.data"}}}]}}]),
              snap)
    assert isinstance(out, Outcome) and out.room is not None
    assert frozen(snap) == before
    members = out.room.room.members
    assert [m.data for m in members] == [{"tags": ["a", "b"]}, {"seen": ["a", "b"]}]
    assert out.room.joined == [members[1]] and out.room.joined[0] is members[1]
    assert out.participant["x"] == [[9], {"tags": ["a", "b"]}, {"seen": ["a", "b"]}]
