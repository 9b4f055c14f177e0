"""What the merchant assumes about the crowd: traffic, sharing, conversion, prize costs.

A forecast file is either the activity's config alone, or an object with `config` and an
optional `assumptions` object holding the fields of `Assumptions` (command-line options win).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from magic_cube.errors import MagicCubeError
from magic_cube.i18n import N_, gettext

# The chance of each step of the behaviour model (docs/forecast.md, "Conversion").
CONVERSION: dict[str, float] = {
    "act": 0.3,     # a visitor takes the first step (draws, starts, sends)
    "again": 0.7,   # a lottery participant draws again while draws are left today
    "return": 0.3,  # a participant comes back on a later day
    "share": 0.5,   # a starter (or a lottery participant) shares the link
    "friend": 0.5,  # a friend who opens the link helps, joins, claims or draws
    "buy": 0.8,     # the initiator of a completed bargain buys
}


MAX_MONEY = 10_000_000_000  # smallest units: 100 million yuan
# Bounds of each number, so that one forecast stays a forecast (and fits a request).
LIMITS: dict[str, tuple[float, float]] = {
    "visitors_per_day": (0, 100_000),
    "days": (1, 366),
    "friends": (0, 50),
    "friend_delay_hours": (0, 720),
    "new_share": (0, 1),
    "unit_cost": (0, MAX_MONEY),
    "gift_amount": (1, MAX_MONEY),
}
WHOLE = {"visitors_per_day", "days", "unit_cost", "gift_amount"}

FieldErrors = dict[str, list[dict[str, str]]]

# Field error codes and their words (the core catalog, magic_cube/translations).
MESSAGES = {
    "required": N_("This field is required"),
    "type": N_("Must be {expected}"),
    "minimum": N_("Must be at least {limit}"),
    "maximum": N_("Must be at most {limit}"),
    "unknown_field": N_("Unknown field: {fields}"),
    "max_length": N_("Must be at most {limit} characters long"),
    "too_large": N_("Too many to simulate in the time allowed: fewer visitors a day or fewer "
                    "days, please"),
}
EXPECTED = {"integer": N_("a whole number"), "number": N_("a number"),
            "object": N_("an object"), "string": N_("text")}


class AssumptionError(MagicCubeError):
    """An assumption or a forecast file that cannot be used; `errors` names the fields, in
    the shape of config errors: `{field: [{"code", "message"}]}`."""

    def __init__(self, message: str, errors: FieldErrors | None = None) -> None:
        super().__init__(message)
        self.errors: FieldErrors = errors or {}


def field_error(errors: FieldErrors, name: str, code: str, lang: str = "en",
                **values: Any) -> None:
    """Add a field error worded in `lang` (values given to a message in its own words)."""
    shown = {k: gettext(lang, EXPECTED[v]) if k == "expected" else v for k, v in values.items()}
    errors.setdefault(name, []).append({"code": code,
                                        "message": gettext(lang, MESSAGES[code], **shown)})


def _number(value: Any, whole: bool) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (not whole and isinstance(value, float)
                                      and math.isfinite(value))


def _check_number(errors: FieldErrors, name: str, value: Any, low: float, high: float,
                  whole: bool, lang: str) -> None:
    if not _number(value, whole):
        field_error(errors, name, "type", lang, expected="integer" if whole else "number")
    elif value < low:
        field_error(errors, name, "minimum", lang, limit=low)
    elif value > high:
        field_error(errors, name, "maximum", lang, limit=high)


def check(data: dict[str, Any], lang: str = "en") -> FieldErrors:
    """Field errors of assumptions given as plain JSON values (an API body, a file, a form):
    unknown names, wrong types, numbers out of bounds, rates outside 0..1."""
    errors: FieldErrors = {}
    known = {f.name for f in fields(Assumptions)}
    unknown = sorted(set(data) - known)
    if unknown:
        field_error(errors, unknown[0], "unknown_field", lang, fields=", ".join(unknown))
    for name, (low, high) in LIMITS.items():
        if data.get(name) is not None:
            _check_number(errors, name, data[name], low, high, name in WHOLE, lang)
    for name, kind in (("conversion", float), ("costs", int)):
        given = data.get(name)
        if given is None:
            continue
        if not isinstance(given, dict):
            field_error(errors, name, "type", lang, expected="object")
            continue
        if name == "conversion" and set(given) - set(CONVERSION):
            field_error(errors, name, "unknown_field", lang,
                        fields=", ".join(sorted(set(given) - set(CONVERSION))))
        for key, value in given.items():
            if kind is float:
                _check_number(errors, f"conversion.{key}", value, 0, 1, False, lang)
            else:
                _check_number(errors, f"costs.{key}", value, 0, MAX_MONEY, True, lang)
    return errors


@dataclass(frozen=True)
class Assumptions:
    visitors_per_day: int = 200
    days: int = 7
    friends: float = 3.0  # friends a sharer brings, on average
    friend_delay_hours: float = 2.0  # mean time before a friend opens a shared link
    new_share: float = 0.5  # share of visitors never seen before on the platform
    conversion: dict[str, float] = field(default_factory=lambda: dict(CONVERSION))
    costs: dict[str, int] = field(default_factory=dict)  # item name -> cost, smallest unit
    unit_cost: int = 0  # cost of an item not named in `costs`
    gift_amount: int | None = None  # amount of a money pack (default: the config's largest)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.conversion) - set(CONVERSION))
        if unknown:
            raise AssumptionError(f"unknown conversion step {unknown[0]!r} "
                                  f"(known: {', '.join(CONVERSION)})",
                                  check({"conversion": self.conversion}))
        for name, rate in self.conversion.items():
            if not 0 <= rate <= 1:
                raise AssumptionError(f"conversion {name} must be between 0 and 1, got {rate}",
                                      check({"conversion": self.conversion}))
        errors = check({f.name: getattr(self, f.name) for f in fields(self)})
        if errors:
            name, found = next(iter(errors.items()))
            raise AssumptionError(f"{name}: {found[0]['message']}", errors)
        # Missing steps take their defaults, so a file may name only what it changes.
        object.__setattr__(self, "conversion", {**CONVERSION, **self.conversion})

    def rate(self, step: str) -> float:
        return self.conversion[step]

    def updated(self, **changes: Any) -> Assumptions:
        """A copy with the given fields changed (None leaves a field as it is); a `conversion`
        or `costs` change is merged into the current one."""
        changes = {k: v for k, v in changes.items() if v is not None}
        if "conversion" in changes:
            changes["conversion"] = {**self.conversion, **changes["conversion"]}
        if "costs" in changes:
            changes["costs"] = {**self.costs, **changes["costs"]}
        return replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict[str, Any], lang: str = "en") -> Assumptions:
        """Assumptions from plain JSON values; `AssumptionError` with field errors worded in
        `lang` when any is wrong."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise AssumptionError(f"unknown assumption {unknown[0]!r}", check(data, lang))
        errors = check(data, lang)
        if errors:
            name, found = next(iter(errors.items()))
            raise AssumptionError(f"{name}: {found[0]['message']}", errors)
        try:
            return cls(**{k: v for k, v in data.items() if v is not None})
        except TypeError as exc:
            raise AssumptionError(str(exc)) from exc

    def as_dict(self) -> dict[str, Any]:
        """The assumptions as plain JSON values (what `from_dict` reads)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def read_forecast_file(path: Path) -> tuple[dict[str, Any], Assumptions]:
    """The activity config and the assumptions of a forecast file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AssumptionError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise AssumptionError(f"{path}: expected a JSON object")
    if "config" in data and isinstance(data["config"], dict):
        assumptions = data.get("assumptions", {})
        if not isinstance(assumptions, dict):
            raise AssumptionError(f"{path}: assumptions must be an object")
        return data["config"], Assumptions.from_dict(assumptions)
    return data, Assumptions()


def parse_pairs(values: tuple[str, ...] | list[str], kind: type = float) -> dict[str, Any]:
    """`("act=0.4,share=0.6", "buy=1")` -> `{"act": 0.4, "share": 0.6, "buy": 1.0}`."""
    out: dict[str, Any] = {}
    for value in values:
        for pair in filter(None, (p.strip() for p in value.split(","))):
            name, sep, number = pair.rpartition("=")
            if not sep or not name:
                raise AssumptionError(f"expected NAME=VALUE, got {pair!r}")
            try:
                out[name.strip()] = kind(number)
            except ValueError as exc:
                raise AssumptionError(f"{name}: not a number: {number!r}") from exc
    return out
