"""Validation of a template document against `schemas/template.schema.json`.

The meta-schema dispatches each effect by its single key (`propertyNames` + one `$ref` per
effect) instead of a 14-way `oneOf`, so a mistake inside one effect yields one error under that
effect's own path. Subschemas may carry annotations the validator ignores and we read:
`x-message` (keyword -> text, with `{instance}`) for wording that names the template concept
rather than the JSON Schema keyword; `x-key: true` on `propertyNames` schemas, so the problem's
path ends at the offending key; `x-shadows` (keywords) whose failure makes every error below
that point noise (an effect with two keys need not also report both bodies' mistakes).
"""

from __future__ import annotations

import difflib
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from magic_cube.catalog.problems import TemplateProblem, format_path

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"
TEMPLATE_SCHEMA = SCHEMAS_DIR / "template.schema.json"
SCENARIO_SCHEMA = SCHEMAS_DIR / "scenario.schema.json"


@cache
def load_schema(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def template_validator() -> Draft202012Validator:
    """Built once per process: compiling the meta-schema is far dearer than using it."""
    return Draft202012Validator(load_schema(TEMPLATE_SCHEMA))


@cache
def scenario_validator() -> Draft202012Validator:
    return Draft202012Validator(load_schema(SCENARIO_SCHEMA),
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def meta_problems(doc: Any, file: str) -> list[TemplateProblem]:
    """Every way `doc` fails the template meta-schema, one problem per actual mistake."""
    return schema_problems(template_validator(), doc, file)


def scenario_problems(doc: Any, file: str) -> list[TemplateProblem]:
    return schema_problems(scenario_validator(), doc, file)


def schema_problems(validator: Draft202012Validator, doc: Any, file: str) -> list[TemplateProblem]:
    errors = [_leaf(e) for e in validator.iter_errors(doc)]
    shadowed = [list(e.absolute_path) for e in errors
                if isinstance(e.schema, dict) and e.validator in e.schema.get("x-shadows", ())]
    errors = [e for e in errors
              if not any(len(e.absolute_path) > len(s) and list(e.absolute_path)[:len(s)] == s
                         for s in shadowed)]
    problems: list[TemplateProblem] = []
    # A misspelt field shows up twice (an unexpected key and a missing required one); report it
    # once, as the unexpected key with a "did you mean".
    explained: set[tuple[str, str]] = set()
    for error in errors:
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            problems.extend(_unexpected(error, file, explained))
    for error in errors:
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            continue
        if error.validator == "required":
            missing = _missing_name(error)
            if (format_path(error.absolute_path), missing) in explained:
                continue
        problems.append(_problem(error, file))
    return sorted(set(problems), key=lambda p: (p.path, p.message))


def _leaf(error: ValidationError) -> ValidationError:
    # anyOf/oneOf branches: the most relevant branch error speaks for the whole, unless the
    # schema words the failure itself.
    while error.context and not _custom_message(error):
        error = best_match(error.context)
    return error


def _custom_message(error: ValidationError) -> str | None:
    schema = error.schema if isinstance(error.schema, dict) else {}
    return schema.get("x-message", {}).get(error.validator)


def _problem(error: ValidationError, file: str) -> TemplateProblem:
    path = list(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if schema.get("x-key"):
        path.append(str(error.instance))  # point at the bad key itself, not its parent object
    custom = _custom_message(error)
    if custom:
        message = custom.replace("{instance}", json.dumps(error.instance, ensure_ascii=False))
    else:
        message = error.message
    return TemplateProblem(file, format_path(path), message, f"schema.{error.validator}")


def _missing_name(error: ValidationError) -> str:
    # jsonschema yields one `required` error per missing name, in order; recover which one.
    instance = error.instance if isinstance(error.instance, dict) else {}
    for name in error.validator_value:
        if name not in instance and repr(name) in error.message:
            return name
    return ""


def _unexpected(error: ValidationError, file: str,
                explained: set[tuple[str, str]]) -> list[TemplateProblem]:
    schema = error.schema if isinstance(error.schema, dict) else {}
    allowed = list(schema.get("properties", {}))
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    missing = [n for n in schema.get("required", []) if n not in error.instance]
    parent = format_path(error.absolute_path)
    out = []
    for key in error.instance:
        if key in allowed or any(p.search(key) for p in patterns):
            continue
        message = f"unexpected field {json.dumps(key, ensure_ascii=False)}"
        guess = (difflib.get_close_matches(key, missing, n=1)
                 or difflib.get_close_matches(key, allowed, n=1))
        if guess:
            message += f"; did you mean {json.dumps(guess[0])}?"
            if guess[0] in missing:
                explained.add((parent, guess[0]))
        if allowed:
            message += f" (allowed: {', '.join(allowed)})"
        out.append(TemplateProblem(file, format_path([*error.absolute_path, key]), message,
                                   "schema.additionalProperties"))
    return out
