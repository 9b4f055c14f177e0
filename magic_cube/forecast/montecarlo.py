"""Many runs of one plan, and what they add up to: P10/P50/P90 and plain-word warnings."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from magic_cube.catalog import TemplateEntry
from magic_cube.forecast.assumptions import AssumptionError, Assumptions
from magic_cube.forecast.behaviour import BEHAVIOURS
from magic_cube.forecast.simulate import Plan, Run, RunResult
from magic_cube.rules.days import epoch, zone

QUANTILES = {"p10": 0.1, "p50": 0.5, "p90": 0.9}
NEVER = "never"


def make_plan(entry: TemplateEntry, config: dict[str, Any], assumptions: Assumptions,
              timezone: str = "Asia/Shanghai", start: int | None = None) -> Plan:
    """Check the config against the template (defaults filled in) and pick the behaviour."""
    behaviour = BEHAVIOURS.get(entry.kind)
    if behaviour is None:
        raise AssumptionError(f"no behaviour model for templates of kind {entry.kind!r} "
                              f"(known: {', '.join(sorted(BEHAVIOURS))})")
    filled, errors = entry.config_validator.validate(config)
    if errors:
        first = [f"config.{name}: {e['message']}" for name, items in errors.items()
                 for e in items]
        raise AssumptionError("; ".join(first))
    metrics = entry.doc.get("metrics", {})
    if start is None:  # a fixed local midnight, so that a forecast never depends on today
        start = epoch(datetime(2026, 1, 5, tzinfo=zone(timezone)))
    return Plan(entry.compiled, filled, assumptions, behaviour,
                frozenset(metrics.get("participation", [])),
                frozenset(metrics.get("completion", [])),
                entry.doc.get("fulfilment", {}), start, timezone)


def simulate(plan: Plan, runs: int, seed: int | str = 0,
             progress: Callable[[int], None] | None = None) -> list[RunResult]:
    """`runs` independent runs; the same seed gives the same results."""
    results = []
    for i in range(runs):
        results.append(Run(plan, f"{seed}/{i}").play())
        if progress is not None:
            progress(1)
    return results


def quantiles(values: list[float | None]) -> dict[str, Any]:
    """Nearest-rank P10/P50/P90; `None` (it never happened) sorts last and reads "never"."""
    ordered = sorted(values, key=lambda v: math.inf if v is None else v)
    out: dict[str, Any] = {}
    for name, q in QUANTILES.items():
        value = ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]
        out[name] = NEVER if value is None else (round(value, 2)
                                                 if isinstance(value, float) else value)
    return out


@dataclass
class Forecast:
    template: str
    kind: str
    assumptions: Assumptions
    runs: list[RunResult]
    currency: str = ""
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        runs = self.runs
        stock_names = list(runs[0].stock_out) if runs else []
        shares = [r.completion_share for r in runs if r.completion_share is not None]
        out: dict[str, Any] = {
            "template": self.template,
            "kind": self.kind,
            "runs": len(runs),
            "currency": self.currency,
            "participations": quantiles([r.participations for r in runs]),
            "participants": quantiles([r.participants for r in runs]),
            "first_time": quantiles([r.first_time for r in runs]),
            "first_time_mean": round(mean([r.first_time for r in runs]), 1),
            "completions": quantiles([r.completions for r in runs]),
            "cost": quantiles([r.cost for r in runs]),
            "prize_cost": quantiles([r.prize_cost for r in runs]),
            "given_away": quantiles([r.given_away for r in runs]),
            "stock_out": {
                name: {**quantiles([r.stock_out[name] for r in runs]),
                       "share_of_runs": round(sum(r.stock_out[name] is not None
                                                  for r in runs) / len(runs), 3)}
                for name in stock_names
            },
            "rooms": {
                "started": quantiles([r.rooms_started for r in runs]),
                "completed": quantiles([r.rooms_completed for r in runs]),
                "completion_share": round(mean(shares), 3) if shares else None,
            },
            "awarded": {item: quantiles([r.awarded.get(item, 0) for r in runs])
                        for item in sorted({i for r in runs for i in r.awarded})},
            "warnings": self.warnings,
            "assumptions": {
                "visitors_per_day": self.assumptions.visitors_per_day,
                "days": self.assumptions.days,
                "friends": self.assumptions.friends,
                "friend_delay_hours": self.assumptions.friend_delay_hours,
                "new_share": self.assumptions.new_share,
                "conversion": self.assumptions.conversion,
                "costs": self.assumptions.costs,
                "unit_cost": self.assumptions.unit_cost,
            },
        }
        return out


def mean(values: list[float] | list[int]) -> float:
    return sum(values) / len(values) if values else 0.0


def forecast(entry: TemplateEntry, config: dict[str, Any], assumptions: Assumptions,
             runs: int = 20, seed: int | str = 0, timezone: str = "Asia/Shanghai",
             progress: Callable[[int], None] | None = None) -> Forecast:
    """Run the template's real rules `runs` times under `assumptions`."""
    if runs < 1:
        raise AssumptionError("runs must be at least 1")
    plan = make_plan(entry, config, assumptions, timezone)
    results = simulate(plan, runs, seed, progress)
    result = Forecast(entry.id, entry.kind, assumptions, results,
                      currency=str(entry.doc.get("currency", "")))
    result.warnings = warnings(result, plan)
    return result


def _hours(value: float) -> str:
    if value < 1:
        return "within the first hour"
    if value < 24:
        return f"within {math.ceil(value)} hours"
    return f"on day {int(value // 24) + 1}"


def warnings(result: Forecast, plan: Plan) -> list[str]:
    """What a merchant should read before launching, in plain words."""
    out = []
    runs = result.runs
    for name in runs[0].stock_out if runs else []:
        typical = quantiles([r.stock_out[name] for r in runs])["p50"]
        if typical == NEVER:
            continue
        out.append(f"the {name} is gone {_hours(typical)} in half the runs at these odds"
                   if typical < 1 else
                   f"the {name} runs out {_hours(typical)} in half the runs "
                   f"(the activity lasts {plan.assumptions.days} days)")
    shares = [r.completion_share for r in runs if r.completion_share is not None]
    if shares and mean(shares) < 0.2:
        noun = {"bargain": "bargains", "group_buy": "groups", "gift": "gift packs"}.get(
            result.kind, "rooms")
        advice = ("" if result.kind == "gift" else
                  ": need fewer friends, allow more time, or expect disappointed shoppers")
        out.append(f"only {mean(shares):.0%} of {noun} complete at these assumptions{advice}")
    uncosted = sorted({item for r in runs for item in r.awarded}
                      - set(plan.assumptions.costs))
    if uncosted and plan.assumptions.unit_cost == 0 and plan.config.get("mode") != "amount":
        out.append(f"no cost given for {', '.join(uncosted)}: counted as 0 "
                   "(set one with --cost NAME=AMOUNT)")
    if runs and not any(r.participations for r in runs):
        out.append("nobody takes part at these assumptions")
    return out
