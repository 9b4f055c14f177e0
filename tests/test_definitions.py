"""Named expressions: `definitions` at the top of a template, read as `{"def": NAME}` by
guards, effects, results, views, config checks and other definitions."""

from __future__ import annotations

from typing import Any

import pytest
from template_factory import minimal_template

from magic_cube.catalog.catalog import check_document
from magic_cube.catalog.config import ConfigValidator
from magic_cube.catalog.metaschema import meta_problems
from magic_cube.catalog.semantic import semantic_problems
from magic_cube.rules.compiler import compile_template
from magic_cube.rules.errors import TemplateCompileError
from magic_cube.rules.jsonlogic import UnknownOperator, compile_rule
from magic_cube.rules.model import Outcome, Rejection
from magic_cube.rules.sim import Simulation

START = 1_794_362_400  # 2026-11-11T10:00:00+08:00

DEFINITIONS = {
    "limit": {"var": "config.joins_per_day"},
    "left_today": {"-": [{"def": "limit"}, {"var": "me.joins_today"}]},
    "can_join": {">": [{"def": "left_today"}, 0]},
}


def with_definitions(definitions: dict[str, Any] | None = None) -> dict[str, Any]:
    doc = minimal_template(definitions=DEFINITIONS if definitions is None else definitions)
    join = doc["actions"]["join"]
    join["guards"][0] = {"rule": {"def": "can_join"}, "error": "joins_used_up"}
    join["result"]["left"] = {"def": "left_today"}
    doc["views"]["me"]["left_today"] = {"def": "left_today"}
    return doc


def problems(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p.path, p.code) for p in check_document(doc, "t.json")[1]]


# -- meta-schema -------------------------------------------------------------------------------

def test_definitions_are_accepted_by_the_meta_schema():
    assert meta_problems(with_definitions(), "t.json") == []


@pytest.mark.parametrize("name", ["Limit", "1st", "left-today", ""])
def test_definition_names_are_lowercase_identifiers(name):
    found = meta_problems(minimal_template(definitions={name: 1}), "t.json")
    assert found and all(p.path.startswith("definitions") for p in found)


# -- semantic pass -----------------------------------------------------------------------------

def test_a_template_using_definitions_is_valid():
    assert problems(with_definitions()) == []


def test_a_cycle_is_refused():
    doc = with_definitions({"a": {"+": [{"def": "b"}, 1]}, "b": {"def": "a"},
                            "can_join": True, "left_today": 1})
    found = semantic_problems(doc, "t.json")
    [cycle] = [p for p in found if p.code == "definition_cycle"]
    assert cycle.path == "definitions.a" and "a -> b -> a" in cycle.message
    with pytest.raises(TemplateCompileError, match="cycle"):
        compile_template(doc)


def test_a_definition_reading_itself_is_a_cycle():
    doc = with_definitions({**DEFINITIONS, "limit": {"+": [{"def": "limit"}, 1]}})
    assert ("definitions.limit", "definition_cycle") in problems(doc)


def test_an_unknown_definition_is_refused_where_it_is_read():
    doc = with_definitions()
    doc["views"]["me"]["x"] = {"def": "no_such"}
    [(path, code)] = problems(doc)
    assert (path, code) == ("views.me.x.def", "bad_expression")
    inner = with_definitions({**DEFINITIONS, "limit": {"def": "nope"}})
    assert ("definitions.limit.def", "bad_expression") in problems(inner)


def test_what_a_definition_reads_is_judged_where_it_is_used():
    doc = with_definitions()
    doc["config"]["checks"][0]["rule"] = {"<=": [{"def": "left_today"}, 100]}
    found = semantic_problems(doc, "t.json")
    assert [(p.path, p.code) for p in found] == [("config.checks[0].rule", "name_not_allowed")]
    assert "reads me.joins_today" in found[0].message


def test_an_undeclared_read_inside_a_definition_is_reported():
    doc = with_definitions({**DEFINITIONS, "limit": {"var": "config.per_day"}})
    assert ("actions.join.guards[0].rule", "undeclared_config") in problems(doc)


def test_a_definition_inside_a_loop_body_is_refused():
    doc = with_definitions()
    doc["views"]["me"]["x"] = {"map": [[1, 2], {"def": "limit"}]}
    [(path, code)] = problems(doc)
    assert code == "bad_expression" and path.startswith("views.me.x")


def test_def_is_an_unknown_operator_outside_templates():
    with pytest.raises(UnknownOperator):
        compile_rule({"def": "x"})


# -- interpreter -------------------------------------------------------------------------------

def play() -> Simulation:
    template = compile_template(with_definitions())
    return Simulation(template, {"team_size": 3, "joins_per_day": 2, "hours": 24}, START)


def open_room(sim: Simulation, who: str) -> str:
    outcome = sim.act(who, "start")
    assert isinstance(outcome, Outcome) and outcome.room is not None
    return outcome.room.room.id


def test_guards_results_and_views_read_definitions():
    sim = play()
    room = open_room(sim, "ivy")
    for who in ("amy", "bob"):
        outcome = sim.act(who, "join", room=room)
        assert isinstance(outcome, Outcome) and outcome.result["left"] == 1
        assert sim.view("me", who)["left_today"] == 1


def test_a_guard_reading_a_definition_refuses():
    sim = play()
    rooms = [open_room(sim, who) for who in ("ivy", "eve", "cat")]
    assert all(isinstance(sim.act("amy", "join", room=r), Outcome) for r in rooms[:2])
    refused = sim.act("amy", "join", room=rooms[2])
    assert isinstance(refused, Rejection)
    assert (refused.error, refused.where) == ("joins_used_up", "guards[0]")


def test_a_definition_is_compiled_once_and_shared():
    template = compile_template(with_definitions())
    guard = template.actions["join"].guards[0].rule
    view = dict(template.views["me"])["left_today"]
    result = dict(template.actions["join"].result)["left"]
    assert view is result  # the very same closure
    assert guard({"config": {"joins_per_day": 1}, "me": {"joins_today": 0}}) is True
    assert guard({"config": {"joins_per_day": 1}, "me": {"joins_today": 1}}) is False


def test_constant_definitions_fold():
    template = compile_template(with_definitions({**DEFINITIONS, "limit": {"*": [3, 2]}}))
    assert getattr(dict(template.views["me"])["left_today"], "value", None) is None
    rule = compile_rule({"+": [{"def": "six"}, 1]}, {"six": compile_rule({"*": [3, 2]})})
    assert getattr(rule, "value", None) == 7


def test_config_checks_read_definitions():
    doc = with_definitions({**DEFINITIONS, "too_many": {">": [{"var": "config.joins_per_day"},
                                                               100]}})
    doc["config"]["checks"][0]["rule"] = {"!": {"def": "too_many"}}
    assert problems(doc) == []
    validator = ConfigValidator.for_template(doc)
    _, errors = validator.validate({"team_size": 2, "joins_per_day": 101})
    assert "joins_per_day" in errors
    assert validator.validate({"team_size": 2, "joins_per_day": 5})[1] == {}


def test_effects_and_timers_read_definitions():
    doc = with_definitions({**DEFINITIONS, "step": {"+": [1, 0]},
                            "hours": {"*": [{"var": "config.hours"}, 3600]}})
    doc["actions"]["start"]["effects"][1] = {"add": {"path": "activity.teams",
                                                     "value": {"def": "step"}}}
    doc["timers"]["expire"]["after"] = {"def": "hours"}
    assert problems(doc) == []
    sim = Simulation(compile_template(doc), {"team_size": 3, "joins_per_day": 2, "hours": 2},
                     START)
    outcome = sim.act("ivy", "start")
    assert isinstance(outcome, Outcome) and outcome.room is not None
    assert outcome.activity["teams"] == 1
    assert outcome.room.room.timers["expire"] == START + 7200
