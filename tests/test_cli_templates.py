"""The template author's commands."""

import json
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner
from template_factory import minimal_template, write_template

from magic_cube.catalog import Catalog, validate_path
from magic_cube.catalog.labels import label_warnings_of
from magic_cube.catalog.metaschema import SCENARIO_SCHEMA, TEMPLATE_SCHEMA
from magic_cube.cli import cli
from magic_cube.scenarios import run_template_scenarios

ROOT = Path(__file__).resolve().parents[1]


def test_templates_list_shows_the_four_core_templates():
    result = CliRunner().invoke(cli, ["templates", "list"])
    assert result.exit_code == 0, result.output
    for template_id in ("bargain", "group_buy", "lottery", "gift"):
        assert template_id in result.output
    assert "INVALID" not in result.output


def test_templates_show_lists_actions_and_errors():
    result = CliRunner().invoke(cli, ["templates", "show", "bargain"])
    assert result.exit_code == 0, result.output
    assert "help" in result.output and "own_bargain" in result.output


def test_templates_show_unknown_template_fails():
    result = CliRunner().invoke(cli, ["templates", "show", "nope"])
    assert result.exit_code != 0
    assert "nope" in result.output


def test_templates_test_runs_every_scenario_and_passes():
    result = CliRunner().invoke(cli, ["templates", "test"])
    assert result.exit_code == 0, result.output
    assert " 0 failed" in result.output


def test_templates_new_scaffolds_a_template_that_validates_and_passes(tmp_path):
    result = CliRunner().invoke(cli, ["templates", "new", "check_in", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert validate_path(tmp_path / "check_in") == []
    assert label_warnings_of(tmp_path / "check_in") == []  # nothing left to guess either
    entry = Catalog.discover([tmp_path], entry_points=False).get("check_in")
    results = run_template_scenarios(entry)
    assert results and all(r.ok for r in results), [r.failures for r in results]


@pytest.mark.parametrize("source", ["lottery", "bargain", "group_buy", "gift", "collect_cards",
                                    "checkin_pool"])
def test_templates_new_from_a_bundled_template_copies_it_under_the_new_id(tmp_path, source):
    result = CliRunner().invoke(
        cli, ["templates", "new", "my_copy", "--from", source, "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "my_copy"
    assert validate_path(folder) == []
    doc = json.loads((folder / "template.json").read_text(encoding="utf-8"))
    assert (doc["id"], doc["version"]) == ("my_copy", "0.1.0")
    assert (folder / doc["$schema"]).resolve() == TEMPLATE_SCHEMA.resolve()
    assert (folder / "page.html").is_file()
    entry = Catalog.discover([tmp_path], entry_points=False).get("my_copy")
    results = run_template_scenarios(entry)
    assert results and all(r.ok for r in results), [r.failures for r in results]


def test_templates_new_from_an_unknown_template_says_so_and_writes_nothing(tmp_path):
    result = CliRunner().invoke(
        cli, ["templates", "new", "x", "--from", "no_such", "--dir", str(tmp_path)])
    assert result.exit_code != 0 and "no_such" in result.output
    assert not (tmp_path / "x").exists()


def test_templates_new_refuses_a_bad_name_or_an_existing_directory(tmp_path):
    runner = CliRunner()
    bad = runner.invoke(cli, ["templates", "new", "Bad Name", "--dir", str(tmp_path)])
    assert bad.exit_code != 0
    assert runner.invoke(cli, ["templates", "new", "x", "--dir", str(tmp_path)]).exit_code == 0
    again = runner.invoke(cli, ["templates", "new", "x", "--dir", str(tmp_path)])
    assert again.exit_code != 0 and "exists" in again.output


def test_templates_validate_reports_file_and_path_and_fails(tmp_path):
    runner = CliRunner()
    runner.invoke(cli, ["templates", "new", "broken", "--dir", str(tmp_path)])
    file = tmp_path / "broken" / "template.json"
    doc = json.loads(file.read_text())
    doc["actions"]["check_in"]["guards"][0]["rule"] = {"method": ["x", "upper"]}
    file.write_text(json.dumps(doc))
    result = runner.invoke(cli, ["templates", "validate", str(file)])
    assert result.exit_code == 1
    assert str(file) in result.output
    assert "actions.check_in.guards[0].rule" in result.output


def test_a_failing_scenario_is_reported_with_its_step(tmp_path):
    runner = CliRunner()
    runner.invoke(cli, ["templates", "new", "wrong", "--dir", str(tmp_path)])
    scenario = tmp_path / "wrong" / "scenarios" / "01_check_in.json"
    doc = json.loads(scenario.read_text())
    doc["steps"][0]["expect"]["result"]["days"] = 5
    scenario.write_text(json.dumps(doc))
    entry = Catalog.discover([tmp_path], entry_points=False).get("wrong")
    (result,) = run_template_scenarios(entry)
    assert not result.ok
    assert "steps[0]: result.days: expected 5, got 1" in result.failures


def test_templates_test_takes_a_template_folder_anywhere(tmp_path):
    runner = CliRunner()
    runner.invoke(cli, ["templates", "new", "mine", "--dir", str(tmp_path)])
    folder = tmp_path / "mine"
    result = runner.invoke(cli, ["templates", "test", str(folder)])
    assert result.exit_code == 0, result.output
    assert "PASS mine/01_check_in" in result.output and "1 passed, 0 failed" in result.output
    by_file = runner.invoke(cli, ["templates", "test", str(folder / "template.json")])
    assert by_file.exit_code == 0, by_file.output


def test_templates_test_finds_an_id_in_dir_like_list(tmp_path):
    runner = CliRunner()
    runner.invoke(cli, ["templates", "new", "mine", "--dir", str(tmp_path)])
    result = runner.invoke(cli, ["templates", "test", "mine", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "1 passed, 0 failed" in result.output
    missing = runner.invoke(cli, ["templates", "test", "lottery", "--dir", str(tmp_path)])
    assert missing.exit_code != 0


def test_templates_new_prints_a_next_step_that_works_and_a_schema_that_resolves(tmp_path,
                                                                               monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(cli, ["templates", "new", "deep", "--dir", "a/b c/d"])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "a" / "b c" / "d" / "deep"
    for step in result.output.split("`")[1::2]:
        args = shlex.split(step)
        assert args[:2] == ["magic-cube", "templates"]
        ran = runner.invoke(cli, args[1:])
        assert ran.exit_code == 0, (step, ran.output)
    template = json.loads((folder / "template.json").read_text())
    scenario = json.loads((folder / "scenarios" / "01_check_in.json").read_text())
    assert (folder / template["$schema"]).resolve() == TEMPLATE_SCHEMA
    assert (folder / "scenarios" / scenario["$schema"]).resolve() == SCENARIO_SCHEMA


def test_templates_validate_reports_meta_schema_and_semantic_problems_in_one_pass(tmp_path):
    runner = CliRunner()
    runner.invoke(cli, ["templates", "new", "two", "--dir", str(tmp_path)])
    file = tmp_path / "two" / "template.json"
    doc = json.loads(file.read_text())
    doc["actions"]["check_in"]["by"] = "someone"  # meta-schema
    doc["views"]["me"]["x"] = {"var": "me.nope"}  # semantic
    file.write_text(json.dumps(doc))
    result = runner.invoke(cli, ["templates", "validate", str(file)])
    assert result.exit_code == 1
    assert "actions.check_in.by" in result.output
    assert "views.me.x: reads me.nope" in result.output


def test_validate_flags_a_merchant_step_without_subject(tmp_path):
    runner = CliRunner()
    runner.invoke(cli, ["templates", "new", "m", "--dir", str(tmp_path)])
    scenario = tmp_path / "m" / "scenarios" / "01_check_in.json"
    doc = json.loads(scenario.read_text())
    doc["steps"][0]["actor"] = "merchant"
    scenario.write_text(json.dumps(doc))
    problems = validate_path(tmp_path / "m")
    # and check_in is a participant action besides: both are said at once
    assert [(p.path, p.code) for p in problems] == [("steps[0].action", "wrong_actor"),
                                                    ("steps[0]", "missing_subject")]
    result = runner.invoke(cli, ["templates", "test", str(tmp_path / "m")])
    assert result.exit_code == 1 and "needs `subject`" in result.output


def test_templates_validate_compiles_the_page_partial(tmp_path):
    runner = CliRunner()
    runner.invoke(cli, ["templates", "new", "paged", "--dir", str(tmp_path)])
    page = tmp_path / "paged" / "page.html"
    page.write_text("<p>ok</p>\n{% if x %}<p>{{ x }</p>", encoding="utf-8")
    for target in (tmp_path / "paged", tmp_path / "paged" / "template.json", tmp_path):
        result = runner.invoke(cli, ["templates", "validate", str(target)])
        assert result.exit_code == 1, result.output
        assert f"{page}: line 2: unexpected '}}'" in result.output
    page.write_text("<p>{{ tr(zh='好', en='fine') }}</p>", encoding="utf-8")
    assert runner.invoke(cli, ["templates", "validate", str(tmp_path)]).exit_code == 0



def test_validate_warns_of_view_keys_the_generic_page_would_show_by_name(tmp_path):
    runner = CliRunner()
    runner.invoke(cli, ["templates", "new", "bare", "--dir", str(tmp_path)])
    file = tmp_path / "bare" / "template.json"
    doc = json.loads(file.read_text())
    doc["views"]["me"]["streak"] = {"var": "me.days"}
    file.write_text(json.dumps(doc))
    result = runner.invoke(cli, ["templates", "validate", str(file)])
    assert result.exit_code == 0
    assert "views.me.streak: view key 'streak' has no zh/en label" in result.output
    (tmp_path / "bare" / "page.html").write_text("<p>{{ me.view.streak }}</p>")
    assert "streak" not in runner.invoke(cli, ["templates", "validate", str(file)]).output


def test_templates_list_fails_when_a_folder_is_missing_or_a_template_broken(tmp_path):
    missing = CliRunner().invoke(cli, ["templates", "list", "--dir", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "template directory not found" in missing.output


def test_validate_checks_a_scenarios_config_against_the_template(tmp_path):
    runner = CliRunner()
    runner.invoke(cli, ["templates", "new", "tried", "--dir", str(tmp_path)])
    [scenario] = (tmp_path / "tried" / "scenarios").glob("*.json")
    doc = json.loads(scenario.read_text())
    doc["config"] = {**doc.get("config", {}), "days_for_reward": "two"}
    scenario.write_text(json.dumps(doc))
    result = runner.invoke(cli, ["templates", "validate", str(tmp_path / "tried")])
    assert result.exit_code == 1
    assert "config.days_for_reward: Must be a whole number" in result.output


def test_validate_warns_of_a_view_that_compares_now(tmp_path):
    runner = CliRunner()
    runner.invoke(cli, ["templates", "new", "waves", "--dir", str(tmp_path)])
    file = tmp_path / "waves" / "template.json"
    doc = json.loads(file.read_text())
    doc["views"]["activity"]["open"] = {"<": [{"var": "now"}, 1900000000]}
    doc["views"]["activity"]["server_time"] = {"var": "now"}  # the time itself: fine
    file.write_text(json.dumps(doc))
    result = runner.invoke(cli, ["templates", "validate", str(file)])
    assert result.exit_code == 0
    assert "views.activity.open: view key 'open' reads now" in result.output
    assert "'server_time' reads now" not in result.output


def test_the_stale_view_warning_sees_through_definitions_and_spares_the_date(tmp_path):
    # A view's ETag carries the local date: a comparison of today's date never goes stale,
    # one of the time of day does, written out or behind a definition.
    runner = CliRunner()
    runner.invoke(cli, ["templates", "new", "days", "--dir", str(tmp_path)])
    file = tmp_path / "days" / "template.json"
    doc = json.loads(file.read_text())
    doc["definitions"] = {"noonish": {">": [{"time_of_day": {"var": "now"}}, 43200]},
                          "today_n": {"day_number": {"var": "now"}}}
    doc["views"]["me"].update({
        "after_noon": {"def": "noonish"},
        "new_week": {"===": [{"day_of_week": {"var": "now"}}, 1]},
        "day_left": {"-": [{"def": "today_n"}, 20000]},
        "shifted": {"day_number": {"+": [{"var": "now"}, 3600]}}})
    doc["view_labels"] = {k: {"zh": k, "en": k} for k in doc["views"]["me"]}
    file.write_text(json.dumps(doc))
    result = runner.invoke(cli, ["templates", "validate", str(file)])
    assert result.exit_code == 0, result.output
    stale = sorted(line.split("view key ")[1].split(" ")[0] for line in result.output.splitlines()
                   if "reads now" in line)
    assert stale == ["'after_noon'", "'shifted'"]


def test_the_commands_see_the_template_dirs_a_server_would_serve(tmp_path, monkeypatch):
    runner = CliRunner()
    runner.invoke(cli, ["templates", "new", "extra_one", "--dir", str(tmp_path)])
    assert "extra_one" not in runner.invoke(cli, ["templates", "list"]).output
    monkeypatch.setenv("MAGIC_CUBE_TEMPLATE_DIRS", str(tmp_path))
    listed = runner.invoke(cli, ["templates", "list"])
    assert "extra_one" in listed.output and "lottery" in listed.output
    assert runner.invoke(cli, ["templates", "show", "extra_one"]).exit_code == 0
    assert " 0 failed" in runner.invoke(cli, ["templates", "test", "extra_one"]).output


def test_templates_validate_warns_when_a_live_edit_would_not_reach_the_state(tmp_path):
    # `seats` starts from joins_per_day but not as exactly {"var": "config.joins_per_day"}:
    # the merchant's live edit would change the config and leave `seats` as it was.
    doc = minimal_template()
    doc["state"]["activity"]["seats"] = {
        "type": "integer", "initial": {"*": [{"var": "config.joins_per_day"}, 2]}}
    doc["state"]["activity"]["left"] = {
        "type": "integer", "initial": {"var": "config.joins_per_day"}}
    write_template(tmp_path, doc)
    assert validate_path(tmp_path / "mini") == []
    warnings = label_warnings_of(tmp_path / "mini")
    assert [w.path for w in warnings if w.code == "live_edit_not_followed"] == [
        "state.activity.seats.initial"]
    result = CliRunner().invoke(cli, ["templates", "validate", str(tmp_path / "mini")])
    assert result.exit_code == 0
    assert "a live edit of joins_per_day changes only the config" in result.output


def test_templates_validate_warns_of_a_division_stored_in_an_integer(tmp_path):
    doc = minimal_template()
    doc["state"]["activity"]["average"] = {"type": "integer", "initial": 0}
    doc["state"]["activity"]["ratio"] = {"type": "number", "initial": 0}
    effects = doc["actions"]["join"]["effects"]
    effects += [
        {"set": {"path": "activity.average",  # 7 / 2 is refused at run time
                 "value": {"+": [1, {"/": [{"var": "activity.teams"}, 2]}]}}},
        {"set": {"path": "activity.average",  # made whole: fine
                 "value": {"floor": {"/": [{"var": "activity.teams"}, 2]}}}},
        {"set": {"path": "activity.ratio",  # a number may be a fraction
                 "value": {"/": [{"var": "activity.teams"}, 3]}}},
        {"if": {"rule": True, "then": [
            {"add": {"path": "me.joins_today", "value": {"*": [{"var": "room.joined"}, 0.5]}}}]}},
    ]
    write_template(tmp_path, doc)
    assert validate_path(tmp_path / "mini") == []
    warned = [w.path for w in label_warnings_of(tmp_path / "mini")
              if w.code == "fraction_into_integer"]
    n = len(effects)
    assert warned == [f"actions.join.effects[{n - 4}].set.value",
                      f"actions.join.effects[{n - 1}].if.then[0].add.value"]
    result = CliRunner().invoke(cli, ["templates", "validate", str(tmp_path / "mini")])
    assert result.exit_code == 0 and 'wrap the division in "floor" or "ceil"' in result.output


def test_templates_validate_warns_of_a_required_param_no_shopper_page_can_send(tmp_path):
    doc = minimal_template()
    doc["actions"]["start"]["params"] = {
        "type": "object", "required": ["answers", "note"], "additionalProperties": False,
        "properties": {"answers": {"type": "array", "items": {"type": "integer"}},
                       "note": {"type": "string"},
                       "extra": {"type": "object"}}}  # optional: the form leaves it out
    write_template(tmp_path, doc)
    assert validate_path(tmp_path / "mini") == []
    warned = [w.path for w in label_warnings_of(tmp_path / "mini") if w.code == "param_not_on_page"]
    assert warned == ["actions.start.params.properties.answers"]
    result = CliRunner().invoke(cli, ["templates", "validate", str(tmp_path / "mini")])
    assert result.exit_code == 0
    assert "param 'answers' is an array, which the shopper page cannot send" in result.output


def test_templates_validate_warns_of_a_done_message_naming_no_key_of_the_result(tmp_path):
    doc = minimal_template()
    doc["actions"]["join"]["done"] = {"zh": "已加入，现在 {size} 人",
                                      "en": "Joined: {seats} of {size}"}
    doc["actions"]["start"]["done"] = {"zh": "已开团 {room}", "en": "Started {price|money}"}
    write_template(tmp_path, doc)
    assert validate_path(tmp_path / "mini") == []  # a message is no rule: a warning
    warned = [(w.path, w.message) for w in label_warnings_of(tmp_path / "mini")
              if w.code == "unknown_result_key"]
    assert [path for path, _ in warned] == ["actions.start.done.en", "actions.join.done.en"]
    assert "{price} names no key of this action's result (room)" in warned[0][1]
    result = CliRunner().invoke(cli, ["templates", "validate", str(tmp_path / "mini")])
    assert result.exit_code == 0 and "{seats} names no key" in result.output


def test_the_bundled_templates_say_what_each_participant_action_did():
    for file in sorted((ROOT / "activity_templates").glob("*/template.json")):
        doc = json.loads(file.read_text())
        for name, action in doc["actions"].items():
            if action.get("by") == "participant":
                assert action.get("done", {}).get("zh") and action["done"].get("en"), (file, name)
    assert not [w for w in label_warnings_of(ROOT / "activity_templates")
                if w.code == "unknown_result_key"]
