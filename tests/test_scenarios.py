"""Every template's scenario files pass, and together they exercise every refusal a template
declares for its guards and effects."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from activity_configs import CONFIGS
from template_factory import i18n, minimal_template, write_template

from magic_cube.catalog import validate_path
from magic_cube.catalog.config import ConfigValidator
from magic_cube.catalog.metaschema import scenario_problems
from magic_cube.rules.compiler import CompiledTemplate, compile_template
from magic_cube.scenarios import run_scenario

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES_DIR = ROOT / "activity_templates"
BUILT_IN_TEMPLATES = ("bargain", "group_buy", "lottery", "gift")

# Declared codes that no sequence of actions on a valid config can produce: the guard is a
# belt-and-braces check behind an effect that closes the room first. A join on a group that has
# just filled, or a claim on a pack whose last share has gone, meets `room_closed` instead (the
# room closes as `succeeded` in the very action that fills it). Each entry must stay declared
# and stay unexpected by the scenarios; if a template change makes one reachable, cover it with
# a scenario and drop it from here.
UNREACHABLE: dict[tuple[str, str], str] = {
    ("group_buy", "group_full"): "join closes the group as succeeded when it fills",
    ("gift", "pack_empty"): "claim closes the pack as succeeded when the last share goes",
}


def _scenario_files() -> list[Path]:
    return sorted(TEMPLATES_DIR.glob("*/scenarios/*.json"))


def _scenario_id(path: Path) -> str:
    return f"{path.parent.parent.name}/{path.stem}"


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def _template_doc(template_id: str) -> dict[str, Any]:
    return _load(TEMPLATES_DIR / template_id / "template.json")


@cache
def _compiled(template_id: str) -> CompiledTemplate:
    return compile_template(_template_doc(template_id))


@cache
def _config_validator(template_id: str) -> ConfigValidator:
    return ConfigValidator.for_template(_template_doc(template_id))


def fill_defaults(template_id: str, config: dict[str, Any]) -> dict[str, Any]:
    filled: dict[str, Any] = _config_validator(template_id).fill_defaults(config)
    return filled


SCENARIOS = _scenario_files()


@pytest.mark.parametrize("path", SCENARIOS, ids=[_scenario_id(p) for p in SCENARIOS])
def test_scenario_passes(path: Path) -> None:
    template_id = path.parent.parent.name
    template = _compiled(template_id)
    result = run_scenario(template, _load(path), str(path.relative_to(ROOT)),
                          prepare_config=lambda config: fill_defaults(template_id, config))
    assert result.steps > 0
    assert result.ok, f"{_scenario_id(path)} failed:\n" + "\n".join(result.failures)


@pytest.mark.parametrize("path", SCENARIOS, ids=[_scenario_id(p) for p in SCENARIOS])
def test_scenario_config_is_a_valid_merchant_config(path: Path) -> None:
    validator = _config_validator(path.parent.parent.name)
    _, errors = validator.validate(_load(path)["config"])
    assert errors == {}


@pytest.mark.parametrize("path", SCENARIOS, ids=[_scenario_id(p) for p in SCENARIOS])
def test_scenario_file_matches_the_scenario_schema(path: Path) -> None:
    problems = scenario_problems(_load(path), str(path))
    assert not problems, "\n".join(str(p) for p in problems)


@pytest.mark.parametrize("template_id", BUILT_IN_TEMPLATES)
def test_each_built_in_template_has_at_least_three_scenarios(template_id: str) -> None:
    found = sorted((TEMPLATES_DIR / template_id / "scenarios").glob("*.json"))
    assert len(found) >= 3, [p.name for p in found]


def _effect_codes(effects: list[dict[str, Any]]) -> set[str]:
    """Error codes an effect list can refuse with (explicit ones, not the built-in defaults)."""
    codes: set[str] = set()
    for effect in effects:
        for name, body in effect.items():
            if not isinstance(body, dict):
                continue
            for key in ("error", "full_error", "twice_error"):
                if isinstance(body.get(key), str):
                    codes.add(body[key])
            if name == "if":
                codes |= _effect_codes(body.get("then", [])) | _effect_codes(body.get("else", []))
            elif name == "each":
                codes |= _effect_codes(body.get("do", []))
    return codes


def action_codes(doc: dict[str, Any]) -> set[str]:
    """Codes used by a guard or an effect of any action of the template."""
    codes: set[str] = set()
    for action in doc.get("actions", {}).values():
        codes |= {g["error"] for g in action.get("guards", [])}
        codes |= _effect_codes(action.get("effects", []))
    return codes


def expected_errors(template_id: str) -> set[str]:
    codes = set()
    for path in sorted((TEMPLATES_DIR / template_id / "scenarios").glob("*.json")):
        for step in _load(path).get("steps", []):
            error = step.get("expect", {}).get("error")
            if error:
                codes.add(error)
    return codes


def test_effect_code_walker_finds_nested_codes() -> None:
    effects = [{"if": {"rule": True,
                       "then": [{"add": {"path": "me.x", "value": 1, "error": "a"}}],
                       "else": [{"each": {"in": [], "as": "i",
                                          "do": [{"reject": {"error": "b"}}]}}]}},
               {"join": {"full_error": "c", "twice_error": "d"}}]
    assert _effect_codes(effects) == {"a", "b", "c", "d"}


@pytest.mark.parametrize("template_id", BUILT_IN_TEMPLATES)
def test_every_guard_and_effect_refusal_is_covered_by_a_scenario(template_id: str) -> None:
    doc = _template_doc(template_id)
    declared = set(doc.get("errors", {}))
    check_codes = {c["error"] for c in doc.get("config", {}).get("checks", [])}
    wanted = (declared & action_codes(doc)) - check_codes
    exempt = {code for (tid, code) in UNREACHABLE if tid == template_id}
    missing = wanted - expected_errors(template_id) - exempt
    assert not missing, f"{template_id}: no scenario step expects {sorted(missing)}"


@pytest.mark.parametrize(("template_id", "code"), sorted(UNREACHABLE))
def test_unreachable_exemptions_are_still_current(template_id: str, code: str) -> None:
    doc = _template_doc(template_id)
    assert code in doc.get("errors", {}) and code in action_codes(doc), "exemption is stale"
    assert code not in expected_errors(template_id), "now covered: drop the exemption"


# --- share links and voids in scenarios -------------------------------------------------------


def _inviting_template() -> CompiledTemplate:
    """A template whose rules read who invited the actor: each `visit` records it."""
    doc = minimal_template()
    doc["state"]["participant"]["came_via"] = {"type": "string", "initial": ""}
    doc["state"]["participant"]["generation"] = {"type": "integer", "initial": 0}
    doc["actions"]["visit"] = {
        "title": i18n("来访", "Visit"), "by": "participant",
        "effects": [{"set": {"path": "me.came_via", "value": {"??": [{"var": "actor.inviter"},
                                                                     ""]}}},
                    {"set": {"path": "me.generation", "value": {"var": "actor.generation"}}}],
        "result": {"invited": {"var": "actor.invited"}}}
    return compile_template(doc)


def test_a_step_via_a_sharer_makes_them_the_inviter_from_the_first_action_on() -> None:
    scenario = {"title": "via", "config": {"team_size": 2}, "start": "2026-11-11T10:00:00+08:00",
                "steps": [
                    {"actor": "amy", "action": "visit", "device": "amy-phone-01"},
                    {"actor": "bob", "action": "visit", "via": "amy",
                     "expect": {"result": {"invited": True}}},
                    {"actor": "bob", "action": "visit",
                     "expect_state": {"me:bob": {"came_via": "amy", "generation": 1}}},
                    {"actor": "cat", "action": "visit", "via": "bob",
                     "expect_state": {"me:cat": {"came_via": "bob", "generation": 2}}},
                    # a later link changes nothing: the first action named no one
                    {"actor": "amy", "action": "visit", "via": "cat",
                     "expect": {"result": {"invited": False}}},
                    # a second account on the sharer's phone is no invitee
                    {"actor": "amy2", "action": "visit", "via": "amy", "device": "amy-phone-01",
                     "expect": {"result": {"invited": False}}},
                    {"actor": "dan", "action": "visit", "via": "dan",
                     "expect": {"result": {"invited": False}}}]}
    assert scenario_problems(scenario, "s.json") == []
    result = run_scenario(_inviting_template(), scenario)
    assert result.ok, result.failures


def test_a_void_step_runs_the_void_actions_and_blocks_the_participant() -> None:
    scenario = {"title": "void", "config": {"prizes": [{"name": "Mug", "type": "physical",
                                                        "stock": 2, "odds": 10000}]},
                "start": "2026-11-11T10:00:00+08:00",
                "steps": [
                    {"actor": "amy", "action": "draw", "expect": {"result": {"hit": True}}},
                    {"actor": "bob", "action": "draw",
                     "expect_state": {"activity": {"stock": [0], "wins": 2}}},
                    {"void": "amy", "expect": {"events": ["prize.voided"]},
                     "expect_state": {"activity": {"stock": [1], "wins": 1},
                                      "me:amy": {"prizes": []}}},
                    {"actor": "amy", "action": "draw",
                     "expect": {"error": "participant_blocked"}},
                    {"actor": "cat", "action": "draw", "expect": {"result": {"hit": True}}}]}
    assert scenario_problems(scenario, "s.json") == []
    result = run_scenario(_compiled("lottery"), scenario,
                          prepare_config=lambda config: fill_defaults("lottery", config))
    assert result.ok, result.failures
    never = {**scenario, "steps": [{"void": "zed"}]}
    assert run_scenario(_compiled("lottery"), never, prepare_config=lambda config:
                        fill_defaults("lottery", config)).failures == [
        "steps[0]: void of zed: void refused with 'participant_not_found'"]


def test_a_refused_step_says_why_without_a_gap() -> None:
    scenario = {"title": "refused", "config": {"team_size": 2},
                "start": "2026-11-11T10:00:00+08:00",
                "steps": [{"actor": "amy", "action": "expire"}]}
    result = run_scenario(_inviting_template(), scenario)
    assert result.failures == ["steps[0]: expire by amy: expected success, got error "
                               "'not_allowed': expire is performed by timer"]


def test_validate_names_a_step_whose_actor_cannot_perform_its_action(tmp_path: Path) -> None:
    doc = _template_doc("lottery")
    write_template(tmp_path, doc)
    steps = [{"actor": "amy", "action": "void"},
             {"actor": "merchant", "subject": "amy", "action": "draw"},
             {"actor": "amy", "action": "grant", "params": {"count": 1}},
             {"actor": "amy", "action": "grant", "params": {"count": 1},
              "expect": {"error": "not_allowed"}}]
    (tmp_path / "lottery" / "scenarios").mkdir()
    (tmp_path / "lottery" / "scenarios" / "s.json").write_text(json.dumps({
        "title": "t", "config": CONFIGS["lottery"], "start": "2026-11-11T10:00:00+08:00",
        "steps": steps}))
    problems = validate_path(tmp_path / "lottery")
    assert [(p.path, p.code) for p in problems] == [
        ("steps[0].action", "wrong_actor"), ("steps[1].action", "wrong_actor"),
        ("steps[2].action", "wrong_actor")]
    assert '{"void": NAME}' in problems[0].message
