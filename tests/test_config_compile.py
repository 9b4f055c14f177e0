"""A template compiled for one config (`compile_for`, what a forecast runs): the config's
values read as constants, and what depends only on them is settled once, with exactly the
results of the template compiled for any config."""

from __future__ import annotations

import copy
import dataclasses

import pytest
from activity_configs import CONFIGS

from magic_cube.catalog import Catalog
from magic_cube.forecast import Assumptions
from magic_cube.forecast.behaviour import BEHAVIOURS
from magic_cube.forecast.montecarlo import make_plan, simulate
from magic_cube.rules.compiler import compile_for, compile_template
from magic_cube.rules.interpreter import run
from magic_cube.rules.jsonlogic import EvaluationError, compile_rule
from magic_cube.rules.jsonlogic.closures import NOT_CONSTANT, constant_value
from magic_cube.rules.model import Actor, Member, Outcome, Room, Snapshot
from magic_cube.rules.rng import Rng

KNOWN = {"config": {"mode": "amount", "n": 3, "zero": 0, "none": None, "rows": [{"odds": 7}],
                    "table": {"a": 1}, "s": "x"}}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.discover()


@pytest.mark.parametrize("path, value", [
    ("config.mode", "amount"), ("config.n", 3), ("config.zero", 0), ("config.rows.0.odds", 7),
    ("config.table.a", 1),
])
def test_a_config_scalar_reads_as_a_constant(path, value):
    fn = compile_rule({"var": path}, None, KNOWN)
    assert constant_value(fn) == value
    assert fn({}) == value  # whatever the data: the value is fixed


@pytest.mark.parametrize("path", [
    "config.none", "config.missing", "config.table", "config.rows", "config.rows.1.odds",
    "config.rows.00.odds", "config.s.length", "me.n", "config", "",
])
def test_what_is_not_a_known_scalar_is_still_read_from_the_data(path):
    fn = compile_rule({"var": path}, None, KNOWN)
    assert constant_value(fn) is NOT_CONSTANT
    data = {"config": {"none": "now set", "missing": 5, "table": {}, "rows": [1, 2],
                       "s": "abc"}, "me": {"n": 9}}
    assert fn(data) == compile_rule({"var": path})(data)


def test_a_loop_body_reads_its_item_not_the_config():
    rule = {"map": [{"var": "items"}, {"var": "config.n"}]}
    fn = compile_rule(rule, None, KNOWN)
    assert fn({"items": [{"config": {"n": 1}}, {}]}) == [1, None]


def test_what_depends_only_on_the_config_is_settled():
    rule = {"if": [{"==": [{"var": "config.mode"}, "amount"]}, {"var": "params.amount"},
                   {"var": "params.shares"}]}
    fn = compile_rule(rule, None, KNOWN)
    assert fn({"params": {"amount": 5, "shares": 2}}) == 5
    folded = compile_rule({"*": [{"var": "config.n"}, 2]}, None, KNOWN)
    assert constant_value(folded) == 6


def test_an_operation_that_fails_on_a_config_value_fails_where_it_runs():
    rule = {"substr": [{"var": "config.s"}, {"var": "config.table"}]}  # (not folded: a table)
    assert constant_value(compile_rule(rule, None, KNOWN)) is NOT_CONSTANT
    failing = {"object": [[{"var": "config.n"}, 1]]}  # a key that is not a string
    with pytest.raises(EvaluationError):
        compile_rule(failing)({"config": {"n": 3}})
    fn = compile_rule(failing, None, KNOWN)  # compiles: the error waits for the rule to run
    with pytest.raises(EvaluationError):
        fn({"config": {"n": 3}})


@pytest.mark.parametrize("rule, data, expected", [
    ({"if": [True, {"var": "x"}, {"var": "y"}]}, {"x": 1, "y": 2}, 1),
    ({"if": [False, {"var": "x"}, {"var": "y"}]}, {"x": 1, "y": 2}, 2),
    ({"if": [False, {"var": "x"}]}, {"x": 1}, None),
    ({"if": [{"var": "c"}, 1, False, 2, "yes", {"var": "x"}, 4]}, {"c": 0, "x": 9}, 9),
    ({"if": [{"var": "c"}, 1, 0, 2, {"var": "x"}]}, {"c": 0, "x": 9}, 9),
    ({"if": [{"var": "c"}, 1, 0, 2, {"var": "x"}]}, {"c": 1, "x": 9}, 1),
    ({"and": [True, {"var": "x"}]}, {"x": 0}, 0),
    ({"and": [1, "a", {"var": "x"}]}, {"x": [1]}, [1]),
    ({"and": [0, {"var": "x"}]}, {"x": 5}, 0),
    ({"and": [{"var": "x"}, 0]}, {"x": 5}, 0),
    ({"or": [0, "", {"var": "x"}]}, {"x": 0}, 0),
    ({"or": ["a", {"var": "x"}]}, {"x": 5}, "a"),
    ({"or": [[], {"var": "x"}]}, {"x": 5}, 5),
])
def test_conditions_known_when_compiling_are_settled_as_javascript_would(rule, data,
                                                                        expected):
    assert compile_rule(rule)(data) == expected


def test_an_effect_if_on_the_config_becomes_the_branch_it_takes(catalog):
    doc = catalog.get("gift").doc
    general = compile_template(doc)
    for mode in ("amount", "units"):
        config = {"gift_name": "Coffee", "mode": mode, "split": "random", "min_share": 1,
                  "max_amount": 2000, "max_shares": 5, "receive_per_day": 5}
        compiled = compile_template(doc, config)
        claim, claim_general = compiled.actions["claim"], general.actions["claim"]
        # its first `if` (on the config) is its one split; the last (on the room) stays
        assert len(claim.effects) == len(claim_general.effects)
        # the three guards on the amount pass for sure when the pack is of units
        assert len(compiled.actions["send"].guards) == (5 if mode == "amount" else 2)
        assert len(general.actions["send"].guards) == 5
        room_state = {"total": 900, "shares": 3, "left": 900, "shares_left": 1,
                      "message": "", "returned": 0}
        for template in (compiled, general):
            room = Room("r1", "open", "s", 4, 0, copy.deepcopy(room_state),
                        [Member("s", "sender", 0, {})], {"expire": 10_000})
            snapshot = Snapshot("a", config, {"packs": 1, "claims": 0, "sent": 900,
                                              "claimed": 0, "returned": 0}, None, room)
            out = run(template, "claim", snapshot, Actor("f"), {}, 100, Rng("s", "l"))
            assert isinstance(out, Outcome), out
            assert out.room is not None and out.room.room.status == "succeeded"
            assert out.result["share"] == 900  # the last share: all that is left


@pytest.mark.parametrize("template", sorted(CONFIGS))
def test_a_forecast_on_the_template_compiled_for_its_config_is_the_same(catalog, template):
    entry = catalog.get(template)
    assert entry.kind in BEHAVIOURS
    plan = make_plan(entry, CONFIGS[template], Assumptions(visitors_per_day=150, days=3))
    assert plan.template is not entry.compiled
    general = dataclasses.replace(plan, template=entry.compiled)
    assert simulate(plan, 2, seed=3) == simulate(general, 2, seed=3)


class Unreadable(dict):
    """A config whose values cannot be read when compiling."""

    def __getitem__(self, key):
        raise RuntimeError("not now")


def test_a_config_the_rules_cannot_compile_with_falls_back_to_the_general_template(catalog):
    entry = catalog.get("gift")
    assert compile_for(entry.doc, Unreadable(mode="units"), entry.compiled) is entry.compiled
    assert compile_for(entry.doc, CONFIGS["gift"], entry.compiled) is not entry.compiled
