"""`with` (writing another participant) and keyed maps in the pure interpreter: properties over
random plays of the collect-the-cards template, and the edge cases of each construct."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from magic_cube.rules.compiler import compile_template
from magic_cube.rules.sim import Simulation

ROOT = Path(__file__).resolve().parents[1]
START = 1_794_362_400  # 2026-11-11 10:00 Asia/Shanghai
PEOPLE = ("amy", "bob", "cat", "dan")
CARDS = ("A", "B", "C")
CONFIG = {"cards": [{"name": c, "odds": 10} for c in CARDS], "prize_name": "Tea",
          "prize_stock": 5, "draws_per_day": 3}
DOC = json.loads((ROOT / "activity_templates/collect_cards/template.json").read_text("utf-8"))
TEMPLATE = compile_template(DOC)

step = st.one_of(
    st.tuples(st.just("grant"), st.sampled_from(PEOPLE), st.sampled_from(CARDS),
              st.integers(1, 3)),
    st.tuples(st.just("draw"), st.sampled_from(PEOPLE)),
    st.tuples(st.just("ask"), st.sampled_from(PEOPLE), st.sampled_from(CARDS)),
    st.tuples(st.just("give"), st.sampled_from(PEOPLE), st.integers(0, 20)),
    st.tuples(st.just("redeem"), st.sampled_from(PEOPLE)),
    st.tuples(st.just("wait"), st.integers(60, 30 * 3600)),
)


def _cards(sim: Simulation) -> dict[str, dict[str, int]]:
    return {who: dict(state["cards"]) for who, state in sim.participants.items()}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, max_size=40))
def test_cards_are_made_only_by_draws_and_grants_and_taken_only_by_sets(steps):
    sim = Simulation(TEMPLATE, copy.deepcopy(CONFIG), START, seed="cards")
    made = taken = 0
    rooms: list[str] = []
    for s in steps:
        before = _cards(sim)
        if s[0] == "grant":
            out = sim.act(s[1], "grant", {"card": s[2], "count": s[3]}, kind="merchant")
            made += s[3] if out.ok else 0
        elif s[0] == "draw":
            made += 1 if sim.act(s[1], "draw").ok else 0
        elif s[0] == "ask":
            out = sim.act(s[1], "ask", {"card": s[2]})
            if out.ok:
                rooms.append(out.result["room"])
        elif s[0] == "give" and rooms:
            out = sim.act(s[1], "give", room=rooms[s[2] % len(rooms)])
        elif s[0] == "redeem":
            taken += len(CARDS) if sim.act(s[1], "redeem").ok else 0
        elif s[0] == "wait":
            sim.advance(sim.now + s[1])
        after = _cards(sim)
        if s[0] == "give" and rooms and not out.ok:
            assert after == before  # a refused gift changes nobody
        total = sum(sum(c.values()) for c in after.values())
        assert total == made - taken  # a gift moves a card; it never makes or loses one
        for held in after.values():
            assert all(n > 0 for n in held.values())  # empty entries are removed
            assert len(held) <= len(CARDS)


def _template(**participant: Any) -> Any:
    """A tiny template: `send` moves points to a participant named in the params."""
    doc = {
        "id": "points", "version": "1.0.0", "title": {"zh": "积分", "en": "Points"},
        "description": {"zh": "积分", "en": "Points"}, "kind": "other",
        "config": {"schema": {"type": "object", "properties": {}}},
        "state": {"participant": {
            "points": {"type": "integer", "initial": 0},
            "by_day": {"type": "map", "values": "integer", "max_keys": 2, "initial": {}},
            "tags": {"type": "array", "initial": []},
            **participant}},
        "actions": {
            "earn": {"by": "participant",
                     "params": {"type": "object", "properties": {"n": {"type": "integer"}}},
                     "effects": [{"add": {"path": "me.points", "value": {"var": "params.n"}}},
                                 {"add": {"path": "me.by_day", "key": {"var": "today"},
                                          "value": 1}},
                                 {"append": {"path": "me.tags", "value": "earned"}}]},
            "send": {"by": "participant",
                     "params": {"type": "object",
                                "properties": {"to": {"type": "string"},
                                               "create": {"type": "boolean"}}},
                     "effects": [
                         {"add": {"path": "me.points", "value": -1, "min": 0,
                                  "error": "limit_reached"}},
                         {"if": {"rule": {"var": "params.create"},
                                 "then": [{"with": {"participant": {"var": "params.to"},
                                                    "create": True, "do": [
                                                        {"add": {"path": "them.points",
                                                                 "value": 1}}]}}],
                                 "else": [{"with": {"participant": {"var": "params.to"},
                                                    "do": [{"add": {"path": "them.points",
                                                                    "value": 1}}]}}]}}],
                     "result": {"left": {"var": "me.points"}}},
            "untag": {"by": "participant",
                      "effects": [{"remove": {"path": "me.tags", "value": "earned"}}]},
        },
    }
    return compile_template(doc)


def test_with_refuses_a_stranger_unless_create_and_a_self_transfer_changes_nothing():
    sim = Simulation(_template(), {}, START)
    assert sim.act("amy", "earn", {"n": 3}).ok
    refused = sim.act("amy", "send", {"to": "zed"})
    assert not refused.ok and refused.error == "participant_not_found"
    assert sim.participants["amy"]["points"] == 3 and "zed" not in sim.participants
    assert sim.act("amy", "send", {"to": "zed", "create": True}).ok
    assert sim.participants["zed"]["points"] == 1 and sim.participants["amy"]["points"] == 2
    out = sim.act("amy", "send", {"to": "amy"})
    assert out.ok and out.result == {"left": 2} and out.others == {}
    assert sim.act("zed", "send", {"to": "amy"}).ok  # zed's state exists now
    assert sim.participants["amy"]["points"] == 3


def test_a_map_bounds_its_keys_and_remove_drops_one_item():
    sim = Simulation(_template(), {}, START)
    assert sim.act("amy", "earn", {"n": 1}).ok
    sim.advance(START + 86400)
    assert sim.act("amy", "earn", {"n": 1}).ok
    assert sim.act("amy", "earn", {"n": 1}).ok
    assert sorted(sim.participants["amy"]["by_day"].values()) == [1, 2]
    sim.advance(START + 2 * 86400)
    third = sim.act("amy", "earn", {"n": 1})  # a third day would be a third key
    assert not third.ok and third.error == "limit_reached"
    assert sim.act("amy", "untag").ok
    assert sim.participants["amy"]["tags"] == ["earned", "earned"]


def test_a_map_entry_of_the_wrong_type_is_a_rule_error():
    names = {"type": "map", "values": "integer", "initial": {"x": "a", "y": 1}}
    sim = Simulation(_template(names=names), {}, START)
    out = sim.act("amy", "earn", {"n": 1})
    assert not out.ok and out.error == "rule_error" and "names.x" in out.detail
