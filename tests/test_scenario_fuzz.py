"""No scenario file that the scenario schema accepts can crash the runner: it either passes
or reports failures. Scenarios are built from each bundled template's own vocabulary (its
actions, error codes, a real config) mixed with arbitrary values, so runs get deep."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from magic_cube.catalog import Catalog, TemplateEntry
from magic_cube.catalog.metaschema import scenario_validator
from magic_cube.scenarios import ScenarioResult, run_entry_scenario

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "activity_templates"
TEMPLATE_IDS = ("bargain", "group_buy", "lottery", "gift")


@cache
def _entry(template_id: str) -> TemplateEntry:
    return Catalog.discover([TEMPLATES_DIR], entry_points=False).get(template_id)


@cache
def _sample_config(template_id: str) -> dict[str, Any]:
    first = sorted((TEMPLATES_DIR / template_id / "scenarios").glob("*.json"))[0]
    config: dict[str, Any] = json.loads(first.read_text(encoding="utf-8"))["config"]
    return config


NAMES = st.sampled_from(["amy", "bob", "cat", "merchant"])
ROOMS = st.sampled_from(["r1", "r2"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.text(max_size=5))
AT = st.one_of(
    st.builds(lambda n, u: f"+{n}{u}", st.integers(0, 400), st.sampled_from("smhd")),
    st.sampled_from(["2026-11-11T09:00:00+08:00", "2026-11-20T00:00:00Z", "2020-01-01T00:00:00Z",
                     "2026-11-11T09:00:00"]),
)

# Views a scenario may name, known and unknown (schema-valid or not: invalid ones are assumed
# away), and each template's own view keys so some expectations match.
VIEWS = st.sampled_from(["public", "me:amy", "me:zed", "me:merchant", "room:r1", "room:zz",
                         "room:r1@bob", "room:r2@merchant", "activity"])
VIEW_KEYS = {t: sorted({k for scope in _entry(t).doc.get("views", {}).values() for k in scope})
             for t in TEMPLATE_IDS}


@st.composite
def steps(draw: st.DrawFn, template_id: str) -> dict[str, Any]:
    doc = _entry(template_id).doc
    actions = st.one_of(st.sampled_from(sorted(doc["actions"])), st.just("no_such_action"))
    codes = sorted(doc.get("errors", {})) + ["room_not_found", "rule_error"]
    step: dict[str, Any] = {}
    if draw(st.booleans()):
        step["actor"] = draw(NAMES)
        if draw(st.integers(0, 4)):
            step["action"] = draw(actions)
            if draw(st.booleans()):
                step["params"] = draw(st.dictionaries(st.sampled_from(
                    ["amount", "stars", "product", "name", "x"]), SCALARS, max_size=2))
            for key in ("room", "save_room"):
                if draw(st.booleans()):
                    step[key] = draw(ROOMS)
            if draw(st.booleans()):
                step["subject"] = draw(NAMES)
            expect = draw(st.sampled_from(["none", "error", "result", "events"]))
            if expect == "error":
                step["expect"] = {"error": draw(st.sampled_from(codes))}
            elif expect == "result":
                step["expect"] = {"result": draw(st.dictionaries(st.text(max_size=3), SCALARS,
                                                                 max_size=2))}
            elif expect == "events":
                step["expect"] = {"events": draw(st.lists(st.sampled_from(["a.b", "x"]),
                                                          max_size=2))}
        if draw(st.booleans()):
            step["first_time"] = draw(st.booleans())
    if draw(st.booleans()) or not step:
        step["at"] = draw(AT)
    if "action" not in step and draw(st.booleans()):
        step["expect"] = {"events": []}
    if draw(st.booleans()):
        scope = draw(st.sampled_from(["activity", "me:amy", "me:zed", "room:r1", "room:zz"]))
        body: dict[str, Any] = ({"status": "open", "size": 1} if scope.startswith("room:")
                                else {"x": draw(SCALARS)})
        step["expect_state"] = {scope: body}
    if draw(st.booleans()):
        step["expect_view"] = draw(st.dictionaries(VIEWS, st.dictionaries(
            st.sampled_from(VIEW_KEYS[template_id] + ["x"]), SCALARS, max_size=2), max_size=3))
    return step


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    template_id = draw(st.sampled_from(TEMPLATE_IDS))
    config = dict(_sample_config(template_id))
    if draw(st.booleans()):
        config[draw(st.sampled_from(sorted(config)))] = draw(SCALARS)
    doc: dict[str, Any] = {
        "title": "fuzz", "config": config, "start": "2026-11-11T09:00:00+08:00",
        "steps": draw(st.lists(steps(template_id), min_size=1, max_size=8)),
    }
    if draw(st.booleans()):
        doc["timezone"] = draw(st.sampled_from(["UTC", "Asia/Shanghai", "America/New_York"]))
    if draw(st.booleans()):
        doc["seed"] = draw(st.text(max_size=4))
    return template_id, doc


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.filter_too_much])
@given(scenarios())
def test_a_schema_valid_scenario_never_crashes_the_runner(case: tuple[str, dict[str, Any]]):
    template_id, doc = case
    assume(scenario_validator().is_valid(doc))
    result = run_entry_scenario(_entry(template_id), doc, "fuzz.json")
    assert isinstance(result, ScenarioResult)
    assert all(isinstance(f, str) for f in result.failures)


def test_a_merchant_step_without_subject_fails_instead_of_crashing():
    doc = {"title": "t", "config": _sample_config("lottery"),
           "start": "2026-11-11T09:00:00+08:00",
           "steps": [{"actor": "merchant", "action": "grant"}]}
    assert scenario_validator().is_valid(doc)
    result = run_entry_scenario(_entry("lottery"), doc, "x.json")
    assert result.failures == ["steps[0]: a merchant step needs `subject`, "
                               "the participant acted for"]


def test_a_schema_invalid_scenario_fails_with_its_problems():
    result = run_entry_scenario(_entry("lottery"), {"title": "t", "steps": []}, "x.json")
    assert result.failures and not result.ok
