"""A campaign's forecast in the console: a short form (visitors per day for each activity, days,
runs, seed) and the combined P10/P50/P90 of its activities (engine/campaign_forecasts.py).

The figures, stock and charts are shown as on an activity's forecast page (console/forecast.py);
the campaign page links here rather than running the simulation on every visit.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask import current_app, render_template, request
from flask_babel import gettext as _

from magic_cube.console.context import FieldErrors, add_error, current_merchant, get_engine, lang
from magic_cube.console.forecast import (
    MAX_RUNS,
    RUNS,
    TIME_BUDGET,
    charts,
    figure_rows,
    stock_rows,
)
from magic_cube.console.labels import STATUS_LABELS
from magic_cube.engine import EngineError
from magic_cube.forecast.assumptions import LIMITS

FIELDS = ("visitors_per_day", "days", "runs", "seed")


def labels() -> dict[str, str]:
    return {"visitors_per_day": _("Visitors per day, for each activity"), "days": _("Days"),
            "runs": _("Runs"), "seed": _("Seed")}


def reasons() -> dict[str, str]:
    """Why an activity is left out of the forecast."""
    return {"ended": str(STATUS_LABELS["ended"]), "archived": str(STATUS_LABELS["archived"]),
            "forecast_unavailable": _("No model of how shoppers behave in its kind"),
            "invalid_config": _("Its settings are not complete")}


def _limits(name: str) -> tuple[int, int]:
    low, high = LIMITS[name]
    return int(low), int(high)


def _whole(values: dict[str, str], name: str, errors: FieldErrors, low: int,
           high: int) -> int | None:
    text = values[name]
    if not text.isdigit() or not low <= int(text) <= high:
        add_error(errors, name, "range",
                  _("Enter a whole number from %(low)s to %(high)s", low=low, high=high))
        return None
    return int(text)


def read_form(source: Mapping[str, str]
              ) -> tuple[dict[str, str], dict[str, Any], int, str, FieldErrors]:
    """(the strings to show again, assumptions, runs, seed, field errors); `days` left empty
    is each activity's own length."""
    values = {"visitors_per_day": "200", "days": "", "runs": str(RUNS), "seed": "1"}
    values.update({k: str(source[k]).strip() for k in FIELDS if k in source})
    errors: FieldErrors = {}
    assumptions: dict[str, Any] = {
        "visitors_per_day": _whole(values, "visitors_per_day", errors,
                                   *_limits("visitors_per_day"))}
    if values["days"]:
        assumptions["days"] = _whole(values, "days", errors, *_limits("days"))
    runs = _whole(values, "runs", errors, 1, MAX_RUNS) or 0
    if len(values["seed"]) > 64:
        add_error(errors, "seed", "length", _("At most 64 characters"))
    return values, assumptions, runs, values["seed"], errors


def results(summary: dict[str, Any]) -> dict[str, Any]:
    tz = summary["timezone"]
    start = int(datetime.strptime(summary["starts_at"], "%Y-%m-%dT%H:%M:%SZ")
                .replace(tzinfo=UTC).timestamp())
    why = reasons()
    return {"rows": figure_rows(summary), "stocks": stock_rows(summary, tz, start),
            "charts": charts(summary, tz, start), "warnings": summary["warnings"],
            "runs": summary["runs"], "runs_asked": summary["runs_asked"], "timezone": tz,
            "activities": summary["activities"], "others": summary["other_merchants"],
            "skipped": [{**s, "why": why.get(s["reason"], s["reason"])}
                        for s in summary["skipped"]]}


def page(campaign: dict[str, Any]) -> Any:
    """The form, and the forecast when the form is valid."""
    values, assumptions, runs, seed, errors = read_form(request.args)
    outcome, form_error = None, None
    if not errors:
        try:
            outcome = get_engine().campaign_forecast(
                current_merchant(), campaign["id"], assumptions, runs=runs, seed=seed,
                lang=lang(),
                time_budget=current_app.config.get("FORECAST_TIME_BUDGET", TIME_BUDGET))
        except EngineError as exc:
            for name, entries in exc.errors.items():
                for entry in entries:
                    add_error(errors, name if name in FIELDS else "", entry.get("code", ""),
                              entry.get("message", ""))
            if not exc.errors:
                form_error = (_("None of these activities can be forecast.")
                              if exc.code == "nothing_to_forecast" else exc.message)
    if "" in errors:
        form_error = errors.pop("")[0]["message"]
    return render_template(
        "console/campaign_forecast.html", campaign=campaign, values=values, errors=errors,
        labels=labels(), form_error=form_error, max_runs=MAX_RUNS,
        forecast=results(outcome) if outcome is not None else None,
    ), (422 if errors or form_error else 200)
