"""The generic crowd model: a template no kind's model fits is forecast from its own actions."""

from __future__ import annotations

from pathlib import Path

import pytest
from activity_configs import START
from template_factory import minimal_template, write_template

from magic_cube.catalog import Catalog
from magic_cube.forecast import BEHAVIOURS, AssumptionError, Assumptions, behaviour_for, forecast
from magic_cube.forecast.behaviour import Generic

SURE = {"act": 1.0, "again": 1.0, "return": 1.0, "share": 1.0, "friend": 1.0}
CONFIG = {"team_size": 2, "joins_per_day": 3, "hours": 24}


def entry_of(tmp_path: Path, doc: dict) -> object:
    write_template(tmp_path, doc)
    return Catalog.discover([tmp_path], entry_points=False).get(doc["id"])


def test_every_bundled_template_is_driven_by_its_kind_s_own_model() -> None:
    catalog = Catalog.discover()
    kinds = {e.kind for e in catalog.entries() if e.kind in BEHAVIOURS}
    assert kinds == set(BEHAVIOURS)  # (every model is used by some bundled template)
    for entry in catalog.entries():
        if entry.kind in BEHAVIOURS:
            assert behaviour_for(entry.compiled, entry.kind) is BEHAVIOURS[entry.kind], entry.id


@pytest.mark.parametrize("kind", ["other", "lottery"])  # (a lottery without a `draw` action)
def test_a_template_no_model_fits_takes_its_own_first_action_and_shares_its_room(
        tmp_path: Path, kind: str) -> None:
    entry = entry_of(tmp_path, minimal_template(kind=kind))
    model = behaviour_for(entry.compiled, entry.kind)
    assert isinstance(model, Generic)
    assert (model.first, model.target) == ("start", "join")  # `expire` is the timer's
    visitors, days = 20, 3
    # Nobody shares: each visitor opens one team (no second try once a room is open), and no
    # team fills.
    alone = forecast(entry, CONFIG, Assumptions(visitors_per_day=visitors, days=days,
                                                conversion={**SURE, "share": 0.0}),
                     runs=3, seed="alone", start=START)
    for run in alone.runs:
        assert run.participations == run.rooms_started == visitors * days
        assert run.completions == 0
    # Everyone shares and every friend joins: a team of two fills with its first friend.
    shared = forecast(entry, CONFIG, Assumptions(visitors_per_day=visitors, days=days,
                                                 friends=3.0, conversion=SURE),
                      runs=3, seed="shared", start=START)
    for run in shared.runs:
        assert run.rooms_started == visitors * days
        assert 0 < run.completions <= run.rooms_started
        assert run.participations > run.rooms_started + run.completions - 1  # friends joined


def test_a_roomless_action_is_taken_again_and_the_next_day(tmp_path: Path) -> None:
    doc = minimal_template(id="stamp", kind="other")
    doc["actions"] = {"stamp": {
        "title": {"zh": "盖章", "en": "Stamp"}, "by": "participant",
        "params": {"type": "object", "required": ["times"], "additionalProperties": False,
                   "properties": {"times": {"type": "integer", "minimum": 1, "maximum": 1}}},
        "effects": [{"add": {"path": "me.joins_today", "value": 1, "max": 2,
                             "error": "joins_used_up"}}]}}
    del doc["timers"]
    doc["views"] = {"me": {"stamps": {"var": "me.joins_today"}}}
    doc["metrics"] = {"participation": ["stamp"]}
    entry = entry_of(tmp_path, doc)
    model = behaviour_for(entry.compiled, entry.kind)
    assert isinstance(model, Generic) and model.first_params == {"times": 1}
    assert model.target is None
    visitors, days = 10, 3
    result = forecast(entry, CONFIG, Assumptions(visitors_per_day=visitors, days=days,
                                                 conversion={**SURE, "share": 0.0}),
                      runs=2, seed="stamp", start=START)
    # Two stamps a day (the third is refused), every day from the day of the first visit.
    expected = sum(2 * (days - day) for day in range(days)) * visitors
    for run in result.runs:
        assert run.participations == expected
        assert run.refusals.get("joins_used_up") == expected // 2


def test_a_template_whose_own_first_step_needs_what_no_model_can_guess_is_not_forecast(
        tmp_path: Path) -> None:
    doc = minimal_template(id="named", kind="other")
    doc["actions"]["start"]["params"] = {
        "type": "object", "required": ["name"], "additionalProperties": False,
        "properties": {"name": {"type": "string", "minLength": 1}}}
    entry = entry_of(tmp_path, doc)
    assert behaviour_for(entry.compiled, entry.kind) is None
    with pytest.raises(AssumptionError, match="named"):
        forecast(entry, CONFIG, Assumptions(visitors_per_day=5, days=1), runs=1)


@pytest.mark.parametrize("spec, value", [
    ({"type": "integer", "minimum": 3, "maximum": 9}, 3),
    ({"type": "integer", "exclusiveMinimum": 4}, 5),
    ({"type": "number", "minimum": 0.5}, 1),
    ({"type": "string", "enum": ["red", "blue"]}, "red"),
    ({"type": "string", "default": "hi"}, "hi"),
    ({"type": "boolean"}, False),
])
def test_a_required_param_is_filled_in_from_its_schema(tmp_path: Path, spec: dict,
                                                       value: object) -> None:
    doc = minimal_template(id="filled", kind="other")
    doc["actions"]["start"]["params"] = {
        "type": "object", "required": ["x"], "additionalProperties": False,
        "properties": {"x": spec}}
    model = behaviour_for(entry_of(tmp_path, doc).compiled, "other")
    assert isinstance(model, Generic) and model.first_params == {"x": value}


def test_an_action_the_rules_never_refuse_is_taken_at_most_a_hundred_times_a_visit(
        tmp_path: Path) -> None:
    doc = minimal_template(id="tap", kind="other")
    doc["actions"] = {"tap": {"title": {"zh": "点", "en": "Tap"}, "by": "participant",
                              "effects": [{"add": {"path": "activity.teams", "value": 1}}]}}
    del doc["timers"]
    doc["views"] = {"activity": {"taps": {"var": "activity.teams"}}}
    doc["metrics"] = {"participation": ["tap"]}
    entry = entry_of(tmp_path, doc)
    result = forecast(entry, CONFIG, Assumptions(visitors_per_day=3, days=1,
                                                 conversion={**SURE, "share": 0.0}),
                      runs=1, seed="tap", start=START)
    assert result.runs[0].participations == 3 * 100
