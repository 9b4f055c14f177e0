"""Views never show a participant id: the viewer's own, a room member's, or one held in a
variable declared `participants` (a list of helpers, a leaderboard map keyed by id) appear as
masked names, wherever in the view they end up."""

from __future__ import annotations

from template_factory import minimal_template

from magic_cube.rules.compiler import compile_template
from magic_cube.rules.sim import Simulation

START = 1_794_362_400
CONFIG = {"team_size": 5, "joins_per_day": 3, "hours": 24}


def _template():
    doc = minimal_template()
    doc["state"]["activity"]["board"] = {"type": "map", "values": "integer", "initial": {},
                                         "participants": True}
    doc["state"]["room"]["helpers"] = {"type": "array", "initial": [], "participants": True}
    doc["actions"]["join"]["effects"] += [
        {"append": {"path": "room.helpers", "value": {"var": "actor.id"}}},
        {"add": {"path": "activity.board", "key": {"var": "actor.id"}, "value": 1}},
    ]
    doc["views"]["activity"]["board"] = {"var": "activity.board"}
    doc["views"]["room"].update({
        "helpers": {"var": "room.helpers"},
        "first": {"var": "room.helpers.0"},
        "leader": {"var": "room_info.initiator"},
        "raw_members": {"map": [{"var": "room_info.members"}, {"var": "name"}]},
    })
    doc["views"]["me"]["me"] = {"var": "actor.id"}
    return compile_template(doc)


def test_ids_in_views_are_masked_names_wherever_they_appear():
    sim = Simulation(_template(), CONFIG, START)
    room = sim.act("alice", "start").result["room"]
    assert sim.act("bob.wang", "join", room=room, display_name="王小明").ok
    assert sim.act("carol", "join", room=room).ok
    seen_by_carol = sim.view("room", "carol", room)
    assert seen_by_carol["helpers"] == ["王**", "c***"]
    assert seen_by_carol["first"] == "王**"
    assert seen_by_carol["leader"] == "a***"
    assert sim.view("activity", "dave")["board"] == {"b***": 1, "c***": 1}
    assert sim.view("me", "carol")["me"] == "c***"
    # The state itself keeps the ids: only what people see is masked.
    assert sim.rooms[room].state["helpers"] == ["bob.wang", "carol"]
    assert sim.activity["board"] == {"bob.wang": 1, "carol": 1}


def test_a_value_that_is_no_participant_id_is_left_alone():
    sim = Simulation(_template(), CONFIG, START)
    room = sim.act("alice", "start").result["room"]
    view = sim.view("room", "alice", room)
    assert view["helpers"] == [] and view["joined"] == 1
