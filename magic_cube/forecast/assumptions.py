"""What the merchant assumes about the crowd: traffic, sharing, conversion, prize costs.

A forecast file is either the activity's config alone, or an object with `config` and an
optional `assumptions` object holding the fields of `Assumptions` (command-line options win).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from magic_cube.errors import MagicCubeError

# The chance of each step of the behaviour model (docs/forecast.md, "Conversion").
CONVERSION: dict[str, float] = {
    "act": 0.3,     # a visitor takes the first step (draws, starts, sends)
    "again": 0.7,   # a lottery participant draws again while draws are left today
    "return": 0.3,  # a participant comes back on a later day
    "share": 0.5,   # a starter (or a lottery participant) shares the link
    "friend": 0.5,  # a friend who opens the link helps, joins, claims or draws
    "buy": 0.8,     # the initiator of a completed bargain buys
}


class AssumptionError(MagicCubeError):
    """An assumption or a forecast file that cannot be used."""


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
                                  f"(known: {', '.join(CONVERSION)})")
        for name, rate in self.conversion.items():
            if not 0 <= rate <= 1:
                raise AssumptionError(f"conversion {name} must be between 0 and 1, got {rate}")
        if not 0 <= self.new_share <= 1:
            raise AssumptionError("new_share must be between 0 and 1")
        if self.visitors_per_day < 0 or self.days < 1 or self.friends < 0:
            raise AssumptionError("visitors_per_day >= 0, days >= 1 and friends >= 0, please")
        if self.friend_delay_hours < 0:
            raise AssumptionError("friend_delay_hours must not be negative")
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
    def from_dict(cls, data: dict[str, Any]) -> Assumptions:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise AssumptionError(f"unknown assumption {unknown[0]!r}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise AssumptionError(str(exc)) from exc


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
