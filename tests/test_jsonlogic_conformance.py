"""The official JsonLogic test suite (jsonlogic.com/tests.json), through both entry points."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from magic_cube.rules.jsonlogic import apply, compile_rule

SUITE = Path(__file__).parent / "conformance" / "jsonlogic" / "tests.json"
EXPECTED_CASES = 277


def load_cases() -> list[Any]:
    """Each case is [rule, data, expected]; bare strings are section headings."""
    cases, section = [], "start"
    for entry in json.loads(SUITE.read_text(encoding="utf-8")):
        if isinstance(entry, str):
            section = entry.lstrip("# ").strip() or section
            continue
        rule, data, expected = entry
        label = f"{len(cases):03d} {section[:30]}: {json.dumps(rule, separators=(',', ':'))[:70]}"
        cases.append(pytest.param(rule, data, expected, id=label))
    return cases


CASES = load_cases()


def js_equal(actual: Any, expected: Any) -> bool:
    """Equality as JSON sees it: 1 == 1.0, NaN == NaN, but a bool is never a number."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(actual, int | float) and isinstance(expected, int | float):
        return actual == expected or (math.isnan(actual) and math.isnan(expected))
    if isinstance(actual, list) and isinstance(expected, list):
        return len(actual) == len(expected) and all(map(js_equal, actual, expected))
    if isinstance(actual, dict) and isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(
            js_equal(actual[k], expected[k]) for k in actual
        )
    return type(actual) is type(expected) and actual == expected


def test_the_whole_suite_is_present() -> None:
    assert len(CASES) == EXPECTED_CASES


def test_js_equal_keeps_bools_and_numbers_apart() -> None:
    assert js_equal(1, 1.0)
    assert not js_equal(True, 1)
    assert not js_equal([0], [False])
    assert js_equal({"a": [2.0]}, {"a": [2]})


@pytest.mark.parametrize(("rule", "data", "expected"), CASES)
def test_apply(rule: Any, data: Any, expected: Any) -> None:
    result = apply(rule, data)
    assert js_equal(result, expected), f"{result!r} != {expected!r}"


@pytest.mark.parametrize(("rule", "data", "expected"), CASES)
def test_compiled(rule: Any, data: Any, expected: Any) -> None:
    evaluate = compile_rule(rule)
    result = evaluate(data)
    assert js_equal(result, expected), f"{result!r} != {expected!r}"
    # A compiled rule keeps no state between evaluations.
    assert js_equal(evaluate(data), expected)
