"""The newer JsonLogic dialect the community engines share (val with scope paths, exists, ??,
try/throw with error objects, preserve): the cases in tests/conformance/jsonlogic/dialect.json,
which the JavaScript client runs too, and what the template checks make of them."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from template_factory import minimal_template

from magic_cube.catalog.semantic import semantic_problems
from magic_cube.rules.jsonlogic import (
    ALLOWED_OPERATORS,
    EvaluationError,
    apply,
    compile_rule,
    scoped_var_paths,
    var_paths,
)
from magic_cube.rules.jsonlogic.errors import ThrownError

SUITE = Path(__file__).parent / "conformance" / "jsonlogic" / "dialect.json"
CASES = [c for c in json.loads(SUITE.read_text(encoding="utf-8")) if isinstance(c, list)]


def _expects_error(expected: Any) -> bool:
    return isinstance(expected, dict) and set(expected) == {"error"}


@pytest.mark.parametrize(("rule", "data", "expected"), CASES,
                         ids=[json.dumps(c[0])[:60] for c in CASES])
def test_dialect_case(rule: Any, data: Any, expected: Any) -> None:
    evaluate = compile_rule(rule)
    for run in (lambda: apply(rule, data), lambda: evaluate(data)):
        if _expects_error(expected):
            with pytest.raises(ThrownError) as info:
                run()
            assert info.value.error == expected["error"]
        else:
            assert run() == expected


def test_the_dialect_is_allowed() -> None:
    assert {"val", "exists", "??", "try", "throw", "preserve"} <= ALLOWED_OPERATORS


def test_a_throw_outside_try_is_an_evaluation_error() -> None:
    with pytest.raises(EvaluationError):
        apply({"throw": "x"})


def test_throw_and_try_are_not_folded_at_compile_time() -> None:
    rule = compile_rule({"try": [{"throw": "a"}, 2]})
    assert getattr(rule, "value", None) is None and rule(None) == 2
    compile_rule({"throw": "a"})  # compiles; throws only when evaluated


def test_the_scope_stack_is_left_clean_after_a_failure() -> None:
    failing = compile_rule({"map": [[1], {"throw": "x"}]})
    with pytest.raises(ThrownError):
        failing({})
    assert apply({"val": [[1], "x"]}, {"x": 1}) is None  # no scope left behind


def test_scopes_are_per_thread() -> None:
    rule = compile_rule({"map": [{"val": "xs"}, {"val": [[1], "k"]}]})
    results: list[Any] = []

    def run(k: int) -> None:
        results.append(all(rule({"xs": [0] * 50, "k": k}) == [k] * 50 for _ in range(200)))

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 4


def test_preserve_hides_what_it_holds_from_validation_and_introspection() -> None:
    assert apply({"preserve": {"method": 1}}) == {"method": 1}
    assert var_paths({"preserve": {"var": "me.x"}}) == []


def test_val_paths_are_read_paths_at_their_scope() -> None:
    rule = {"map": [{"val": ["me", "xs"]},
                    {"+": [{"val": "n"}, {"val": [[1], "config", "bonus"]}]}]}
    assert var_paths(rule) == ["me.xs", "config.bonus"]
    assert scoped_var_paths(rule) == ["n"]
    assert var_paths({"exists": ["config", "x"]}) == ["config.x"]
    assert var_paths({"try": [1, {"val": "type"}]}) == []  # the error object's field


# -- in templates: the semantic pass checks what val and exists read --------------------------

def _with_view(expression: Any) -> list[tuple[str, str]]:
    doc = minimal_template()
    doc["views"]["me"]["x"] = expression
    return [(p.path, p.code) for p in semantic_problems(doc, "t.json")]


def test_a_val_reading_an_undeclared_name_is_reported() -> None:
    assert _with_view({"val": ["me", "nope"]}) == [("views.me.x", "undeclared_state")]
    assert _with_view({"exists": ["config", "nope"]}) == [("views.me.x", "undeclared_config")]
    scoped = {"map": [[1, 2], {"val": [[1], "config", "nope"]}]}
    assert _with_view(scoped) == [("views.me.x", "undeclared_config")]


def test_val_reads_that_are_declared_pass() -> None:
    assert _with_view({"??": [{"val": ["me", "joins_today"]}, 0]}) == []
    loop = {"map": [[1, 2], {"*": [{"val": []}, {"val": [[1], "config", "team_size"]}]}]}
    assert _with_view(loop) == []
    assert _with_view({"try": [{"throw": "x"}, {"val": [[1], "me", "joins_today"]}]}) == []


# -- in templates: meta-schema, compiler and interpreter ----------------------------------------

def _dialect_template() -> dict[str, Any]:
    doc = minimal_template()
    doc["state"]["participant"]["tags"] = {"type": "array", "initial": []}
    join = doc["actions"]["join"]
    join["result"]["scaled"] = {"map": [[1, 2], {"*": [{"val": []},
                                                       {"val": [[1], "config", "team_size"]}]}]}
    join["result"]["tag"] = {"??": [{"val": ["me", "tags", 0]}, "none"]}
    join["result"]["checked"] = {"try": [{"throw": {"preserve": {"type": "full"}}},
                                         {"cat": [{"val": "type"}, "/",
                                                  {"val": [[1], "room_info", "size"]}]}]}
    join["result"]["has_tags"] = {"exists": ["me", "tags"]}
    doc["views"]["me"]["literal"] = {"preserve": {"var": "me.tags"}}
    return doc


def test_a_template_using_the_dialect_is_valid_and_runs() -> None:
    from magic_cube.catalog.catalog import check_document
    from magic_cube.rules.model import Outcome
    from magic_cube.rules.sim import Simulation

    compiled, found = check_document(_dialect_template(), "t.json")
    assert found == [] and compiled is not None
    sim = Simulation(compiled, {"team_size": 3, "joins_per_day": 3, "hours": 24}, 1_794_362_400)
    started = sim.act("ivy", "start")
    assert isinstance(started, Outcome) and started.room is not None
    joined = sim.act("amy", "join", room=started.room.room.id)
    assert isinstance(joined, Outcome)
    assert joined.result["scaled"] == [3, 6]
    assert joined.result["tag"] == "none"
    assert joined.result["checked"] == "full/2"
    assert joined.result["has_tags"] is True
    assert sim.view("me", "amy")["literal"] == {"var": "me.tags"}


def test_a_throw_in_a_guard_refuses_with_rule_error() -> None:
    from magic_cube.rules.compiler import compile_template
    from magic_cube.rules.model import Rejection
    from magic_cube.rules.sim import Simulation

    doc = minimal_template()
    doc["actions"]["start"]["guards"] = [{"rule": {"throw": "closed"}, "error": "joins_used_up"}]
    sim = Simulation(compile_template(doc), {"team_size": 3, "joins_per_day": 3, "hours": 24},
                     1_794_362_400)
    refused = sim.act("ivy", "start")
    assert isinstance(refused, Rejection) and refused.error == "rule_error"
