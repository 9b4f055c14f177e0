"""Every kind of authoring mistake gives a clear problem naming the file and the JSON path, and
a good template in the same directory still loads."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from template_factory import minimal_template, write_template

from magic_cube.catalog import Catalog, TemplateInvalid, validate_path
from magic_cube.catalog.catalog import load_template

Mutate = Callable[[dict], None]


def _effects(doc: dict, action: str) -> list:
    return doc["actions"][action]["effects"]


def missing_id(doc: dict) -> None:
    del doc["id"]


def bad_semver(doc: dict) -> None:
    doc["version"] = "1.0"


def unknown_effect(doc: dict) -> None:
    _effects(doc, "join").insert(1, {"jion": {}})


def effect_missing_a_field(doc: dict) -> None:
    _effects(doc, "join")[0] = {"add": {"path": "me.joins_today"}}


def undeclared_state_read(doc: dict) -> None:
    doc["actions"]["join"]["guards"][0]["rule"] = {"<": [{"var": "me.helps_today"}, 3]}


def write_to_undeclared_state(doc: dict) -> None:
    _effects(doc, "start")[1] = {"add": {"path": "activity.team_count", "value": 1}}


def unknown_operator(doc: dict) -> None:
    doc["actions"]["join"]["guards"][0]["rule"] = {"and": [True, {"frobnicate": [1]}]}


def method_operator(doc: dict) -> None:
    doc["views"]["me"]["keys"] = {"method": [{"var": "me"}, "keys"]}


def undeclared_error_code(doc: dict) -> None:
    doc["actions"]["join"]["guards"][0]["error"] = "team_is_mine"


def timer_naming_a_missing_action(doc: dict) -> None:
    doc["timers"]["expire"]["action"] = "expire_room"


def metrics_naming_a_missing_action(doc: dict) -> None:
    doc["metrics"]["participation"] = ["start", "help"]


def completion_naming_an_event_never_emitted(doc: dict) -> None:
    doc["metrics"]["completion"] = ["team.complete"]


def funnel_naming_an_event_never_emitted(doc: dict) -> None:
    doc["funnel"] = [{"event": "team.done", "label": {"zh": "成团", "en": "Team done"}}]


def fulfilment_of_an_event_never_emitted(doc: dict) -> None:
    doc["fulfilment"] = {"team.won": {"members": True, "item": {"value": "Mug"}}}


def fulfilment_reading_a_key_the_event_lacks(doc: dict) -> None:
    doc["fulfilment"] = {"team.completed": {"participant": "winner", "item": {"value": "Mug"}}}


def set_a_literal_of_the_wrong_type(doc: dict) -> None:
    _effects(doc, "start").append({"set": {"path": "activity.teams", "value": "many"}})


def default_failing_its_own_schema(doc: dict) -> None:
    doc["config"]["schema"]["properties"]["hours"]["default"] = 0


def join_without_a_room(doc: dict) -> None:
    _effects(doc, "start").insert(0, {"join": {}})


def bad_config_schema(doc: dict) -> None:
    doc["config"]["schema"]["properties"]["team_size"]["type"] = "int"


def money_widget_on_a_number(doc: dict) -> None:
    doc["config"]["schema"]["properties"]["team_size"]["type"] = "number"
    doc["config"]["schema"]["properties"]["team_size"]["x-ui"] = {"widget": "money"}


def money_widget_on_a_string_param(doc: dict) -> None:
    doc["actions"]["start"]["params"]["properties"]["tip"] = {
        "type": "string", "x-ui": {"widget": "money"}}


def live_editable_missing_field(doc: dict) -> None:
    doc["config"]["live_editable"] = ["stock"]


def local_never_bound(doc: dict) -> None:
    doc["actions"]["join"]["result"]["cut"] = {"var": "local.cut"}


def view_reading_params(doc: dict) -> None:
    doc["views"]["me"]["choice"] = {"var": "params.choice"}


def undeclared_config_read(doc: dict) -> None:
    doc["timers"]["expire"]["after"] = {"*": [{"var": "config.hour"}, 3600]}


def room_read_outside_a_room(doc: dict) -> None:
    doc["views"]["activity"]["joined"] = {"var": "room.joined"}


def check_reading_state(doc: dict) -> None:
    doc["config"]["checks"][0]["rule"] = {"<": [{"var": "activity.teams"}, 1]}


def two_rooms_in_one_action(doc: dict) -> None:
    _effects(doc, "start").append({"create_room": {}})


def schedule_of_an_undeclared_timer(doc: dict) -> None:
    _effects(doc, "join").append({"schedule": {"timer": "remind", "at": {"var": "now"}}})


def timer_action_callable_by_participants(doc: dict) -> None:
    doc["actions"]["expire"]["by"] = "participant"


def bad_params_schema(doc: dict) -> None:
    doc["actions"]["start"]["params"] = {"type": "object", "required": "team"}


def add_to_a_string_variable(doc: dict) -> None:
    doc["state"]["activity"]["teams"]["type"] = "string"
    doc["state"]["activity"]["teams"]["initial"] = ""


def check_field_missing(doc: dict) -> None:
    doc["config"]["checks"][0]["field"] = "joins_a_day"


def local_read_before_bound(doc: dict) -> None:
    doc["actions"]["join"]["guards"][0]["rule"] = {"var": "local.size"}


def object_reading_an_undeclared_variable(doc: dict) -> None:
    _effects(doc, "join").append({"let": {"name": "row", "object": {"n": {"var": "me.joins"}}}})


def them_outside_with(doc: dict) -> None:
    _effects(doc, "join").append({"add": {"path": "them.joins_today", "value": 1}})


def them_read_outside_with(doc: dict) -> None:
    doc["actions"]["join"]["guards"][0]["rule"] = {"<": [{"var": "them.joins_today"}, 3]}


def with_writing_undeclared_state(doc: dict) -> None:
    _effects(doc, "join").append({"with": {"participant": {"var": "room_info.initiator"},
                                           "do": [{"add": {"path": "them.gifts", "value": 1}}]}})


def keyed_add_to_a_string_map(doc: dict) -> None:
    doc["state"]["participant"]["tags"] = {"type": "map", "values": "string", "initial": {}}
    _effects(doc, "join").append({"add": {"path": "me.tags", "key": "x", "value": 1}})


def keyed_write_to_a_number(doc: dict) -> None:
    _effects(doc, "join").append({"set": {"path": "me.joins_today", "key": "x", "value": 1}})


def max_keys_on_an_integer(doc: dict) -> None:
    doc["state"]["participant"]["joins_today"]["max_keys"] = 3


def remove_key_from_an_array(doc: dict) -> None:
    doc["state"]["participant"]["seen"] = {"type": "array", "initial": []}
    _effects(doc, "join").append({"remove": {"path": "me.seen", "key": "x"}})


def _activity_timer(doc: dict, timer: dict, effects: list | None = None,
                    room: str = "none") -> None:
    doc["actions"]["tally"] = {"title": {"zh": "统计", "en": "Tally"}, "by": "timer",
                               "room": room,
                               "effects": effects or [{"add": {"path": "activity.teams",
                                                               "value": 1}}]}
    doc["timers"]["tally"] = {**timer, "action": "tally"}


def activity_timer_in_a_room(doc: dict) -> None:
    _activity_timer(doc, {"daily": "20:00"}, [{"close": {"status": "expired"}}], room="target")


def activity_timer_writing_me(doc: dict) -> None:
    _activity_timer(doc, {"daily": "20:00"}, [{"add": {"path": "me.joins_today", "value": 1}}])


def activity_timer_at_a_plain_string(doc: dict) -> None:
    _activity_timer(doc, {"at": "2026-11-11T20:00:00+08:00"})


def activity_timer_daily_at_no_time_of_day(doc: dict) -> None:
    _activity_timer(doc, {"daily": ["10:00", "25:00"]})


def activity_timer_daily_at_a_time_field(doc: dict) -> None:
    doc["config"]["schema"]["properties"]["tally_time"] = {"type": "string", "format": "time"}
    _activity_timer(doc, {"daily": {"var": "config.tally_time"}})


def activity_timer_at_a_date_time_config(doc: dict) -> None:
    doc["config"]["schema"]["properties"]["split_at"] = {"type": "string", "format": "date-time"}
    _activity_timer(doc, {"at": {"var": "config.split_at"}})


def activity_timer_reading_me(doc: dict) -> None:
    _activity_timer(doc, {"at": {"var": "me.joins_today"}})


def timer_with_two_schedules(doc: dict) -> None:
    _activity_timer(doc, {"daily": "20:00", "at": "end"})


def _limit(doc: dict, action: str, **limit: object) -> None:
    doc["actions"][action]["limits"] = [{"per": "device", "within": "day", "max": 1,
                                         "error": "joins_used_up", **limit}]


def limit_with_an_undeclared_error(doc: dict) -> None:
    _limit(doc, "join", error="device_used_up")


def limit_per_room_outside_a_room(doc: dict) -> None:
    _limit(doc, "start", within="room")


def limit_max_reading_state(doc: dict) -> None:
    _limit(doc, "join", max={"var": "me.joins_today"})


def limit_on_a_timer_action(doc: dict) -> None:
    _limit(doc, "expire")


def limit_per_something_unknown(doc: dict) -> None:
    _limit(doc, "join", per="phone_number")


def shared_limit_counting_differently(doc: dict) -> None:
    _limit(doc, "start", id="daily")
    _limit(doc, "join", id="daily", per="address")


CASES: list[tuple[Mutate, str, str, str]] = [
    # (mutation, JSON path, problem code, words the message must contain)
    (missing_id, "", "schema.required", "'id' is a required property"),
    (bad_semver, "version", "schema.pattern", "semantic version"),
    (unknown_effect, "actions.join.effects[1].jion", "schema.enum", "unknown effect"),
    (effect_missing_a_field, "actions.join.effects[0].add", "schema.required", "'value'"),
    (undeclared_state_read, "actions.join.guards[0].rule", "undeclared_state", "me.helps_today"),
    (write_to_undeclared_state, "actions.start.effects[1].add.path", "undeclared_state",
     "team_count"),
    (unknown_operator, "actions.join.guards[0].rule.and[1]", "unknown_operator", "frobnicate"),
    (method_operator, "views.me.keys", "unknown_operator", "method"),
    (undeclared_error_code, "actions.join.guards[0].error", "undeclared_error", "team_is_mine"),
    (timer_naming_a_missing_action, "timers.expire.action", "unknown_action", "expire_room"),
    (metrics_naming_a_missing_action, "metrics.participation[1]", "unknown_action", "help"),
    (completion_naming_an_event_never_emitted, "metrics.completion[0]", "unknown_event",
     "'team.complete' is never emitted"),
    (funnel_naming_an_event_never_emitted, "funnel[0].event", "unknown_event", "team.done"),
    (fulfilment_of_an_event_never_emitted, "fulfilment[\"team.won\"]", "unknown_event",
     "team.won"),
    (fulfilment_reading_a_key_the_event_lacks, "fulfilment[\"team.completed\"].participant",
     "unknown_event_data", "'winner' is not a key"),
    (set_a_literal_of_the_wrong_type, "actions.start.effects[2].set.value", "wrong_type",
     "'many' is not an integer"),
    (default_failing_its_own_schema, "config.schema.properties.hours.default", "bad_default",
     "minimum of 1"),
    (join_without_a_room, "actions.start.effects[0].join", "room_not_available", "needs a room"),
    (bad_config_schema, "config.schema.properties.team_size.type", "bad_schema",
     "not a valid JSON Schema"),
    (money_widget_on_a_number, "config.schema.properties.team_size.x-ui.widget",
     "money_not_integer", "whole number of fen"),
    (money_widget_on_a_string_param, "actions.start.params.properties.tip.x-ui.widget",
     "money_not_integer", '"type": "integer", not "string"'),
    (live_editable_missing_field, "config.live_editable[0]", "unknown_config_field", "stock"),
    (local_never_bound, "actions.join.result.cut", "unbound_local", "never bound"),
    (view_reading_params, "views.me.choice", "name_not_allowed", "cannot read params"),
    (undeclared_config_read, "timers.expire.after", "undeclared_config", "config.hour"),
    (room_read_outside_a_room, "views.activity.joined", "name_not_allowed", "cannot read room"),
    (check_reading_state, "config.checks[0].rule", "name_not_allowed", "cannot read activity"),
    (two_rooms_in_one_action, "actions.start.effects[2].create_room", "create_room_twice",
     "at most one room"),
    (schedule_of_an_undeclared_timer, "actions.join.effects[5].schedule.timer", "unknown_timer",
     "remind"),
    (timer_action_callable_by_participants, "timers.expire.action", "timer_action_not_by_timer",
     '"by": "timer"'),
    (bad_params_schema, "actions.start.params.required", "bad_schema", "params schema"),
    (add_to_a_string_variable, "actions.start.effects[1].add.path", "wrong_type",
     "declared as string"),
    (check_field_missing, "config.checks[0].field", "unknown_config_field", "joins_a_day"),
    (object_reading_an_undeclared_variable, "actions.join.effects[5].let.object.n",
     "undeclared_state", "me.joins"),
    (local_read_before_bound, "actions.join.guards[0].rule", "unbound_local", "before it is bound"),
    (them_outside_with, "actions.join.effects[5].add.path", "them_not_available", "inside with"),
    (them_read_outside_with, "actions.join.guards[0].rule", "them_not_available", "inside with"),
    (with_writing_undeclared_state, "actions.join.effects[5].with.do[0].add.path",
     "undeclared_state", "gifts"),
    (keyed_add_to_a_string_map, "actions.join.effects[5].add.path", "wrong_type",
     "string values"),
    (keyed_write_to_a_number, "actions.join.effects[5].set.path", "wrong_type",
     "declared as integer"),
    (max_keys_on_an_integer, "state.participant.joins_today.max_keys", "wrong_type",
     "only applies to a map"),
    (remove_key_from_an_array, "actions.join.effects[5].remove.path", "wrong_type",
     "declared as array"),
    (activity_timer_in_a_room, "timers.tally.action", "activity_timer_action_in_room",
     '"room": "none"'),
    (activity_timer_writing_me, "actions.tally.effects[0].add.path", "activity_timer_writes_me",
     "me.joins_today"),
    (activity_timer_at_a_plain_string, "timers.tally.at", "bad_timer_time", '"end"'),
    (activity_timer_daily_at_no_time_of_day, "timers.tally.daily[1]", "bad_timer_time",
     "'25:00' is no time of day"),
    (activity_timer_daily_at_a_time_field, "timers.tally.daily", "daily_time_with_offset",
     "config.tally_time"),
    (activity_timer_at_a_date_time_config, "timers.tally.at", "date_time_compared_with_number",
     "date_time"),
    (activity_timer_reading_me, "timers.tally.at", "name_not_allowed", "cannot read me"),
    (timer_with_two_schedules, "timers.tally", "schema.oneOf", ""),
    (limit_with_an_undeclared_error, "actions.join.limits[0].error", "undeclared_error",
     "device_used_up"),
    (limit_per_room_outside_a_room, "actions.start.limits[0].within", "room_not_available",
     '"room": "target"'),
    (limit_max_reading_state, "actions.join.limits[0].max", "name_not_allowed",
     "cannot read me"),
    (limit_on_a_timer_action, "actions.expire.limits[0]", "limit_never_counted",
     "participants' actions"),
    (limit_per_something_unknown, "actions.join.limits[0].per", "schema.enum", ""),
    (shared_limit_counting_differently, "actions.join.limits[0].id", "limit_id_mismatch",
     "per device within day"),
]


def broken_template(mutate: Mutate) -> dict:
    doc = minimal_template(id="broken")
    mutate(doc)
    return doc


def catalog_with(tmp_path: Path, bad: dict | str) -> tuple[Catalog, Path]:
    """A directory with the good minimal template and one bad one, discovered."""
    write_template(tmp_path, minimal_template())
    bad_dir = tmp_path / "broken"
    bad_dir.mkdir()
    bad_file = bad_dir / "template.json"
    text = bad if isinstance(bad, str) else json.dumps(bad, indent=2)
    bad_file.write_text(text, encoding="utf-8")
    return Catalog.discover([tmp_path], entry_points=False), bad_file.resolve()


@pytest.mark.parametrize(("mutate", "path", "code", "words"), CASES,
                         ids=[c[0].__name__ for c in CASES])
def test_mistake_is_reported_with_file_and_path_and_the_good_template_still_loads(
        tmp_path, mutate, path, code, words):
    catalog, bad_file = catalog_with(tmp_path, broken_template(mutate))
    assert catalog.get("mini").version == "1.0.0"
    assert "broken" not in catalog
    matching = [p for p in catalog.problems if p.path == path and p.code == code]
    assert matching, [str(p) for p in catalog.problems]
    assert all(p.file == str(bad_file) for p in catalog.problems)
    assert words in matching[0].message
    assert str(matching[0]).startswith(f"{bad_file}: ")


def test_json_syntax_error_gives_line_and_column(tmp_path):
    catalog, bad_file = catalog_with(tmp_path, '{\n  "id": "broken",\n  "version": \n}\n')
    [problem] = catalog.problems
    assert (problem.file, problem.code) == (str(bad_file), "json_syntax")
    assert "line 4, column 1" in problem.message
    assert catalog.get("mini")


def test_duplicate_json_key_is_a_problem(tmp_path):
    text = json.dumps(minimal_template(id="broken"), indent=2).replace(
        '"kind": "group_buy"', '"kind": "group_buy",\n  "kind": "lottery"')
    catalog, _ = catalog_with(tmp_path, text)
    [problem] = catalog.problems
    assert problem.code == "duplicate_key"
    assert "'kind'" in problem.message


def test_many_mistakes_in_one_template_are_all_reported(tmp_path):
    doc = minimal_template(id="broken")
    for mutate in (undeclared_state_read, unknown_operator, view_reading_params,
                   timer_naming_a_missing_action, metrics_naming_a_missing_action):
        mutate(doc)
    catalog, _ = catalog_with(tmp_path, doc)
    assert {p.path for p in catalog.problems} >= {
        "actions.join.guards[0].rule.and[1]", "views.me.choice", "timers.expire.action",
        "metrics.participation[1]"}


def test_semantic_problems_are_reported_beside_meta_schema_problems(tmp_path):
    doc = minimal_template(id="broken")
    missing_id(doc)
    undeclared_state_read(doc)
    catalog, _ = catalog_with(tmp_path, doc)
    assert [p.code for p in catalog.problems] == ["schema.required", "undeclared_state"]


def test_a_malformed_part_is_not_judged_by_the_semantic_pass(tmp_path):
    doc = minimal_template(id="broken")
    doc["actions"]["join"]["guards"][0] = {"rule": {"var": "me.nope"}}  # no error: malformed
    view_reading_params(doc)
    catalog, _ = catalog_with(tmp_path, doc)
    assert [(p.path, p.code) for p in catalog.problems] == [
        ("actions.join.guards[0]", "schema.required"), ("views.me.choice", "name_not_allowed")]


def test_validate_path_reports_the_same_problems(tmp_path):
    file = write_template(tmp_path, broken_template(view_reading_params))
    [problem] = validate_path(file)
    assert (problem.file, problem.path) == (str(file.resolve()), "views.me.choice")
    assert validate_path(file.parent) == [problem]


def test_load_template_raises_template_invalid_listing_problems(tmp_path):
    file = write_template(tmp_path, broken_template(local_never_bound))
    with pytest.raises(TemplateInvalid) as info:
        load_template(file)
    assert info.value.code == "template_invalid"
    assert "actions.join.result.cut: reads local.cut" in str(info.value)


def test_the_minimal_template_is_valid(tmp_path):
    assert validate_path(write_template(tmp_path, minimal_template())) == []
