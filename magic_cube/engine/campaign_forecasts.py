"""A campaign's forecast: the forecasts of its activities (engine/forecasts.py), run by run
added into one (`forecast.montecarlo.combine`).

Who sees what follows the campaign's stats: the owner's forecast covers every counted activity,
a member's its own. Ended and archived activities bring nothing more and are left out, as are
those whose template has no behaviour model or whose saved config cannot run (listed under
`skipped` with the reason). One set of assumptions applies to each activity (`visitors_per_day`
is per activity); the time budget is shared, so a campaign takes no longer than one activity.
Participants are summed: one person in two activities counts twice.
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
from magic_cube.forecast.montecarlo import combine
from magic_cube.store.records import Merchant

OVER = ("ended", "archived")


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
    chosen = [a for a in campaign["activities"] if a["status"] not in OVER]
    skipped = [{"activity_id": a["id"], "title": a["title"], "reason": a["status"]}
               for a in campaign["activities"] if a["status"] in OVER]
    budget = None if time_budget is None else time_budget / max(1, len(chosen))
    parts: list[tuple[dict[str, Any], ActivityForecast]] = []
    for activity in chosen:
        try:  # the campaign vouches for the activity: any merchant's, read as aggregates
            parts.append((activity, forecasts.forecast(
                None, activity["id"], assumptions, runs, part_seed(seed, activity["id"]),
                lang, budget)))
        except (ForecastUnavailable, InvalidConfig, InvalidActivity) as exc:
            skipped.append({"activity_id": activity["id"], "title": activity["title"],
                            "reason": exc.code})
    if not parts:
        raise NothingToForecast()
    combined = combine([(a["title"], f.result) for a, f in parts])
    out = combined.summary(lang)
    start = out.pop("start")
    ends = [f.setup.ends_at for _a, f in parts]
    return {**out, "campaign_id": campaign_id, "seed": str(seed), "runs_asked": runs,
            "starts_at": iso_utc(start),
            "ends_at": None if None in ends else iso_utc(max(e for e in ends if e is not None)),
            "activities": [{"activity_id": a["id"], "title": a["title"],
                            "template": f.setup.template, "from_state": f.setup.from_state,
                            "runs": len(f.result.runs)} for a, f in parts],
            "skipped": skipped}

