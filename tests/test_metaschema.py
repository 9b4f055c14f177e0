"""The template meta-schema: shape errors are found, and each mistake is reported once, at the
JSON path of the offending node, in words that name the template concept."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator
from template_factory import minimal_template

from magic_cube.catalog.metaschema import (
    SCENARIO_SCHEMA,
    TEMPLATE_SCHEMA,
    load_schema,
    meta_problems,
    scenario_problems,
)
from magic_cube.catalog.problems import TemplateInvalid, TemplateProblem, format_path
from magic_cube.rules.effects import EFFECTS

FILE = "activity_templates/mini/template.json"


def problems_of(doc: dict) -> list[TemplateProblem]:
    return meta_problems(doc, FILE)


def paths(problems: list[TemplateProblem]) -> list[str]:
    return [p.path for p in problems]


def test_meta_schemas_are_valid_json_schema_2020_12():
    Draft202012Validator.check_schema(load_schema(TEMPLATE_SCHEMA))
    Draft202012Validator.check_schema(load_schema(SCENARIO_SCHEMA))


def test_minimal_template_passes():
    assert problems_of(minimal_template()) == []


def test_every_effect_the_interpreter_knows_has_a_definition():
    schema = load_schema(TEMPLATE_SCHEMA)
    assert schema["$defs"]["effect"]["propertyNames"]["enum"] == list(EFFECTS)
    for name in EFFECTS:
        assert schema["$defs"]["effect"]["properties"][name] == {"$ref": f"#/$defs/effect_{name}"}
        assert schema["$defs"][f"effect_{name}"]["additionalProperties"] is False


def test_dollar_schema_is_allowed_but_other_unknown_top_level_fields_are_not():
    doc = minimal_template(**{"$schema": "../../schemas/template.schema.json"})
    assert problems_of(doc) == []
    doc["colour"] = "red"
    [problem] = problems_of(doc)
    assert problem.path == "colour"
    assert "unexpected field" in problem.message


def test_missing_required_top_level_field_is_reported_at_the_root():
    doc = minimal_template()
    del doc["actions"]
    [problem] = problems_of(doc)
    assert (problem.path, problem.message) == ("", "'actions' is a required property")


@pytest.mark.parametrize("version", ["1.0", "v1.0.0", "01.0.0", "1.0.0-", "1.0.0+"])
def test_version_must_be_semver(version):
    [problem] = problems_of(minimal_template(version=version))
    assert problem.path == "version"
    assert "semantic version" in problem.message


@pytest.mark.parametrize("version", ["0.1.0", "1.2.3-beta.1", "10.20.30+build.5", "1.0.0-rc.1+x"])
def test_semver_variants_are_accepted(version):
    assert problems_of(minimal_template(version=version)) == []


@pytest.mark.parametrize("bad", ["Mini", "1mini", "mini team", ""])
def test_id_must_be_a_lowercase_identifier(bad):
    [problem] = problems_of(minimal_template(id=bad))
    assert problem.path == "id"


def test_i18n_text_needs_both_languages_and_nothing_else():
    doc = minimal_template(title={"zh": "迷你"})
    [problem] = problems_of(doc)
    assert (problem.path, problem.message) == ("title", "'en' is a required property")
    doc = minimal_template(title={"zh": "迷你", "en": "Mini", "fr": "Mini"})
    assert paths(problems_of(doc)) == ["title.fr"]


def test_kind_and_currency_are_checked():
    assert paths(problems_of(minimal_template(kind="raffle"))) == ["kind"]
    [problem] = problems_of(minimal_template(currency="rmb"))
    assert problem.path == "currency"
    assert "ISO 4217" in problem.message


def test_mistake_in_one_effect_gives_one_problem_naming_the_effect():
    doc = minimal_template()
    doc["actions"]["join"]["effects"][2] = {"add": {"path": "room.joined"}}
    [problem] = problems_of(doc)
    assert problem.path == "actions.join.effects[2].add"
    assert problem.message == "'value' is a required property"


def test_unknown_effect_is_reported_at_its_key():
    doc = minimal_template()
    doc["actions"]["join"]["effects"].append({"jion": {}})
    [problem] = problems_of(doc)
    assert problem.path == "actions.join.effects[5].jion"
    assert problem.message.startswith('unknown effect "jion"')


def test_effect_with_two_keys_gives_only_the_one_key_problem():
    doc = minimal_template()
    doc["actions"]["join"]["effects"].append({"set": {}, "add": {}})
    [problem] = problems_of(doc)
    assert problem.path == "actions.join.effects[5]"
    assert "exactly one key" in problem.message


def test_empty_effect_object_is_refused():
    doc = minimal_template()
    doc["actions"]["join"]["effects"].append({})
    [problem] = problems_of(doc)
    assert "exactly one key" in problem.message


def test_misspelt_effect_field_is_one_problem_with_a_suggestion():
    doc = minimal_template()
    doc["actions"]["join"]["effects"][2] = {"add": {"path": "room.joined", "valeu": 1}}
    [problem] = problems_of(doc)
    assert problem.path == "actions.join.effects[2].add.valeu"
    assert 'did you mean "value"' in problem.message


def test_effects_inside_if_and_each_are_validated():
    doc = minimal_template()
    doc["actions"]["join"]["effects"].append(
        {"each": {"in": [1, 2], "as": "n", "do": [
            {"if": {"rule": True, "then": [{"close": {"status": "won"}}]}}]}})
    [problem] = problems_of(doc)
    assert problem.path == "actions.join.effects[5].each.do[0].if.then[0].close.status"


def test_each_requires_its_body():
    doc = minimal_template()
    doc["actions"]["join"]["effects"].append({"each": {"in": [], "as": "n"}})
    [problem] = problems_of(doc)
    assert (problem.path, problem.message) == (
        "actions.join.effects[5].each", "'do' is a required property")


@pytest.mark.parametrize("path", ["stock", "config.stock", "activity", "me..x", "local.1x"])
def test_write_paths_must_name_a_scope_and_a_variable(path):
    doc = minimal_template()
    doc["actions"]["join"]["effects"].append({"set": {"path": path, "value": 1}})
    [problem] = problems_of(doc)
    assert problem.path == "actions.join.effects[5].set.path"
    assert "writable path" in problem.message


def test_room_variables_cannot_reset_daily():
    doc = minimal_template()
    doc["state"]["room"]["joined"]["reset"] = "daily"
    [problem] = problems_of(doc)
    assert problem.path == "state.room.joined.reset"


def test_state_declaration_needs_type_and_initial():
    doc = minimal_template()
    doc["state"]["activity"]["teams"] = {"type": "int", "initial": 0, "reset": "hourly"}
    assert sorted(paths(problems_of(doc))) == [
        "state.activity.teams.reset", "state.activity.teams.type"]


def test_error_codes_status_and_names_are_checked():
    doc = minimal_template()
    doc["errors"]["Too-Many"] = {"status": 500, "message": {"zh": "多", "en": "many"}}
    found = {p.path: p.message for p in problems_of(doc)}
    assert "errors.Too-Many" in found and "not a valid error code" in found["errors.Too-Many"]
    assert "between 400 and 499" in found["errors.Too-Many.status"]


def test_guard_error_code_must_look_like_a_code():
    doc = minimal_template()
    doc["actions"]["join"]["guards"][0]["error"] = "Already Joined"
    assert paths(problems_of(doc)) == ["actions.join.guards[0].error"]


def test_event_types_are_dotted_lowercase_words():
    doc = minimal_template()
    doc["metrics"]["completion"] = ["Team.Completed"]
    doc["actions"]["join"]["effects"].append({"emit": {"event": "team..done"}})
    assert paths(problems_of(doc)) == [
        "actions.join.effects[5].emit.event", "metrics.completion[0]"]


def test_action_fields_are_checked():
    doc = minimal_template()
    doc["actions"]["join"].update(by="anyone", room="maybe", room_status=["closed"])
    assert paths(problems_of(doc)) == [
        "actions.join.by", "actions.join.room", "actions.join.room_status[0]"]


def test_config_schema_must_be_an_object_schema():
    doc = minimal_template()
    doc["config"]["schema"] = {"type": "array"}
    assert paths(problems_of(doc)) == ["config.schema.type"]


def test_config_check_needs_rule_field_error_and_message():
    doc = minimal_template()
    doc["config"]["checks"] = [{"rule": True}]
    assert len(problems_of(doc)) == 3


def test_not_an_object_is_one_problem():
    [problem] = problems_of([])  # type: ignore[arg-type]
    assert problem.path == ""


def test_problem_paths_quote_keys_that_are_not_identifiers():
    assert format_path(["actions", "help", "guards", 2, "rule"]) == "actions.help.guards[2].rule"
    assert format_path(["rule", "==", 0]) == 'rule["=="][0]'
    assert format_path([]) == ""


def test_template_invalid_lists_file_path_and_message():
    problem = TemplateProblem("t.json", "actions.a", "oops", "x")
    error = TemplateInvalid([problem, TemplateProblem("t.json", "", "root", "y")])
    assert str(error) == "t.json: actions.a: oops\nt.json: (root): root"
    assert error.problems[0] is problem


DOCUMENTED_SCENARIO = {
    "title": "three helpers reach the floor",
    "config": {"price": 10000},
    "timezone": "Asia/Shanghai",
    "start": "2026-11-11T10:00:00+08:00",
    "seed": "scenario-seed",
    "steps": [
        {"actor": "alice", "action": "start", "save_room": "b1",
         "expect": {"result": {"price": 10000}}},
        {"actor": "bob", "action": "help", "room": "b1", "at": "+5m",
         "expect": {"events": ["bargain.cut"]}},
        {"actor": "alice", "action": "help", "room": "b1", "expect": {"error": "own_bargain"}},
        {"actor": "merchant", "subject": "bob", "action": "grant", "params": {"n": 1},
         "first_time": False},
        {"at": "+25h",
         "expect_state": {"room:b1": {"status": "expired"}, "me:bob": {}, "activity": {}}},
        {"at": "2026-11-13T00:00:00+08:00"},
    ],
}


def test_documented_scenario_passes_the_scenario_schema():
    assert scenario_problems(json.loads(json.dumps(DOCUMENTED_SCENARIO)), "s.json") == []


@pytest.mark.parametrize(("step", "path"), [
    ({"actor": "bob", "action": "help", "at": "5 minutes later"}, "steps[0].at"),
    ({"action": "help"}, "steps[0]"),
    ({"at": "+1h", "expect_state": {"room:b1": {"colour": "red"}}},
     'steps[0].expect_state["room:b1"].colour'),
    ({"at": "+1h", "expect_state": {"rooms": {}}}, "steps[0].expect_state"),
    ({"actor": "bob", "action": "help", "expect": {"error": "Bad Code"}}, "steps[0].expect.error"),
    ({"actor": "bob", "action": "help", "wait": 3}, "steps[0].wait"),
])
def test_scenario_mistakes_are_located(step, path):
    doc = {**DOCUMENTED_SCENARIO, "steps": [step]}
    found = paths(scenario_problems(doc, "s.json"))
    assert path in found or any(p.startswith(path) for p in found), found


def test_set_append_and_let_take_object_in_place_of_value():
    doc = minimal_template()
    doc["state"]["participant"]["log"] = {"type": "array", "initial": []}
    doc["actions"]["join"]["effects"] += [
        {"let": {"name": "entry", "object": {"at": {"var": "now"}}}},
        {"append": {"path": "me.log",
                    "object": {"at": {"var": "now"}, "size": {"var": "local.size"}}}},
    ]
    assert problems_of(doc) == []


def test_value_and_object_together_is_one_problem():
    doc = minimal_template()
    doc["actions"]["join"]["effects"].append(
        {"set": {"path": "room.joined", "value": 1, "object": {}}})
    [problem] = problems_of(doc)
    assert (problem.path, problem.message) == (
        "actions.join.effects[5].set", "give value or object, not both")


def test_neither_value_nor_object_is_one_problem():
    doc = minimal_template()
    doc["actions"]["join"]["effects"].append({"append": {"path": "room.joined"}})
    [problem] = problems_of(doc)
    assert problem.path == "actions.join.effects[5].append"
    assert problem.message.startswith("needs value (an expression) or object")


def test_a_time_step_may_expect_only_the_events_of_its_timers():
    doc = {**DOCUMENTED_SCENARIO, "steps": [{"at": "+1d", "expect": {"events": ["room.expired"]}}]}
    assert scenario_problems(doc, "s.json") == []
    doc["steps"] = [{"at": "+1d", "expect": {"result": {}}}]
    [problem] = scenario_problems(doc, "s.json")
    assert problem.path == "steps[0].expect.result"
    assert "only expect the events" in problem.message


@pytest.mark.parametrize("reset", ["daily", "weekly", "monthly"])
def test_state_resets_daily_weekly_or_monthly(reset):
    doc = minimal_template()
    doc["state"]["participant"]["joins_today"]["reset"] = reset
    assert problems_of(doc) == []


def test_definitions_is_a_map_of_named_expressions():
    assert problems_of(minimal_template(definitions={"a_b": {"var": "config.x"}, "c": 1})) == []
    assert paths(problems_of(minimal_template(definitions=[1]))) == ["definitions"]
