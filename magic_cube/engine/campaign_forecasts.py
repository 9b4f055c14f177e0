"""A campaign's forecast: the forecasts of its activities (engine/forecasts.py), run by run
added into one (`forecast.montecarlo.combine`).

Who sees what follows the campaign's stats: the owner's forecast covers every counted activity, a
member's its own; the owner sees other merchants' activities only inside the figures of the whole
(no titles, stocks, prizes or warnings of theirs, only how many were forecast). Ended and archived
activities bring nothing more and are left out, as are those whose template has no behaviour model
or whose saved config cannot run (listed under `skipped` with the reason). One set of assumptions
applies to each activity (`visitors_per_day` is per activity); the time budget is shared, so a
campaign takes no longer than one activity. Participants are summed: one person in two activities
counts twice.
"""

from __future__ import annotations

import hashlib
from typing import Any

from magic_cube.engine.campaigns import Campaigns
from magic_cube.engine.errors import InvalidActivity, InvalidConfig, NothingToForecast
from magic_cube.engine.forecasts import (
    DEFAULT_RUNS,
    TIME_BUDGET,
    ActivityForecast,
    Forecasts,
    ForecastUnavailable,
    InvalidAssumptions,
    check_run,
    iso_utc,
)
from magic_cube.forecast.montecarlo import combine, quantiles
from magic_cube.store.records import Merchant

OVER = ("ended", "archived")
HIDDEN = "\x00"


def _hide_others(out: dict[str, Any], mine: list[Any], lang: str) -> None:
    """Keep the sums; drop what names another merchant's activity: its stocks, its prizes,
    its warnings and its template."""
    out["stock_out"] = {k: v for k, v in out["stock_out"].items() if not k.startswith(HIDDEN)}
    for day in out["daily"]:
        day["stock_left"] = {k: v for k, v in day["stock_left"].items()
                             if not k.startswith(HIDDEN)}
    runs = min(len(f.runs) for f in mine) if mine else 0
    items = sorted({item for f in mine for run in f.runs for item in run.awarded})
    out["awarded"] = {item: quantiles([sum(f.runs[i].awarded.get(item, 0) for f in mine)
                                       for i in range(runs)]) for item in items}
    notes = [n for f in mine for n in f.notes]
    out["warnings"] = [n.words(lang) for n in notes]
    out["notes"] = [n.as_dict(lang) for n in notes]
    out["template"] = ", ".join(f.template for f in mine)


def part_seed(seed: str | int, activity_id: str) -> str:
    """Each activity its own stream of draws (the same seed for all would tie their luck)."""
    return hashlib.sha256(f"{seed}/{activity_id}".encode()).hexdigest()[:32]


def campaign_forecast(campaigns: Campaigns, forecasts: Forecasts, merchant: Merchant,
                      campaign_id: str, assumptions: dict[str, Any] | None = None,
                      runs: int = DEFAULT_RUNS, seed: str | int = "0", lang: str = "en",
                      time_budget: float | None = TIME_BUDGET) -> dict[str, Any]:
    """The summary of `magic-cube forecast --json` for the campaign's activities together,
    with `activities` (those forecast) and `skipped` (those not, with a reason code)."""
    errors = check_run(runs, seed, lang)
    if errors:
        raise InvalidAssumptions(errors=errors)
    campaign = campaigns.get(merchant, campaign_id)  # 404 for a campaign the merchant is not in
    counted = (campaigns.counted(merchant, campaign_id) if campaign["role"] == "owner"
               else campaign["activities"])
    for activity in counted:
        activity["own"] = activity.get("merchant_id", merchant.id) == merchant.id
    chosen = [a for a in counted if a["status"] not in OVER]
    skipped = [{"activity_id": a["id"], "title": a["title"], "reason": a["status"],
                "own": a["own"]} for a in counted if a["status"] in OVER]
    budget = None if time_budget is None else time_budget / max(1, len(chosen))
    parts: list[tuple[dict[str, Any], ActivityForecast]] = []
    for activity in chosen:
        try:  # the campaign vouches for the activity: any merchant's, read as aggregates
            parts.append((activity, forecasts.forecast(
                None, activity["id"], assumptions, runs, part_seed(seed, activity["id"]),
                lang, budget)))
        except (ForecastUnavailable, InvalidConfig, InvalidActivity) as exc:
            skipped.append({"activity_id": activity["id"], "title": activity["title"],
                            "reason": exc.code, "own": activity["own"]})
    if not parts:
        raise NothingToForecast()
    # Another merchant's stocks are named by a mark of ours, so that they can be left out.
    mine = [(a, f) for a, f in parts if a["own"]]
    combined = combine([(a["title"] if a["own"] else f"{HIDDEN}{a['id']}", f.result)
                        for a, f in parts], named=len(mine) < len(parts))
    out = combined.summary(lang)
    if len(mine) < len(parts):
        _hide_others(out, [f.result for _a, f in mine], lang)
    start = out.pop("start")
    ends = [f.setup.ends_at for _a, f in parts]
    return {**out, "campaign_id": campaign_id, "seed": str(seed), "runs_asked": runs,
            "starts_at": iso_utc(start),
            "ends_at": None if None in ends else iso_utc(max(e for e in ends if e is not None)),
            "activities": [{"activity_id": a["id"], "title": a["title"],
                            "template": f.setup.template, "from_state": f.setup.from_state,
                            "runs": len(f.result.runs)} for a, f in mine],
            "skipped": [{k: s[k] for k in ("activity_id", "title", "reason")}
                        for s in skipped if s["own"]],
            "other_merchants": {"activities": len(parts) - len(mine),
                                "skipped": sum(1 for s in skipped if not s["own"])}}

