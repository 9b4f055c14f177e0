"""Merchant config: schema errors keyed by field path with zh/en messages, defaults filled,
cross-field checks on their field."""

from __future__ import annotations

import pytest
from template_factory import i18n, minimal_template

from magic_cube.catalog import ConfigValidator

SCHEMA = {
    "type": "object",
    "required": ["title", "ends_at", "prizes"],
    "properties": {
        "title": {"type": "string", "minLength": 2, "maxLength": 20},
        "ends_at": {"type": "string", "format": "date-time"},
        "draws_per_day": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3},
        "mode": {"enum": ["fast", "slow"], "default": "fast"},
        "share": {
            "type": "object",
            "properties": {"text": {"type": "string", "default": "来玩"},
                           "enabled": {"type": "boolean", "default": True}},
        },
        "prizes": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/prize"}},
    },
    "additionalProperties": False,
    "$defs": {
        "prize": {
            "type": "object",
            "required": ["name", "stock"],
            "properties": {
                "name": {"type": "string"},
                "stock": {"type": "integer", "minimum": 0},
                "weight": {"type": "integer", "minimum": 0, "multipleOf": 10, "default": 100},
            },
        },
    },
}
CHECKS = [
    {"rule": {"<=": [{"var": "config.draws_per_day"}, {"reduce": [
        {"var": "config.prizes"}, {"+": [{"var": "accumulator"}, {"var": "current.stock"}]}, 0]}]},
     "field": "draws_per_day", "error": "more_draws_than_prizes",
     "message": i18n("每日抽奖次数不能超过奖品总数",
                     "Daily draws cannot exceed the prizes in stock")},
    {"rule": {"!=": [{"var": "config.title"}, "test"]}, "field": "title", "error": "title_reserved",
     "message": i18n("标题不可用", "This title is reserved")},
]
VALID = {"title": "双十一", "ends_at": "2026-11-11T23:59:59+08:00",
         "prizes": [{"name": "券", "stock": 5}]}


@pytest.fixture(scope="module")
def validator() -> ConfigValidator:
    return ConfigValidator(SCHEMA, CHECKS)


def codes(errors: dict) -> dict[str, list[str]]:
    return {path: [e["code"] for e in entries] for path, entries in errors.items()}


def test_valid_config_has_no_errors(validator):
    _, errors = validator.validate(VALID)
    assert errors == {}


def test_missing_required_field_error_sits_on_that_field(validator):
    _, errors = validator.validate({"ends_at": VALID["ends_at"], "prizes": VALID["prizes"]})
    assert errors == {"title": [{"code": "required", "message": "This field is required"}]}


def test_missing_required_field_inside_an_array_item(validator):
    _, errors = validator.validate({**VALID, "prizes": [{"name": "券", "stock": 1}, {"stock": 2}]})
    assert codes(errors) == {"prizes.1.name": ["required"]}


def test_nested_array_item_error_is_keyed_by_its_path(validator):
    _, errors = validator.validate({**VALID, "prizes": [{"name": "券", "stock": -1, "weight": 15}]})
    assert codes(errors) == {"prizes.0.stock": ["minimum"], "prizes.0.weight": ["multipleOf"]}
    assert errors["prizes.0.stock"][0]["message"] == "Must be at least 0"


@pytest.mark.parametrize("bad", ["tomorrow", "2026-11-11", "2026-11-11 10:00"])
def test_date_time_format_is_checked(validator, bad):
    _, errors = validator.validate({**VALID, "ends_at": bad})
    assert codes(errors) == {"ends_at": ["format"]}
    assert "date and time" in errors["ends_at"][0]["message"]


def test_defaults_fill_missing_optional_fields_at_every_depth(validator):
    config = {**VALID, "share": {"text": "hi"}, "prizes": [{"name": "券", "stock": 5}]}
    filled, errors = validator.validate(config)
    assert errors == {}
    assert filled["draws_per_day"] == 3 and filled["mode"] == "fast"
    assert filled["share"] == {"text": "hi", "enabled": True}
    assert filled["prizes"] == [{"name": "券", "stock": 5, "weight": 100}]
    assert "weight" not in config["prizes"][0]  # the caller's config is not modified


def test_defaults_never_fill_required_fields():
    schema = {"type": "object", "required": ["stock"],
              "properties": {"stock": {"type": "integer", "default": 1}}}
    filled, errors = ConfigValidator(schema).validate({})
    assert "stock" not in filled
    assert codes(errors) == {"stock": ["required"]}


def test_absent_optional_object_is_not_invented(validator):
    filled, _ = validator.validate(VALID)
    assert "share" not in filled


def test_failing_check_reports_its_code_on_its_field(validator):
    config = {**VALID, "draws_per_day": 9, "title": "test"}
    _, errors = validator.validate(config)
    assert errors == {
        "draws_per_day": [{"code": "more_draws_than_prizes",
                           "message": "Daily draws cannot exceed the prizes in stock"}],
        "title": [{"code": "title_reserved", "message": "This title is reserved"}],
    }


def test_checks_run_beside_schema_errors_unless_they_read_a_field_in_error(validator):
    # Every mistake at once: the draws check reads valid fields, so it speaks beside the
    # title's schema error; the title check reads the invalid title, so it stays quiet.
    _, errors = validator.validate({**VALID, "draws_per_day": 9, "title": "t"})
    assert codes(errors) == {"title": ["minLength"], "draws_per_day": ["more_draws_than_prizes"]}


def test_messages_in_chinese(validator):
    _, errors = validator.validate({"title": "x", "ends_at": "soon", "prizes": []}, lang="zh")
    assert errors["title"] == [{"code": "minLength", "message": "至少需要 2 个字符"}]
    assert errors["ends_at"][0]["message"].startswith("不是有效的日期时间")
    assert errors["prizes"] == [{"code": "minItems", "message": "至少需要 1 项"}]
    _, errors = validator.validate({**VALID, "draws_per_day": 9}, lang="zh-CN")
    assert errors["draws_per_day"][0]["message"] == "每日抽奖次数不能超过奖品总数"


@pytest.mark.parametrize(("change", "path", "code", "en", "zh"), [
    ({"draws_per_day": "3"}, "draws_per_day", "type",
     "Must be a whole number: a number, not text in quotes",
     "应为整数：请填数字，不要写成带引号的文本"),
    ({"draws_per_day": 2.5}, "draws_per_day", "type", "Must be a whole number", "应为整数"),
    ({"draws_per_day": 11}, "draws_per_day", "maximum", "Must be at most 10", "不能大于 10"),
    ({"mode": "medium"}, "mode", "enum",
     "Must be one of: fast, slow", "必须是以下之一：fast, slow"),
    ({"colour": "red"}, "", "additionalProperties",
     "Unknown field: colour", "不允许的字段：colour"),
    ({"title": "x" * 21}, "title", "maxLength",
     "Must be at most 20 characters long", "最多 20 个字符"),
])
def test_common_keywords_have_both_languages(validator, change, path, code, en, zh):
    for lang, text in (("en", en), ("zh", zh)):
        _, errors = validator.validate({**VALID, **change}, lang=lang)
        assert errors == {path: [{"code": code, "message": text}]}


def test_other_keywords_fall_back_to_the_jsonschema_message():
    schema = {"type": "object",
              "properties": {"tags": {"type": "array", "contains": {"const": "x"}}}}
    _, errors = ConfigValidator(schema).validate({"tags": ["y"]})
    assert errors["tags"][0]["code"] == "contains"
    assert errors["tags"][0]["message"]


@pytest.mark.parametrize("config", [None, [], "stock", 3])
def test_config_that_is_not_an_object_gives_an_error_not_an_exception(validator, config):
    filled, errors = validator.validate(config)
    assert filled == {}
    assert codes(errors) == {"": ["type"]}


def test_wrong_types_inside_give_errors_not_exceptions(validator):
    _, errors = validator.validate({**VALID, "prizes": "many", "share": 3})
    assert codes(errors) == {"prizes": ["type"], "share": ["type"]}
    _, errors = validator.validate({**VALID, "prizes": [None, 1]})
    assert codes(errors) == {"prizes.0": ["type"], "prizes.1": ["type"]}


def test_validator_for_a_template_is_cached_by_content_hash():
    doc = minimal_template()
    first = ConfigValidator.for_template(doc, "hash-1")
    assert ConfigValidator.for_template(doc, "hash-1") is first
    filled, errors = first.validate({"team_size": 2})
    assert errors == {} and filled == {"team_size": 2, "joins_per_day": 3, "hours": 24}
    _, errors = first.validate({"team_size": 2, "joins_per_day": 101})
    assert codes(errors) == {"joins_per_day": ["too_many_joins_per_day"]}


# dates in the years we support ----------------------------------------------------------------

DATED = {
    "type": "object",
    "properties": {
        "opens_on": {"type": "string", "format": "date"},
        "rounds": {"type": "array", "items": {"$ref": "#/$defs/round"}},
        "extra": {"type": "object", "additionalProperties": {"type": "string",
                                                              "format": "date-time"}},
        "when": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "integer"}]},
    },
    "$defs": {"round": {"type": "object", "properties": {
        "at": {"type": "string", "format": "date-time"}}}},
}


@pytest.mark.parametrize(("config", "path"), [
    ({"opens_on": "2100-01-01"}, "opens_on"),
    ({"opens_on": "1999-12-31"}, "opens_on"),
    ({"rounds": [{"at": "2026-11-11T10:00:00+08:00"}, {"at": "9999-12-31T23:59:59-14:00"}]},
     "rounds.1.at"),
    ({"extra": {"late": "0001-01-01T00:00:00+14:00"}}, "extra.late"),
    ({"when": "2099-12-31T23:59:59-00:01"}, "when"),
])
def test_a_date_out_of_the_years_is_refused_where_it_sits(config, path):
    for lang, word in (("en", "Must be in the years 2000 to 2099"), ("zh", "2000 到 2099")):
        _, errors = ConfigValidator(DATED).validate(config, lang=lang)
        assert codes(errors) == {path: ["out_of_range"]}
        assert word in errors[path][0]["message"]


def test_dates_inside_the_years_pass_and_a_bad_one_has_its_format_error_only():
    config = {"opens_on": "2000-01-01", "rounds": [{"at": "2099-12-31T23:59:59Z"}],
              "extra": {"a": "2000-01-01T08:00:00+08:00"}, "when": 5}
    assert ConfigValidator(DATED).validate(config)[1] == {}
    _, errors = ConfigValidator(DATED).validate({"opens_on": "9999-99-99"})
    assert codes(errors) == {"opens_on": ["format"]}


# integer fields hold ints ------------------------------------------------------------------------

NUMBERS = {
    "type": "object",
    "properties": {
        "mode": {"enum": ["a", "b"]},
        "price": {"type": "number"},
        "count": {"type": "integer", "default": 2.0},
        "limit": {"type": ["integer", "null"]},
        "rows": {"type": "array", "items": {"$ref": "#/$defs/row"}},
        "per_day": {"type": "object", "additionalProperties": {"type": "integer"}},
        "either": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
        "grid": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
    },
    "if": {"properties": {"mode": {"const": "b"}}, "required": ["mode"]},
    "then": {"properties": {"extra": {"type": "integer", "default": 2.0}}},
    "$defs": {"row": {"type": "object", "properties": {"stock": {"type": "integer"}}}},
}


def test_integral_floats_of_integer_fields_become_ints_at_every_depth():
    config = {"mode": "b", "price": 3.0, "limit": 5.0, "rows": [{"stock": 1e2}],
              "per_day": {"mon": 4.0}, "either": 6.0, "grid": [[7.0, 8]], "extra": 9.0}
    filled, errors = ConfigValidator(NUMBERS).validate(config)
    assert errors == {}
    assert filled == {"mode": "b", "price": 3.0, "count": 2, "limit": 5, "rows": [{"stock": 100}],
                      "per_day": {"mon": 4}, "either": 6, "grid": [[7, 8]], "extra": 9}
    kinds = [type(v) for v in (filled["limit"], filled["rows"][0]["stock"],
                               filled["per_day"]["mon"], filled["either"], filled["grid"][0][0],
                               filled["extra"])]
    assert kinds == [int] * 6
    assert type(filled["price"]) is float  # a number field keeps what it was given
    assert config["rows"] == [{"stock": 1e2}] and type(config["limit"]) is float  # a copy


def test_a_default_is_a_whole_number_too_and_fractions_are_still_refused():
    filled, _ = ConfigValidator(NUMBERS).validate({})
    assert filled["count"] == 2 and type(filled["count"]) is int
    _, errors = ConfigValidator(NUMBERS).validate({"rows": [{"stock": 1.5}], "limit": 0.5})
    assert codes(errors) == {"rows.0.stock": ["type"], "limit": ["type"]}


def test_a_templates_validator_gives_whole_numbers_to_every_caller(catalog):
    # Create, edit, forecasts and scenario files all validate through the entry's validator.
    entry = catalog.get("lottery")
    filled, errors = entry.config_validator.validate(
        {"prizes": [{"name": "Mug", "type": "physical", "stock": 5.0, "odds": 100.0}]})
    assert errors == {} and type(filled["prizes"][0]["stock"]) is int


# items named alike ------------------------------------------------------------------------------

def test_items_with_the_same_name_are_refused_on_the_later_ones(validator):
    prizes = [{"name": "券", "stock": 1}, {"name": "杯", "stock": 1}, {"name": "券", "stock": 2}]
    _, errors = validator.validate({**VALID, "prizes": prizes})
    assert errors == {"prizes.2.name": [{
        "code": "duplicate_name",
        "message": "“券” is already the name of item 1: each needs its own name"}]}


def test_a_list_with_other_errors_is_checked_for_names_once_they_are_fixed(validator):
    prizes = [{"name": "券", "stock": -1}, {"name": "券", "stock": 1}]
    _, errors = validator.validate({**VALID, "prizes": prizes})
    assert codes(errors) == {"prizes.0.stock": ["minimum"]}


def test_a_templates_own_check_on_the_list_speaks_instead():
    own = [{"rule": {"==": [{"var": "config.prizes.0.name"}, "only"]}, "field": "prizes",
            "error": "first_is_only", "message": i18n("只能叫 only", "The first is only")}]
    _, errors = ConfigValidator(SCHEMA, own).validate(
        {**VALID, "prizes": [{"name": "x", "stock": 1}, {"name": "x", "stock": 1}]})
    assert codes(errors) == {"prizes": ["first_is_only"]}


def test_names_are_compared_in_nested_lists_and_only_where_the_schema_has_a_text_name():
    schema = {"type": "object", "properties": {
        "rounds": {"type": "array", "items": {"type": "object", "properties": {
            "slots": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"}}}}}}},
        "codes": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "integer"}}}},
        "free": {"type": "array"}}}
    config = {"rounds": [{"slots": [{"name": "a"}, {"name": "a"}]}, {"slots": [{"name": "a"}]}],
              "codes": [{"name": 1}, {"name": 1}], "free": [{"name": "a"}, {"name": "a"}]}
    _, errors = ConfigValidator(schema).validate(config)
    assert codes(errors) == {"rounds.0.slots.1.name": ["duplicate_name"]}
