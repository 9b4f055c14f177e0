"""Validation of a merchant's configuration against a template's config schema and checks.

Errors are keyed by dotted field path (`prizes.0.stock`, `""` for the whole config) with a
stable code and a zh/en message, so the console can show each next to its field and the API can
return them as they are. Validators are built once per template and reused: building a
`Draft202012Validator` is far dearer than running one.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import date
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from magic_cube.catalog.schemaref import array_items, object_properties, resolve
from magic_cube.catalog.values import Spot, formats_of, types_of, walk
from magic_cube.errors import MESSAGE_LIMIT, cut, quoting
from magic_cube.i18n import N_, gettext, language
from magic_cube.rules.compiler import definition_order, inline_definitions
from magic_cube.rules.days import FIRST_YEAR, LAST_YEAR, supported_time
from magic_cube.rules.errors import TemplateCompileError
from magic_cube.rules.jsonlogic import JsonLogicError, compile_rule, truthy
from magic_cube.rules.jsonlogic.dates import parse_date_time

FieldErrors = dict[str, list[dict[str, str]]]

# The message of each JSON Schema keyword, and the words it fills in, in English: the
# translations are in the gettext catalog (magic_cube/translations), read in `_message`.
MESSAGES: dict[str, str] = {
    "required": N_("This field is required"),
    "type": N_("Must be {expected}"),
    "minimum": N_("Must be at least {limit}"),
    "maximum": N_("Must be at most {limit}"),
    "exclusiveMinimum": N_("Must be greater than {limit}"),
    "exclusiveMaximum": N_("Must be less than {limit}"),
    "minLength": N_("Must be at least {limit} characters long"),
    "maxLength": N_("Must be at most {limit} characters long"),
    "pattern": N_("Does not have the expected format"),
    "enum": N_("Must be one of: {choices}"),
    "const": N_("Must be {value}"),
    "format": N_("Must be a valid {format}"),
    "minItems": N_("Must have at least {limit} items"),
    "maxItems": N_("Must have at most {limit} items"),
    "uniqueItems": N_("Items must not repeat"),
    "additionalProperties": N_("Unknown field: {fields}"),
    "multipleOf": N_("Must be a multiple of {limit}"),
}
TYPE_NAMES: dict[str, str] = {
    "integer": N_("a whole number"),
    "number": N_("a number"),
    "string": N_("text"),
    "boolean": N_("true or false"),
    "array": N_("a list"),
    "object": N_("an object"),
    "null": N_("empty"),
}
# A number sent as text ("5" for 5): the plain `type` message would read as nonsense.
NUMBER_AS_TEXT = N_("Must be {expected}: a number, not text in quotes")
# Dates beyond the years we support (rules/days.py), code `out_of_range`.
OUT_OF_RANGE: dict[str, str] = {
    "date-time": N_("Must be in the years {first} to {last} (UTC)"),
    "date": N_("Must be in the years {first} to {last}"),
}
# Two items of a list with the same `name`, code `duplicate_name`.
DUPLICATE_NAME = N_("“{name}” is already the name of item {item}: each needs its own name")
# Joins the expected types of a `type` error: "text or a number".
TYPE_JOINER = N_(" or ")
FORMAT_NAMES: dict[str, str] = {
    "date": N_("date (YYYY-MM-DD)"),
    "date-time": N_("date and time (e.g. 2026-11-11T10:00:00+08:00)"),
    "time": N_("time (e.g. 10:00:00+08:00)"),
    "email": N_("email address"),
    "uri": N_("URL"),
}

_CACHE: dict[str, ConfigValidator] = {}


class ConfigValidator:
    """The config schema and cross-field checks of one template, compiled once."""

    def __init__(self, schema: dict[str, Any], checks: list[dict[str, Any]] | None = None) -> None:
        self.schema = schema
        self.validator = Draft202012Validator(
            schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        self.checks: list[tuple[Callable[[Any], Any], dict[str, Any]]] = [
            (compile_rule(check["rule"]), check) for check in checks or []]

    @classmethod
    def for_template(cls, doc: dict[str, Any], content_hash: str | None = None) -> ConfigValidator:
        """The validator of a template document, cached by content hash when one is given."""
        if content_hash is not None and content_hash in _CACHE:
            return _CACHE[content_hash]
        config = doc.get("config", {})
        checks = config.get("checks", [])
        definitions = doc.get("definitions")
        if definitions:
            checks = [{**c, "rule": _inlined(c["rule"], definitions)} for c in checks]
        made = cls(config.get("schema", {"type": "object"}), checks)
        if content_hash is not None:
            _CACHE[content_hash] = made
        return made

    def fill_defaults(self, config: Any) -> Any:
        """A copy of `config` with the defaults of missing optional properties, at any depth."""
        filled = copy.deepcopy(config)
        _fill(self.schema, self.schema, filled)
        return filled

    def validate(self, config: Any, lang: str = "en") -> tuple[dict[str, Any], FieldErrors]:
        """(config with defaults filled, errors by field path); no errors means valid."""
        lang = language(lang)
        if not isinstance(config, dict):
            return {}, field_errors(self.validator, config, lang)
        filled = self.fill_defaults(config)
        errors = field_errors(self.validator, filled, lang)
        spots = list(walk(self.schema, filled))
        for spot in spots:
            if spot.dotted not in errors:
                _check_date(spot, errors, lang)
        self._run_checks(filled, errors, lang)
        _check_names(spots, errors, lang)  # after the template's checks: its own words first
        if not errors:
            _whole_numbers(spots)
        return filled, errors

    def _run_checks(self, config: dict[str, Any], errors: FieldErrors, lang: str) -> None:
        # Checks compare fields with each other: each runs when the fields it reads are valid,
        # so that a merchant sees every mistake at once, not one round after another.
        for rule, check in self.checks:
            if not self._readable(check, config, errors):
                continue
            try:
                ok = truthy(rule({"config": config}))
            except (JsonLogicError, ArithmeticError, TypeError, ValueError):
                ok = False  # a check that cannot be evaluated on this config does not pass
            if not ok:
                message = check["message"].get(lang) or check["message"].get("en", "")
                _add(errors, check["field"], check["error"], message)

    def _readable(self, check: dict[str, Any], config: dict[str, Any],
                  errors: FieldErrors) -> bool:
        """Whether every config field the check reads is there and free of schema errors."""
        for name in _config_fields(check["rule"]):
            if _has_errors(name, errors):
                return False
            if name not in config and not _has_default(check["rule"], name):
                return False
        return True


def _whole_numbers(spots: list[Spot]) -> None:
    """Each float of an `integer` field as an int, in place. JSON Schema's `integer` admits
    100.0 (a client's `1e2`), but money and counts are stored, shown and added up as integers;
    a float with a fraction never gets here, the schema has refused it."""
    for spot in spots:
        if isinstance(spot.value, float) and spot.value.is_integer() \
                and "integer" in types_of(spot):
            spot.replace(int(spot.value))


def _check_names(spots: list[Spot], errors: FieldErrors, lang: str) -> None:
    """Items of a list that have a `name` (text) need names of their own: forecast costs, stock
    lines and pages tell them apart by it. Like a check, it waits for a list free of other
    errors, so a template's own check on the list (collect_cards' cards) speaks instead."""
    names = {spot.path: spot.value for spot in spots
             if spot.path[-1:] == ("name",) and isinstance(spot.value, str)
             and "string" in types_of(spot)}
    for spot in spots:
        if not isinstance(spot.value, list) or _has_errors(spot.dotted, errors):
            continue
        first: dict[str, int] = {}
        for index in range(len(spot.value)):
            name = names.get((*spot.path, str(index), "name"))
            if name is None:
                continue
            if name in first:
                _add(errors, f"{spot.dotted}.{index}.name", "duplicate_name",
                     gettext(lang, DUPLICATE_NAME).format(name=name, item=first[name] + 1))
            else:
                first[name] = index


def _has_errors(path: str, errors: FieldErrors) -> bool:
    return any(p == path or p.startswith(path + ".") for p in errors)


def _check_date(spot: Spot, errors: FieldErrors, lang: str) -> None:
    """A `date` or `date-time` must also lie in the years we support: the activity's pages,
    timers and forecasts read it through a calendar that ends at year 9999."""
    formats = formats_of(spot) if isinstance(spot.value, str) else set()
    kind = "date-time" if "date-time" in formats else "date" if "date" in formats else None
    if kind is None:
        return
    try:
        supported = supported_time(parse_date_time(spot.value)) if kind == "date-time" \
            else FIRST_YEAR <= date.fromisoformat(spot.value).year <= LAST_YEAR
    except ValueError:  # not a date at all (the rules' JsonLogicError is one too)
        return  # the format check has said so
    if not supported:
        _add(errors, spot.dotted, "out_of_range",
             gettext(lang, OUT_OF_RANGE[kind]).format(first=FIRST_YEAR, last=LAST_YEAR))


def _inlined(rule: Any, definitions: dict[str, Any]) -> Any:
    """A check with the template's named expressions written out, so the fields it reads
    through them are known (a template with a cycle is refused before it gets here)."""
    try:
        definition_order(definitions)
    except TemplateCompileError:
        return rule
    return inline_definitions(rule, definitions)


def _config_fields(rule: Any) -> set[str]:
    """The top-level config fields a JsonLogic rule reads (`{"var": "config.x.y"}` -> x)."""
    found: set[str] = set()
    if isinstance(rule, dict):
        for op, arg in rule.items():
            if op == "var":
                name = arg[0] if isinstance(arg, list) and arg else arg
                if isinstance(name, str) and name.startswith("config."):
                    found.add(name.split(".")[1])
            else:
                found |= _config_fields(arg)
    elif isinstance(rule, list):
        for item in rule:
            found |= _config_fields(item)
    return found


def _has_default(rule: Any, name: str) -> bool:
    """Whether the rule reads `config.name` with a default (`{"var": ["config.name", 0]}`)."""
    if isinstance(rule, dict):
        arg = rule.get("var")
        if isinstance(arg, list) and len(arg) > 1 and arg[0] == f"config.{name}":
            return True
        return any(_has_default(v, name) for v in rule.values())
    if isinstance(rule, list):
        return any(_has_default(v, name) for v in rule)
    return False


def field_errors(validator: Draft202012Validator, instance: Any, lang: str = "en") -> FieldErrors:
    """Schema errors of `instance` keyed by dotted path, each `{"code", "message"}`.

    Reusable for any schema (the API validates action params the same way).
    """
    lang = language(lang)
    errors: FieldErrors = {}
    for error in validator.iter_errors(instance):
        while error.context:  # anyOf/oneOf: the most relevant branch speaks for the whole
            error = best_match(error.context)
        path = [str(p) for p in error.absolute_path]
        if error.validator == "required" and isinstance(error.instance, dict):
            # The missing field's own path, where the form shows it.
            for name in error.validator_value:
                if name not in error.instance and repr(name) in error.message:
                    _add(errors, ".".join([*path, name]), "required",
                         gettext(lang, MESSAGES["required"]))
            continue
        _add(errors, ".".join(path), str(error.validator), _message(error, lang))
    return errors


def _message(error: ValidationError, lang: str) -> str:
    keyword = str(error.validator)
    if keyword not in MESSAGES:
        return quoting(error.message, error.instance)
    template = gettext(lang, MESSAGES[keyword])
    value = error.validator_value
    if keyword == "type":
        kinds = value if isinstance(value, list) else [value]
        expected = gettext(lang, TYPE_JOINER).join(
            gettext(lang, TYPE_NAMES[k]) if k in TYPE_NAMES else str(k) for k in kinds)
        if isinstance(error.instance, str) and set(kinds) <= {"integer", "number"}:
            template = gettext(lang, NUMBER_AS_TEXT)
        return template.format(expected=expected)
    if keyword == "enum":
        return template.format(choices=", ".join(_show(v) for v in value))
    if keyword == "const":
        return template.format(value=_show(value))
    if keyword == "format":
        name = gettext(lang, FORMAT_NAMES[value]) if value in FORMAT_NAMES else value
        return template.format(format=name)
    if keyword == "additionalProperties":
        schema = error.schema if isinstance(error.schema, dict) else {}
        known = schema.get("properties", {})
        instance = error.instance
        extra = [k for k in instance if k not in known] if isinstance(instance, dict) else []
        return template.format(fields=cut(", ".join(extra), MESSAGE_LIMIT))
    return template.format(limit=_show(value))


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _add(errors: FieldErrors, path: str, code: str, message: str) -> None:
    entry = {"code": code, "message": message}
    bucket = errors.setdefault(path, [])
    if entry not in bucket:
        bucket.append(entry)


def _fill(root: dict[str, Any], schema: Any, value: Any) -> None:
    node = resolve(root, schema)
    if not isinstance(node, dict):
        return
    if isinstance(value, dict):
        props = object_properties(root, node) or {}
        required = _required(root, node)
        for name, sub in props.items():
            if name not in value and name not in required:
                target = resolve(root, sub)
                if isinstance(target, dict) and "default" in target:
                    value[name] = copy.deepcopy(target["default"])
        for name, sub in props.items():
            if name in value:
                _fill(root, sub, value[name])
    elif isinstance(value, list):
        items = array_items(root, node)
        if items:
            for item in value:
                _fill(root, items, item)


def _required(root: dict[str, Any], node: dict[str, Any]) -> set[str]:
    names = set(node.get("required", [])) if isinstance(node.get("required"), list) else set()
    for member in node.get("allOf", []) if isinstance(node.get("allOf"), list) else []:
        target = resolve(root, member)
        if isinstance(target, dict):
            names |= _required(root, target)
    return names
