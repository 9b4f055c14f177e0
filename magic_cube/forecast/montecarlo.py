"""Many runs of one plan, and what they add up to: P10/P50/P90 and plain-word warnings.

Warnings are notes — a code and its values — worded in the reader's language through the core
catalog (`magic_cube.i18n`), so the console, the API and the command line say the same thing.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from magic_cube.catalog import TemplateEntry
from magic_cube.forecast.assumptions import (
    CONVERSION,
    AssumptionError,
    Assumptions,
    field_error,
)
from magic_cube.forecast.behaviour import BEHAVIOURS, behaviour_for
from magic_cube.forecast.simulate import OutOfTime, Plan, Run, RunResult, resolve
from magic_cube.i18n import N_, gettext, language
from magic_cube.rules.compiler import compile_for
from magic_cube.rules.days import epoch, zone

QUANTILES = {"p10": 0.1, "p50": 0.5, "p90": 0.9}
NEVER = "never"


def make_plan(entry: TemplateEntry, config: dict[str, Any], assumptions: Assumptions,
              timezone: str = "Asia/Shanghai", start: int | None = None,
              state: dict[str, Any] | None = None) -> Plan:
    """Check the config against the template (defaults filled in) and pick the behaviour.
    `state`: the activity's state to start from (a live activity's), else its initial one."""
    behaviour = behaviour_for(entry.compiled, entry.kind)
    if behaviour is None:
        raise AssumptionError(f"no behaviour model for template {entry.id!r}: none for its "
                              f"kind {entry.kind!r} (known: {', '.join(sorted(BEHAVIOURS))}), "
                              "and no action a participant takes on their own whose params "
                              "have defaults")
    filled, errors = entry.config_validator.validate(config)
    if errors:
        first = [f"config.{name}: {e['message']}" for name, items in errors.items()
                 for e in items]
        raise AssumptionError("; ".join(first))
    metrics = entry.doc.get("metrics", {})
    if start is None:  # a fixed local midnight, so that a forecast never depends on today
        start = epoch(datetime(2026, 1, 5, tzinfo=zone(timezone)))
    # The rules compiled for this config: a forecast runs it many thousands of times.
    return Plan(compile_for(entry.doc, filled, entry.compiled), filled, assumptions, behaviour,
                frozenset(metrics.get("participation", [])),
                frozenset(metrics.get("completion", [])),
                entry.doc.get("fulfilment", {}), start, timezone, state)


def simulate(plan: Plan, runs: int, seed: int | str = 0,
             progress: Callable[[int], None] | None = None,
             deadline: float | None = None) -> list[RunResult]:
    """`runs` independent runs; the same seed gives the same results. With a `deadline`
    (`time.monotonic()`), the runs finished by then: the run in progress is dropped."""
    results = []
    for i in range(runs):
        try:
            results.append(Run(plan, f"{seed}/{i}").play(deadline))
        except OutOfTime:
            break
        if progress is not None:
            progress(1)
    return results


def cost_items(entry: TemplateEntry, config: dict[str, Any]) -> list[str]:
    """The items whose cost a forecast counts: what the template's `fulfilment` events hand
    out, named from the config (a lottery's prizes, a product), in config order. A money
    gift's shares are money given away, not items."""
    items: list[str] = []
    if config.get("mode") == "amount":
        return items
    for spec in entry.doc.get("fulfilment", {}).values():
        named = spec.get("item") if isinstance(spec, dict) else None
        found: list[Any] = []
        if isinstance(named, dict):
            found = [resolve(named, {}, config)]
        elif isinstance(config.get("prizes"), list):
            found = [p.get("name") for p in config["prizes"] if isinstance(p, dict)]
        items += [str(i) for i in found if i not in (None, "") and str(i) not in items]
    return items


def quantiles(values: list[float | None]) -> dict[str, Any]:
    """Nearest-rank P10/P50/P90; `None` (it never happened) sorts last and reads "never"."""
    ordered = sorted(values, key=lambda v: math.inf if v is None else v)
    out: dict[str, Any] = {}
    for name, q in QUANTILES.items():
        value = ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]
        out[name] = NEVER if value is None else (round(value, 2)
                                                 if isinstance(value, float) else value)
    return out


# What a warning says, by its code (`Note.code`); its values fill the placeholders.
WARNINGS = {
    "stock_already_out": N_("The {name} is already gone"),
    "stock_gone_first_hour": N_("The {name} is gone within the first hour in half the runs at "
                                "these odds"),
    "stock_out_hours": N_("The {name} runs out within {hours} hours in half the runs, before "
                          "the activity ends"),
    "stock_out_day": N_("The {name} runs out on day {day} of {days} in half the runs"),
    "few_bargains_complete": N_("Only {share} of bargains complete at these assumptions: need "
                                "fewer friends, allow more time, or expect disappointed "
                                "shoppers"),
    "few_groups_complete": N_("Only {share} of groups complete at these assumptions: need "
                              "fewer friends, allow more time, or expect disappointed "
                              "shoppers"),
    "few_gift_packs_complete": N_("Only {share} of gift packs are claimed in full at these "
                                  "assumptions"),
    "few_rooms_complete": N_("Only {share} of rooms complete at these assumptions"),
    "no_friend_helps": N_("No friend comes at these assumptions (friends per share, or the "
                          "chance to share or to help, is 0): no bargain can be completed"),
    "no_friend_joins": N_("No friend comes at these assumptions (friends per share, or the "
                          "chance to share or to join, is 0): no group can fill"),
    "no_friend_claims": N_("No friend comes at these assumptions (friends per share, or the "
                           "chance to share or to claim, is 0): no gift pack is claimed"),
    "no_cost": N_("No cost given for {items}: counted as 0"),
    "nobody_takes_part": N_("Nobody takes part at these assumptions"),
}


@dataclass(frozen=True)
class Note:
    """One warning: a stable code and the values its words need."""

    code: str
    values: dict[str, Any] = field(default_factory=dict)

    def words(self, lang: str = "en") -> str:
        # a list of names reads as a list in the language: "a, b" or "a、b"
        values = {name: (("、" if language(lang) == "zh" else ", ").join(value)
                         if isinstance(value, list) else value)
                  for name, value in self.values.items()}
        return gettext(lang, WARNINGS[self.code], **values)

    def as_dict(self, lang: str = "en") -> dict[str, Any]:
        return {"code": self.code, "values": self.values, "message": self.words(lang)}


@dataclass
class Forecast:
    template: str
    kind: str
    assumptions: Assumptions
    runs: list[RunResult]
    currency: str = ""
    notes: list[Note] = field(default_factory=list)
    runs_asked: int = 0  # fewer were done when the time budget ran out
    start: int = 0  # epoch seconds of the first simulated moment
    timezone: str = "Asia/Shanghai"

    @property
    def warnings(self) -> list[str]:
        """The warnings in English."""
        return [n.words("en") for n in self.notes]

    def daily(self) -> list[dict[str, Any]]:
        """Per day: P10/P50/P90 of participations so far and of each stock left at its end."""
        runs = self.runs
        days = min((len(r.daily_participations) for r in runs), default=0)
        names = list(runs[0].daily_stock) if runs else []
        return [{"day": d + 1,
                 "participations": quantiles([r.daily_participations[d] for r in runs]),
                 "stock_left": {n: quantiles([r.daily_stock[n][d] for r in runs])
                                for n in names}}
                for d in range(days)]

    def summary(self, lang: str = "en") -> dict[str, Any]:
        """Everything as JSON values; warnings worded in `lang`."""
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
            "warnings": [n.words(lang) for n in self.notes],
            "notes": [n.as_dict(lang) for n in self.notes],
            "daily": self.daily(),
            "runs_asked": self.runs_asked or len(runs),
            "start": self.start,
            "timezone": self.timezone,
            "assumptions": {
                "visitors_per_day": self.assumptions.visitors_per_day,
                "days": self.assumptions.days,
                "friends": self.assumptions.friends,
                "friend_delay_hours": self.assumptions.friend_delay_hours,
                "new_share": self.assumptions.new_share,
                "conversion": self.assumptions.conversion,
                "costs": self.assumptions.costs,
                "unit_cost": self.assumptions.unit_cost,
                "gift_amount": self.assumptions.gift_amount,
            },
        }
        return out


def mean(values: list[float] | list[int]) -> float:
    return sum(values) / len(values) if values else 0.0


MAX_RUNS = 1000


def forecast(entry: TemplateEntry, config: dict[str, Any], assumptions: Assumptions,
             runs: int = 20, seed: int | str = 0, timezone: str = "Asia/Shanghai",
             progress: Callable[[int], None] | None = None, *, start: int | None = None,
             state: dict[str, Any] | None = None, time_budget: float | None = None,
             lang: str = "en") -> Forecast:
    """Run the template's real rules `runs` times under `assumptions`, from `start` (epoch
    seconds; a fixed Monday by default) and the activity `state` (its initial one by default).
    With `time_budget` (seconds), as many runs as finish in it; `AssumptionError` (on
    `visitors_per_day`, worded in `lang`) when not even one does."""
    if runs < 1:
        raise AssumptionError("runs must be at least 1")
    plan = make_plan(entry, config, assumptions, timezone, start, state)
    deadline = None if time_budget is None else time.monotonic() + time_budget
    results = simulate(plan, runs, seed, progress, deadline)
    if not results:
        errors: dict[str, list[dict[str, str]]] = {}
        field_error(errors, "visitors_per_day", "too_large", lang)
        raise AssumptionError(errors["visitors_per_day"][0]["message"], errors)
    result = Forecast(entry.id, entry.kind, assumptions, results,
                      currency=str(entry.doc.get("currency", "")), runs_asked=runs,
                      start=plan.start, timezone=timezone)
    result.notes = notes(result, plan)
    return result


def _stock_note(name: str, typical: float, days: int) -> Note:
    if typical < 1:
        return Note("stock_gone_first_hour", {"name": name})
    if typical < 24:
        return Note("stock_out_hours", {"name": name, "hours": math.ceil(typical)})
    return Note("stock_out_day", {"name": name, "day": int(typical // 24) + 1, "days": days})


COMPLETION_NOTES = {"bargain": "few_bargains_complete", "group_buy": "few_groups_complete",
                    "gift": "few_gift_packs_complete"}


# Kinds whose rooms complete only with friends: a bargain's helpers, a group's members, a
# pack's claimers.
NO_FRIEND_NOTES = {"bargain": "no_friend_helps", "group_buy": "no_friend_joins",
                   "gift": "no_friend_claims"}


def no_friends(assumptions: Assumptions) -> bool:
    """Whether no friend ever acts on a shared link at these assumptions."""
    rates = {**CONVERSION, **assumptions.conversion}
    return assumptions.friends == 0 or rates["share"] == 0 or rates["friend"] == 0


def notes(result: Forecast, plan: Plan) -> list[Note]:
    """What a merchant should read before launching (codes and values; `Note.words`)."""
    out = []
    runs = result.runs
    at_start = Run(plan, "start").stock_left()
    for name in runs[0].stock_out if runs else []:
        typical = quantiles([r.stock_out[name] for r in runs])["p50"]
        if at_start.get(name, 1) <= 0:
            out.append(Note("stock_already_out", {"name": name}))
        elif typical != NEVER:
            out.append(_stock_note(name, typical, plan.assumptions.days))
    shares = [r.completion_share for r in runs if r.completion_share is not None]
    if result.kind in NO_FRIEND_NOTES and no_friends(plan.assumptions):
        # Said as the cause: "need fewer friends" would mislead when none come at all.
        out.append(Note(NO_FRIEND_NOTES[result.kind]))
    elif shares and mean(shares) < 0.2:
        out.append(Note(COMPLETION_NOTES.get(result.kind, "few_rooms_complete"),
                        {"share": f"{mean(shares):.0%}"}))
    uncosted = sorted({item for r in runs for item in r.awarded}
                      - set(plan.assumptions.costs))
    if uncosted and plan.assumptions.unit_cost == 0 and plan.config.get("mode") != "amount":
        out.append(Note("no_cost", {"items": uncosted}))
    if runs and not any(r.participations for r in runs):
        out.append(Note("nobody_takes_part"))
    return out


def _add_runs(total: RunResult, run: RunResult, prefix: str) -> None:
    for name in ("actions", "accepted", "participations", "participants", "first_time",
                 "completions", "rooms_started", "rooms_completed", "prize_cost",
                 "given_away"):
        setattr(total, name, getattr(total, name) + getattr(run, name))
    for item, units in run.awarded.items():
        total.awarded[item] = total.awarded.get(item, 0) + units
    for code, count in run.refusals.items():
        total.refusals[code] = total.refusals.get(code, 0) + count
    for name, hour in run.stock_out.items():
        total.stock_out[f"{prefix}{name}"] = hour
        total.stock_out_after[f"{prefix}{name}"] = run.stock_out_after.get(name)
        total.daily_stock[f"{prefix}{name}"] = list(run.daily_stock.get(name, []))
    days = max(len(total.daily_participations), len(run.daily_participations))
    total.daily_participations = [
        _at(total.daily_participations, d) + _at(run.daily_participations, d)
        for d in range(days)]


def _at(values: list[int], day: int) -> int:
    """A cumulative count on `day`: its last value once a shorter series has ended."""
    if not values:
        return 0
    return values[min(day, len(values) - 1)]


def combine(parts: Sequence[tuple[str, Forecast]], named: bool = False) -> Forecast:
    """Several activities' forecasts as one (a campaign's): run i of each part added to run i
    of the others, so that P10/P50/P90 are those of the sum. Stocks are named
    `"<label>: <stock>"` (a single part's only when `named`); notes keep their own. Runs beyond
    the fewest of any part are left out. Participants are summed: one person in two activities
    counts twice."""
    if not parts:
        raise AssumptionError("nothing to combine")
    count = min(len(f.runs) for _, f in parts)
    runs = [RunResult() for _ in range(count)]
    for label, part in parts:
        for total, run in zip(runs, part.runs, strict=False):
            _add_runs(total, run, f"{label}: " if named or len(parts) > 1 else "")
    first = parts[0][1]
    return Forecast(", ".join(f.template for _, f in parts), "combined",
                    copy.deepcopy(first.assumptions), runs, first.currency,
                    [n for _, f in parts for n in f.notes], count,
                    min(f.start for _, f in parts), first.timezone)
