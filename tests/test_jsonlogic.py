"""Behaviour of the JsonLogic evaluator beyond the official suite.

Expected values are what json-logic-js gives in a browser; where Python and
JS disagree (bools are ints, {} is falsy, % follows the divisor) JS wins.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_jsonlogic_conformance import js_equal

import magic_cube.rules.jsonlogic.compile as compile_module
from magic_cube.rules import jsonlogic as jl
from magic_cube.rules.jsonlogic import (
    ALLOWED_OPERATORS,
    EvaluationError,
    InvalidRule,
    JsonLogicError,
    RuleTooDeep,
    RuleTooLarge,
    UnknownOperator,
    apply,
    compile_rule,
    js,
    operators,
    operators_in,
    scoped_var_paths,
    truthy,
    var_paths,
)
from magic_cube.rules.jsonlogic.closures import NOT_CONSTANT, constant_value

GUARD = {
    "and": [
        {"<": [{"var": "me.draws_today"}, {"var": "config.draws_per_day"}]},
        {"!": {"in": [{"var": "actor.id"}, {"var": "room.helpers"}]}},
    ]
}




def is_nan(value: Any) -> bool:
    return type(value) is float and math.isnan(value)


def nested_not(levels: int) -> Any:
    """``levels`` nested objects: {"!": {"!": ... true}}."""
    rule: Any = True
    for _ in range(levels):
        rule = {"!": rule}
    return rule


# -- truthiness ---------------------------------------------------------------


def test_empty_array_is_falsy() -> None:
    assert truthy([]) is False
    assert apply({"if": [[], "yes", "no"]}) == "no"
    assert truthy([0]) is True


def test_string_zero_is_truthy_and_empty_string_is_not() -> None:
    assert truthy("0") is True
    assert truthy("") is False


def test_empty_object_is_truthy_unlike_python() -> None:
    assert truthy({}) is True
    assert apply({"!!": [{"var": "o"}]}, {"o": {}}) is True


def test_zero_and_nan_are_falsy() -> None:
    assert truthy(0) is False
    assert truthy(0.0) is False
    assert truthy(math.nan) is False
    assert truthy(-0.5) is True


def test_and_or_return_the_deciding_value() -> None:
    assert apply({"and": [1, "x", 0, "never"]}) == 0
    assert apply({"and": [1, "x"]}) == "x"
    assert apply({"or": [0, "", [], "found", "never"]}) == "found"
    assert apply({"or": [0, ""]}) == ""


def test_and_or_with_no_arguments_give_null() -> None:
    assert apply({"and": []}) is None
    assert apply({"or": []}) is None


def test_not_and_double_not_use_js_truthiness() -> None:
    assert apply({"!": [[]]}) is True
    assert apply({"!!": ["0"]}) is True
    assert apply({"!": []}) is True  # !undefined


# -- equality and comparison --------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (1, True, True),
        (2, True, False),
        (0, False, True),
        ("", 0, True),
        ("0", False, True),
        (" 1 ", 1, True),
        ("0x10", 16, True),
        (None, 0, False),
        (None, False, False),
        (None, None, True),
        ([], False, True),
        ([1, 2], "1,2", True),
        ([None], "", True),
        ("abc", "abc", True),
        (1, 1.0, True),
        ("1e3", 1000, True),
        ("inf", math.inf, False),
        ("Infinity", math.inf, True),
    ],
)
def test_loose_equality_coerces_like_js(a: Any, b: Any, expected: bool) -> None:
    data = {"a": a, "b": b}
    assert apply({"==": [{"var": "a"}, {"var": "b"}]}, data) is expected
    assert apply({"!=": [{"var": "a"}, {"var": "b"}]}, data) is (not expected)


def test_strict_equality_keeps_bools_apart_from_numbers() -> None:
    assert apply({"===": [True, 1]}) is False
    assert apply({"===": [1, 1.0]}) is True
    assert apply({"!==": [0, False]}) is True
    assert apply({"===": [None, None]}) is True


def test_arrays_compare_by_identity() -> None:
    data = {"a": [1]}
    assert apply({"==": [{"var": "a"}, {"var": "a"}]}, data) is True
    assert apply({"==": [[1], [1]]}) is False
    assert apply({"===": [{"var": "a"}, [1]]}, data) is False


def test_a_missing_argument_is_undefined_not_null() -> None:
    assert apply({"==": [None]}) is True  # null == undefined
    assert apply({"===": [None]}) is False  # null !== undefined
    assert apply({"<": [-1]}) is False  # -1 < undefined is false, -1 < null is true
    assert apply({"<": [-1, None]}) is True
    assert is_nan(apply({"/": [4]}))


def test_two_strings_compare_as_strings() -> None:
    assert apply({"<": ["10", "9"]}) is True
    assert apply({"<": ["10", 9]}) is False
    assert apply({">": [[2], 1]}) is True
    assert apply({"<": [None, 1]}) is True
    assert apply({"<": ["abc", 1]}) is False
    assert apply({">=": ["abc", 1]}) is False


def test_strings_compare_by_utf16_code_unit() -> None:
    # By code point U+FF5E sorts before U+1F600; in UTF-16 the emoji is the
    # surrogate pair D83D DE00, which sorts first.
    assert apply({"<": ["😀", "～"]}) is True
    assert apply({"<": ["～", "😀"]}) is False


def test_three_argument_less_than_is_between() -> None:
    assert apply({"<": [1, 2, 3]}) is True
    assert apply({"<": [1, 3, 3]}) is False
    assert apply({"<=": [1, 3, 3]}) is True
    assert apply({"<=": ["1", {"var": "x"}, "5"]}, {"x": "3"}) is True
    assert apply({">": [3, 2, 5]}) is True  # > takes two arguments; the third is ignored


def test_nan_compares_false_every_way() -> None:
    for op in ("<", "<=", ">", ">=", "==", "==="):
        assert apply({op: [{"/": [0, 0]}, 1]}) is False
    assert apply({"!=": [{"/": [0, 0]}, {"/": [0, 0]}]}) is True


# -- arithmetic ---------------------------------------------------------------


def test_plus_casts_with_parse_float() -> None:
    assert apply({"+": ["3px", 1]}) == 4
    assert apply({"+": [" 2.5e1xyz"]}) == 25
    assert apply({"+": []}) == 0
    assert is_nan(apply({"+": [True, 1]}))  # parseFloat(true) is NaN
    assert is_nan(apply({"+": [None]}))
    assert is_nan(apply({"+": [""]}))
    assert apply({"+": [[7, 8]]}) == 7  # parseFloat("7,8")


def test_minus_and_divide_cast_with_number() -> None:
    assert apply({"-": ["5", "2"]}) == 3
    assert apply({"-": [True]}) == -1
    assert is_nan(apply({"-": ["3px", 1]}))
    assert apply({"/": ["", 2]}) == 0


def test_multiply_with_one_argument_returns_it_unchanged() -> None:
    assert apply({"*": ["2"]}) == "2"
    assert apply({"*": ["2", "3"]}) == 6


def test_integer_results_stay_integers() -> None:
    assert type(apply({"+": [1, "2"]})) is int
    assert type(apply({"-": [5, 2]})) is int
    assert type(apply({"*": [2, 3]})) is int
    assert apply({"/": [4, 2]}) == 2


def test_division_by_zero_follows_js() -> None:
    assert apply({"/": [1, 0]}) == math.inf
    assert apply({"/": [-1, 0]}) == -math.inf
    assert apply({"/": [1, -0.0]}) == -math.inf
    assert is_nan(apply({"/": [0, 0]}))
    assert is_nan(apply({"/": ["a", 1]}))


def test_remainder_keeps_the_sign_of_the_dividend() -> None:
    assert apply({"%": [-7, 3]}) == -1
    assert apply({"%": [7, -3]}) == 1
    assert apply({"%": [5.5, 2]}) == 1.5
    assert is_nan(apply({"%": [5, 0]}))
    assert is_nan(apply({"%": [{"/": [1, 0]}, 2]}))
    assert apply({"%": [5, {"/": [1, 0]}]}) == 5


def test_min_and_max_of_nothing_are_infinite() -> None:
    assert apply({"min": []}) == math.inf
    assert apply({"max": []}) == -math.inf
    assert apply({"max": [1, "3"]}) == 3
    assert apply({"min": [None, 1]}) == 0
    assert is_nan(apply({"max": [1, "x"]}))


def test_huge_integers_do_not_overflow() -> None:
    huge = 10**400
    assert apply({"+": [{"var": "n"}, 0.5]}, {"n": huge}) == math.inf
    assert apply({"/": [{"var": "n"}, 3]}, {"n": huge}) == math.inf
    assert apply({"cat": [{"var": "n"}]}, {"n": 2**60}) == "1152921504606847000"


# -- strings ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (-0.0, "0"),
        (1.5, "1.5"),
        (100.0, "100"),
        (1e21, "1e+21"),
        (123456789012345680000.0, "123456789012345680000"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (1.23e-18, "1.23e-18"),
        (2.5e25, "2.5e+25"),
        (math.inf, "Infinity"),
        (-math.inf, "-Infinity"),
        (math.nan, "NaN"),
        (True, "true"),
        (False, "false"),
        ([1, [2, None], "x"], "1,2,,x"),
        ({"a": 1, "b": 2}, "[object Object]"),
    ],
)
def test_cat_formats_values_like_js(value: Any, text: str) -> None:
    assert apply({"cat": [{"var": "v"}]}, {"v": value}) == text


def test_cat_formats_integral_floats_like_js() -> None:
    assert apply({"cat": ["n=", 1.0, "/", {"/": [6, 3]}]}) == "n=1/2"
    assert apply({"cat": [{"+": [0.1, 0.2]}]}) == "0.30000000000000004"


def test_cat_joins_null_as_empty_like_array_join() -> None:
    # json-logic-js's cat is Array.prototype.join, which skips null: not "anull".
    assert apply({"cat": ["a", None, "b"]}) == "ab"
    assert apply({"in": [None, "is null"]}) is True  # but String(null) is "null"


def test_substr_counts_from_the_end_with_negative_indexes() -> None:
    assert apply({"substr": ["jsonlogic", -5, -2]}) == "log"
    assert apply({"substr": ["jsonlogic", 20]}) == ""
    assert apply({"substr": ["jsonlogic", -20, 2]}) == "js"
    assert apply({"substr": [12345, 1, 2]}) == "23"
    assert apply({"substr": ["abc"]}) == "abc"


def test_substr_and_length_count_utf16_units_like_js() -> None:
    assert apply({"substr": ["😀ab", 2]}) == "ab"
    assert apply({"length": "😀ab"}) == 4


def test_in_searches_strings_and_arrays() -> None:
    assert apply({"in": ["Spring", "Springfield"]}) is True
    assert apply({"in": [1, "a1"]}) is True
    assert apply({"in": ["", "abc"]}) is True
    assert apply({"in": ["", ""]}) is False  # an empty haystack is falsy
    assert apply({"in": ["a", None]}) is False
    assert apply({"in": ["a", {"var": "o"}]}, {"o": {"a": 1}}) is False


def test_in_on_arrays_is_strict() -> None:
    assert apply({"in": [1, [True]]}) is False
    assert apply({"in": [True, [1]]}) is False
    assert apply({"in": [1, [1.0]]}) is True
    assert apply({"in": ["1", [1]]}) is False
    assert apply({"in": [None, [0, None]]}) is True


def test_merge_flattens_one_level() -> None:
    assert apply({"merge": [[1], [[2]], 3]}) == [1, [2], 3]


# -- data access --------------------------------------------------------------


def test_var_reads_dotted_paths_and_list_indexes() -> None:
    data = {"a": {"b": ["x", {"c": 3}]}, "s": "abc"}
    assert apply({"var": "a.b.1.c"}, data) == 3
    assert apply({"var": "a.b.0"}, data) == "x"
    assert apply({"var": "a.b.length"}, data) == 2
    assert apply({"var": "s.1"}, data) == "b"
    assert apply({"var": "a.b.01"}, data) is None  # not an array index in JS
    assert apply({"var": 1}, ["p", "q"]) == "q"


def test_var_default_applies_only_when_the_path_is_absent() -> None:
    assert apply({"var": ["a.b", "dflt"]}, {"a": None}) == "dflt"
    assert apply({"var": ["a", "dflt"]}, {"a": None}) is None  # null is a value
    assert apply({"var": ["a", "dflt"]}, {"a": 0}) == 0
    assert apply({"var": ["x", {"+": [1, 1]}]}, {}) == 2


def test_var_empty_path_returns_the_whole_data() -> None:
    data = {"a": 1}
    assert apply({"var": ""}, data) is data
    assert apply({"var": None}, data) is data
    assert apply({"var": []}, data) is data


def test_var_path_may_be_computed() -> None:
    data = {"key": "b", "a": {"b": 7}}
    assert apply({"var": {"cat": ["a.", {"var": "key"}]}}, data) == 7


def test_var_on_non_dict_data_does_not_raise() -> None:
    for data in (None, 5, "text", [1, 2], True):
        assert apply({"var": "a.b"}, data) is None


def test_missing_treats_null_and_empty_string_as_missing() -> None:
    rule = {"missing": ["a", "b", "c"]}
    assert apply(rule, {"a": "", "b": 0, "c": False}) == ["a"]
    assert apply({"!": rule}, {"a": 1, "b": 0, "c": False}) is True
    assert apply({"!": rule}, {"a": 1, "b": None, "c": False}) is False


def test_missing_some_without_keys_throws_like_js() -> None:
    with pytest.raises(EvaluationError):
        apply({"missing_some": [1, {"var": "nothing"}]}, {})
    with pytest.raises(InvalidRule):
        compile_rule({"missing_some": [1]})


# -- arrays -------------------------------------------------------------------


def test_scoped_operators_see_the_item_as_data() -> None:
    data = {"items": [{"qty": 1}, {"qty": 3}]}
    assert apply({"map": [{"var": "items"}, {"var": "qty"}]}, data) == [1, 3]
    assert apply({"filter": [{"var": "items"}, {">": [{"var": "qty"}, 2]}]}, data) == [{"qty": 3}]
    assert apply({"some": [{"var": "items"}, {"==": [{"var": "qty"}, 3]}]}, data) is True
    assert apply({"all": [{"var": "items"}, {"var": "qty"}]}, data) is True
    assert apply({"none": [{"var": "items"}, {"var": "missing"}]}, data) is True


def test_reduce_sees_current_and_accumulator_and_evaluates_initial() -> None:
    rule = {
        "reduce": [
            {"var": "xs"},
            {"+": [{"var": "current"}, {"var": "accumulator"}]},
            {"var": "start"},
        ]
    }
    assert apply(rule, {"xs": [1, 2], "start": 10}) == 13
    assert apply(rule, {"xs": None, "start": 10}) == 10


def test_array_operators_on_non_arrays() -> None:
    assert apply({"map": [5, 1]}) == []
    assert apply({"filter": ["abc", True]}) == []
    assert apply({"all": [[], True]}) is False
    assert apply({"none": [None, True]}) is True
    assert apply({"some": [{}, True]}) is False
    assert apply({"map": [[1, 2]]}) == [None, None]


def test_if_takes_else_if_chains() -> None:
    rule = {"if": [{"<": [{"var": "n"}, 0]}, "neg", {"==": [{"var": "n"}, 0]}, "zero", "pos"]}
    assert [apply(rule, {"n": n}) for n in (-1, 0, 1)] == ["neg", "zero", "pos"]
    assert apply({"?:": [False, 1, 2]}) == 2
    assert apply({"if": [False, 1]}) is None


# -- domain operators ---------------------------------------------------------


def test_length_of_arrays_strings_and_everything_else() -> None:
    assert apply({"length": [[1, 2, 3]]}) == 3
    assert apply({"length": {"var": "s"}}, {"s": "abc"}) == 3
    assert apply({"length": {"var": "nothing"}}, {}) == 0
    assert apply({"length": {"var": "o"}}, {"o": {"length": 9}}) == 0
    assert apply({"length": 5}) == 0


def test_floor_and_ceil_return_ints() -> None:
    assert apply({"floor": 3.7}) == 3 and type(apply({"floor": 3.7})) is int
    assert apply({"floor": -3.2}) == -4
    assert apply({"ceil": 3.2}) == 4 and type(apply({"ceil": 3.2})) is int
    assert apply({"ceil": -3.7}) == -3
    assert apply({"floor": "3.7"}) == 3
    assert apply({"floor": None}) == 0
    assert is_nan(apply({"ceil": "x"}))
    assert apply({"floor": {"/": [1, 0]}}) == math.inf


def test_the_newer_dialect_domain_and_date_operators_are_the_only_additions() -> None:
    standard = {
        "var", "missing", "missing_some", "if", "?:", "==", "===", "!=", "!==", "!", "!!",
        "or", "and", ">", ">=", "<", "<=", "max", "min", "+", "-", "*", "/", "%",
        "map", "reduce", "filter", "all", "none", "some", "merge", "in", "cat", "substr",
    }  # fmt: skip
    newer = {"val", "exists", "??", "try", "throw", "preserve"}
    dates = {"date_time", "day_number", "local_date", "week_number", "start_of_day",
             "add_days", "day_of_week", "time_of_day"}
    maps = {"keys", "values", "size"}
    loops = {"range", "get", "object"}
    assert ALLOWED_OPERATORS - standard == {"length", "floor", "ceil"} | newer | dates | maps \
        | loops
    assert standard <= ALLOWED_OPERATORS


# -- literals -----------------------------------------------------------------


def test_objects_with_several_keys_are_literal_data() -> None:
    rule = {"a": {"var": "x"}, "b": {"no such op": 1}}
    assert apply(rule, {"x": 1}) == rule


def test_results_do_not_share_state_with_the_rule_or_each_other() -> None:
    evaluate = compile_rule({"if": [True, {"a": [1], "b": 2}, None]})
    first = evaluate(None)
    first["a"].append(99)
    assert evaluate(None) == {"a": [1], "b": 2}
    array = compile_rule([1, 2])
    array(None).append(3)
    assert array(None) == [1, 2]


# -- errors -------------------------------------------------------------------


def test_method_operator_is_refused() -> None:
    with pytest.raises(UnknownOperator, match="method.*refused") as info:
        compile_rule({"method": ["abc", "toUpperCase"]})
    assert info.value.path == []
    assert "method" not in ALLOWED_OPERATORS


def test_log_operator_is_refused() -> None:
    with pytest.raises(UnknownOperator, match="log.*refused"):
        compile_rule({"and": [True, {"log": "x"}]})


def test_unknown_operator_error_names_it_and_its_path() -> None:
    rule = {"and": [True, {"!": {"frobnicate": [1]}}]}
    with pytest.raises(UnknownOperator) as info:
        compile_rule(rule)
    error = info.value
    assert error.operator == "frobnicate"
    assert "'frobnicate'" in str(error)
    assert error.path == ["and", 1, "!"]
    assert error.pointer == "/and/1/!"
    assert len(str(error)) < 120  # no list of every operator


def test_unknown_operator_suggests_a_close_name() -> None:
    with pytest.raises(UnknownOperator, match="did you mean 'missing'"):
        compile_rule({"missin": ["a"]})


def test_unknown_operator_message_stays_short_for_long_names() -> None:
    with pytest.raises(UnknownOperator) as info:
        compile_rule({"x" * 10_000: 1})
    assert len(str(info.value)) < 120


def test_unknown_operator_is_found_in_scoped_bodies() -> None:
    with pytest.raises(UnknownOperator) as info:
        compile_rule({"map": [[1], {"nope": []}]})
    assert info.value.path == ["map", 1]


def test_rule_deeper_than_limit_is_refused() -> None:
    compile_rule(nested_not(jl.MAX_DEPTH))
    with pytest.raises(RuleTooDeep) as info:
        compile_rule(nested_not(jl.MAX_DEPTH + 1))
    assert info.value.path == ["!"] * jl.MAX_DEPTH


def test_absurdly_deep_rule_is_refused_without_recursion_error() -> None:
    with pytest.raises(RuleTooDeep):
        compile_rule(nested_not(100_000))


def test_rule_larger_than_limit_is_refused() -> None:
    compile_rule({"merge": list(range(jl.MAX_NODES - 2))})  # object + array + items
    with pytest.raises(RuleTooLarge):
        compile_rule({"merge": list(range(jl.MAX_NODES - 1))})


def test_non_json_values_are_invalid() -> None:
    with pytest.raises(InvalidRule) as info:
        compile_rule({"in": ["a", {"x", "y"}]})
    assert info.value.path == ["in", 1]
    with pytest.raises(InvalidRule):
        compile_rule({"==": [{1: "a", 2: "b"}, 1]})


def test_multiply_without_arguments_is_invalid() -> None:
    # json-logic-js throws on it every time (reduce of an empty array).
    with pytest.raises(InvalidRule):
        compile_rule({"*": []})


def test_every_error_is_a_json_logic_error_and_a_value_error() -> None:
    for error in (UnknownOperator, RuleTooDeep, RuleTooLarge, InvalidRule, EvaluationError):
        assert issubclass(error, JsonLogicError)
    assert issubclass(JsonLogicError, ValueError)


# -- introspection ------------------------------------------------------------


def test_var_paths_lists_literal_reads_in_order() -> None:
    assert var_paths(GUARD) == [
        "me.draws_today",
        "config.draws_per_day",
        "actor.id",
        "room.helpers",
    ]


def test_var_paths_excludes_scoped_vars() -> None:
    rule = {
        "and": [
            {"some": [{"var": "room.members"}, {"==": [{"var": "id"}, {"var": "actor.id"}]}]},
            {
                "reduce": [
                    {"var": "xs"},
                    {"+": [{"var": "current"}, {"var": "accumulator"}]},
                    {"var": "base"},
                ]
            },
        ]
    }
    assert var_paths(rule) == ["room.members", "xs", "base"]
    assert scoped_var_paths(rule) == ["id", "actor.id", "current", "accumulator"]


def test_var_paths_includes_missing_keys_and_skips_computed_paths() -> None:
    rule = {
        "or": [
            {"missing": ["me.phone", "me.name"]},
            {"missing_some": [1, ["a", "b"]]},
            {"missing": [["c"], "not-read"]},
            {"var": {"cat": ["x", "y"]}},
            {"var": ""},
            {"var": ["me.phone", 0]},
            {"var": 2},
            {"two": 1, "keys": {"var": "literal.object"}},
        ]
    }
    assert var_paths(rule) == ["me.phone", "me.name", "a", "b", "c", "2"]


def test_operators_in_lists_every_operation_without_raising() -> None:
    assert operators_in(GUARD) == {"and", "<", "var", "!", "in"}
    assert operators_in({"if": [{"nope": 1}, {"a": {"var": "x"}, "b": 1}]}) == {"if", "nope"}
    assert operators_in(nested_not(5_000)) == {"!"}


# -- compile once, evaluate many -----------------------------------------------


def test_compile_once_evaluate_many() -> None:
    evaluate = compile_rule(GUARD)
    room = {"helpers": ["u2"]}
    config = {"draws_per_day": 3}
    results = [
        evaluate({"me": {"draws_today": n}, "config": config, "actor": {"id": actor}, "room": room})
        for n, actor in [(0, "u1"), (3, "u1"), (0, "u2"), (2, "u9")]
    ]
    assert results == [True, False, False, True]


def test_compiled_rule_looks_up_no_operator_at_run_time(monkeypatch: pytest.MonkeyPatch) -> None:
    evaluate = compile_rule(GUARD)
    monkeypatch.setattr(compile_module, "OPERATORS", {})
    data = {
        "me": {"draws_today": 1},
        "config": {"draws_per_day": 2},
        "actor": {"id": "a"},
        "room": {},
    }
    assert evaluate(data) is True


def test_constant_subexpressions_are_folded() -> None:
    # worked out once when compiled: the closure carries its value, and an expression around
    # it compares against that value
    assert constant_value(compile_rule({"*": [60, 60, 24]})) == 86400
    evaluate = compile_rule({"<": [{"var": "t"}, {"*": [60, 60, 24]}]})
    assert evaluate({"t": 100}) is True and evaluate({"t": 86400}) is False
    assert constant_value(evaluate) is NOT_CONSTANT
    varying = compile_rule({"*": [{"var": "t"}, 60, 24]})
    assert constant_value(varying) is NOT_CONSTANT and varying({"t": 1}) == 1440


# -- properties ----------------------------------------------------------------

U = js.UNDEFINED


def _lt3(lt: Any, a: Any = U, b: Any = U, c: Any = U, *_: Any) -> bool:
    return lt(a, b) if c is U else lt(a, b) and lt(b, c)


REFERENCE_OPS: dict[str, Any] = {
    "==": lambda a=U, b=U, *_: js.loose_equals(a, b),
    "!=": lambda a=U, b=U, *_: not js.loose_equals(a, b),
    "===": lambda a=U, b=U, *_: js.strict_equals(a, b),
    "!==": lambda a=U, b=U, *_: not js.strict_equals(a, b),
    ">": lambda a=U, b=U, *_: js.less_than(b, a),
    ">=": lambda a=U, b=U, *_: js.less_or_equal(b, a),
    "<": lambda *args: _lt3(js.less_than, *args),
    "<=": lambda *args: _lt3(js.less_or_equal, *args),
    "!!": lambda a=U, *_: truthy(a),
    "!": lambda a=U, *_: not truthy(a),
    "%": lambda a=U, b=U, *_: operators.remainder(a, b),
    "in": lambda a=U, b=U, *_: operators.contains(a, b),
    "cat": lambda *args: operators.cat(list(args)),
    "substr": lambda s=U, start=U, end=U, *_: operators.substr(s, start, end),
    "+": lambda *args: operators.add(list(args)),
    "*": lambda *args: operators.multiply(list(args)),
    "-": lambda a=U, b=U, *_: -js.to_number(a) if b is U else operators.subtract(a, b),
    "/": lambda a=U, b=U, *_: operators.divide(a, b),
    "min": lambda *args: operators.minimum(list(args)),
    "max": lambda *args: operators.maximum(list(args)),
    "merge": lambda *args: operators.merge(list(args)),
    "length": lambda a=U, *_: operators.length(a),
    "floor": lambda a=U, *_: operators.rounded(a, math.floor),
    "ceil": lambda a=U, *_: operators.rounded(a, math.ceil),
}


def reference_apply(rule: Any, data: Any) -> Any:
    """json-logic-js's apply() transcribed line by line, on the generic JS helpers.

    It shares no code with the compiled fast paths, constant folding or arity
    specialisation, so agreeing with it is a real check on them.
    """
    if isinstance(rule, list):
        return [reference_apply(item, data) for item in rule]
    if not (isinstance(rule, dict) and len(rule) == 1):
        return rule
    ((op, values),) = rule.items()
    if not isinstance(values, list):
        values = [values]
    if op in ("if", "?:"):
        return _reference_if(values, data)
    if op in ("and", "or"):
        return _reference_and_or(op, values, data)
    if op in ("map", "filter", "all", "some", "none"):
        return _reference_scoped(op, values, data)
    values = [reference_apply(value, data) for value in values]
    if op == "var":
        return operators.var(data, *values[:2])
    if op == "missing":
        return operators.missing(values, data)
    return REFERENCE_OPS[op](*values)


def _reference_if(values: list, data: Any) -> Any:
    i = 0
    while i < len(values) - 1:
        if truthy(reference_apply(values[i], data)):
            return reference_apply(values[i + 1], data)
        i += 2
    return reference_apply(values[i], data) if len(values) == i + 1 else None


def _reference_and_or(op: str, values: list, data: Any) -> Any:
    current = None
    for value in values:
        current = reference_apply(value, data)
        if truthy(current) is (op == "or"):
            return current
    return current


def _reference_scoped(op: str, values: list, data: Any) -> Any:
    items = reference_apply(values[0], data) if values else None
    body = values[1] if len(values) > 1 else None
    if not isinstance(items, list):
        return {"map": [], "filter": [], "all": False, "some": False, "none": True}[op]
    results = [reference_apply(body, item) for item in items]
    if op == "map":
        return results
    if op == "filter":
        return [item for item, r in zip(items, results, strict=True) if truthy(r)]
    tests = [truthy(r) for r in results]
    return {"all": bool(tests) and all(tests), "some": any(tests), "none": not any(tests)}[op]


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-1000, 1000)
    | st.floats(-1e6, 1e6, allow_nan=False)
    | st.sampled_from(["", "0", "1", " 2 ", "1e3", "0x10", "3px", "abc", "Infinity", "😀x", "-0"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("abc"), inner, max_size=2)
    ),
    max_leaves=6,
)
datasets = st.fixed_dictionaries(
    {
        "a": json_values,
        "b": json_values,
        "c": st.fixed_dictionaries({"d": json_values}),
        "l": st.lists(json_values, max_size=3),
    }
)
PATHS = ["a", "b", "c.d", "l.0", "l.length", "c", "nope", "a.0", ""]
OPERATORS = sorted(REFERENCE_OPS) + [
    "if",
    "?:",
    "and",
    "or",
    "map",
    "filter",
    "all",
    "some",
    "none",
    "missing",
]


def rules(leaves: st.SearchStrategy) -> st.SearchStrategy:
    def operation(children: st.SearchStrategy) -> st.SearchStrategy:
        def build(op: str, args: list, single: bool) -> Any:
            if op == "*" and not args:
                args = [2]  # json-logic-js throws on {"*": []}
            # {"op": x} is short for {"op": [x]} unless x is itself an array.
            shorthand = single and len(args) == 1 and not isinstance(args[0], list)
            return {op: args[0] if shorthand else args}

        return st.builds(
            build, st.sampled_from(OPERATORS), st.lists(children, max_size=4), st.booleans()
        )

    return st.recursive(
        leaves, lambda children: operation(children) | st.lists(children, max_size=2), max_leaves=12
    )


rule_leaves = (
    json_scalars
    | st.builds(lambda p: {"var": p}, st.sampled_from(PATHS))
    | st.builds(lambda p, d: {"var": [p, d]}, st.sampled_from(PATHS), json_scalars)
)


@settings(max_examples=400, deadline=None)
@given(rule=rules(rule_leaves), data=datasets)
def test_compiled_rules_agree_with_the_reference_interpreter(rule: Any, data: dict) -> None:
    expected = reference_apply(rule, data)
    assert js_equal(compile_rule(rule)(data), expected)
    assert js_equal(apply(rule, data), expected)


@settings(deadline=None)
@given(value=json_values)
def test_double_not_agrees_with_truthy(value: Any) -> None:
    data = {"x": value}
    js_falsy = (
        value is None
        or value is False
        or (type(value) in (int, float) and (value == 0 or value != value))
        or value == ""
        or value == []
    )
    assert truthy(value) is (not js_falsy)
    assert apply({"!!": [{"var": "x"}]}, data) is truthy(value)
    assert apply({"!": [{"var": "x"}]}, data) is (not truthy(value))
    assert apply({"if": [{"var": "x"}, "t", "f"]}, data) == ("t" if truthy(value) else "f")
