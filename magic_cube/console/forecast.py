"""An activity's forecast: a form of assumptions and what Monte Carlo runs of its rules say.

`GET /console/activities/<id>/forecast` shows the form filled with defaults and the forecast
from them; a POST of the form (or a GET with its fields in the query) computes it again. The
merchant types money in yuan (two decimals) and rates in per cent; the engine takes smallest
units and fractions. Bad values come back as inline field errors, never a failed page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, current_app, render_template, request
from flask_babel import gettext as _

from magic_cube.console.auth import login_required
from magic_cube.console.charts import line_chart
from magic_cube.console.context import (
    FieldErrors,
    add_error,
    current_merchant,
    format_time,
    get_engine,
    lang,
    load_activity,
    tz_or_utc,
    zone_name,
)
from magic_cube.console.labels import STATUS_LABELS
from magic_cube.console.present import yuan
from magic_cube.engine import EngineError
from magic_cube.engine.forecasts import MAX_RUNS, ActivityForecast, ForecastSetup
from magic_cube.forecast import CONVERSION as DEFAULT_RATES

bp = Blueprint("forecast", __name__)

DAY = 86400
RUNS = 30  # the form's default; the engine stops earlier when its time budget runs out
TIME_BUDGET = 8.0  # seconds (app.config["FORECAST_TIME_BUDGET"] overrides)
MAX_YUAN = Decimal(100_000_000)
MAX_STOCK_CHARTS = 8
# Defaults of the form (the engine's own defaults: docs/forecast.md).
DEFAULTS = {"visitors_per_day": "200", "friends": "3", "friend_delay_hours": "2",
            "new_share": "50"}
CONVERSION = {step: round(rate * 100) for step, rate in DEFAULT_RATES.items()}  # per cent


# The kinds whose step taken again is a draw; another template's is its own first step.
DRAWING = ("lottery", "collect_cards")


def step_labels(kind: str) -> dict[str, tuple[str, str]]:
    """Each conversion step of a template of `kind`: its label and what it means."""
    again = ((_("Draw again"), _("Chance a participant draws once more")) if kind in DRAWING
             else (_("Once more"), _("Chance a participant takes the first step once more")))
    return {
        "act": (_("Take part"), _("Share of visitors who take the first step")),
        "again": again,
        "return": (_("Come back"), _("Chance a participant comes back the next day")),
        "share": (_("Share"), _("Chance a starter shares the link")),
        "friend": (_("Friend acts"), _("Chance a friend who opens the link takes part")),
        "buy": (_("Buy"), _("Chance the starter of a completed bargain buys")),
    }


def with_unit(label: str, unit: str) -> str:
    """A label and its unit, in full-width brackets on a Chinese page."""
    return f"{label}（{unit}）" if lang() == "zh" else f"{label} ({unit})"


def field_labels(setup: ForecastSetup) -> dict[str, str]:
    labels = {"visitors_per_day": _("Visitors per day"), "days": _("Days"),
              "friends": _("Friends per share"),
              "friend_delay_hours": _("Hours before a friend opens the link"),
              "new_share": with_unit(_("New to the platform"), "%"),
              "gift_amount": with_unit(_("Amount of a gift pack"), "¥"),
              "runs": _("Runs"), "seed": _("Seed")}
    steps = step_labels(setup.kind)
    for step in setup.steps:
        labels[f"conversion_{step}"] = with_unit(steps.get(step, (step, ""))[0], "%")
    for i, item in enumerate(setup.items):
        labels[f"cost_{i}"] = with_unit(_("Cost of one %(item)s", item=item), "¥")
    return labels


def money_gift(setup: ForecastSetup) -> bool:
    return setup.kind == "gift" and setup.config.get("mode") == "amount"


def defaults(setup: ForecastSetup) -> dict[str, str]:
    values = {**DEFAULTS, "days": str(setup.days), "runs": str(RUNS), "seed": "1"}
    for step in setup.steps:
        values[f"conversion_{step}"] = str(CONVERSION[step])
    for i in range(len(setup.items)):
        values[f"cost_{i}"] = ""
    if money_gift(setup):
        amount = setup.config.get("max_amount")
        values["gift_amount"] = _yuan_text(amount) if isinstance(amount, int) else ""
    return values


def _yuan_text(fen: int) -> str:
    return f"{Decimal(fen) / 100:.2f}"


# reading the form ----------------------------------------------------------------------------

def _whole(text: str, errors: FieldErrors, name: str) -> int | None:
    if not text.strip().isdigit():
        add_error(errors, name, "type", _("Enter a whole number of 0 or more"))
        return None
    return int(text)


def _decimal(text: str, errors: FieldErrors, name: str) -> float | None:
    try:
        value = Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value < 0:
        add_error(errors, name, "type", _("Enter a number of 0 or more"))
        return None
    return float(value)


def _percent(text: str, errors: FieldErrors, name: str) -> float | None:
    value = _decimal(text, errors, name)
    if value is not None and value > 100:
        add_error(errors, name, "range", _("Enter a percentage from 0 to 100"))
        return None
    return None if value is None else round(value / 100, 6)


def _fen(text: str, errors: FieldErrors, name: str) -> int | None:
    """Yuan with at most two decimals -> fen."""
    try:
        value = Decimal(text.strip().replace(",", "").lstrip("¥"))
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value < 0 or value > MAX_YUAN \
            or value != value.quantize(Decimal("0.01")):
        add_error(errors, name, "money", _("Enter an amount in yuan, e.g. 12.50"))
        return None
    return int(value * 100)


def read_form(source: Mapping[str, str], setup: ForecastSetup
              ) -> tuple[dict[str, str], dict[str, Any], int, str, FieldErrors]:
    """(the strings to show again, assumptions, runs, seed, field errors)."""
    values = defaults(setup)
    values.update({k: str(source[k]).strip() for k in values if k in source})
    errors: FieldErrors = {}
    found: dict[str, Any] = {
        "visitors_per_day": _whole(values["visitors_per_day"], errors, "visitors_per_day"),
        "days": _whole(values["days"], errors, "days"),
        "friends": _decimal(values["friends"], errors, "friends"),
        "friend_delay_hours": _decimal(values["friend_delay_hours"], errors,
                                       "friend_delay_hours"),
        "new_share": _percent(values["new_share"], errors, "new_share"),
        "conversion": {step: _percent(values[f"conversion_{step}"], errors,
                                      f"conversion_{step}") for step in setup.steps},
        "costs": {item: _fen(values[f"cost_{i}"], errors, f"cost_{i}")
                  for i, item in enumerate(setup.items) if values[f"cost_{i}"]},
    }
    if money_gift(setup) and values.get("gift_amount"):
        found["gift_amount"] = _fen(values["gift_amount"], errors, "gift_amount")
    runs = _whole(values["runs"], errors, "runs") or 0
    if "runs" not in errors and not 1 <= runs <= MAX_RUNS:
        add_error(errors, "runs", "range",
                  _("Enter a number from 1 to %(most)s", most=MAX_RUNS))
    if len(values["seed"]) > 64:
        add_error(errors, "seed", "length", _("At most 64 characters"))
    return values, found, runs, values["seed"], errors


def form_errors(errors: dict[str, Any], setup: ForecastSetup) -> FieldErrors:
    """The engine's field errors (`conversion.act`, `costs.tea set`) under the form's names."""
    items = {item: i for i, item in enumerate(setup.items)}
    out: FieldErrors = {}
    for name, entries in errors.items():
        head, _dot, rest = name.partition(".")
        if head == "conversion" and rest:
            name = f"conversion_{rest}"
        elif head == "costs" and rest in items:
            name = f"cost_{items[rest]}"
        out.setdefault(name, []).extend(entries)
    return out


# showing the forecast ------------------------------------------------------------------------

def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int | float) else str(value)


def figure_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    counts: list[tuple[str, str, Callable[[Any], str]]] = [
        ("participations", _("Participations"), _count),
        ("participants", _("Unique participants"), _count),
        ("first_time", _("First-time participants"), _count),
        ("completions", _("Completions"), _count),
        ("prize_cost", _("Prize cost"), yuan),
        ("given_away", _("Money given away"), yuan),
        ("cost", _("Total cost"), yuan),
    ]
    rows = [{"label": label, "cells": [show(summary[key][q]) for q in ("p10", "p50", "p90")]}
            for key, label, show in counts]
    for item, q in summary["awarded"].items():
        rows.append({"label": _("Handed out: %(item)s", item=item),
                     "cells": [_count(q[k]) for k in ("p10", "p50", "p90")]})
    return rows


def stock_rows(summary: dict[str, Any], tz: str, start: int) -> list[dict[str, Any]]:
    def when(hours: Any) -> str:
        if hours == "never":
            return _("Lasts the whole activity")
        return format_time(start + int(float(hours) * 3600), tz)

    days = summary["daily"]
    rows = []
    for name, q in summary["stock_out"].items():
        left = days[-1]["stock_left"].get(name, {}).get("p50") if days else None
        rows.append({"name": name, "p50": when(q["p50"]), "p10": when(q["p10"]),
                     "share": f"{q['share_of_runs']:.0%}", "left": left})
    return rows


def day_labels(start: int, days: int, tz: str) -> tuple[list[str], list[str]]:
    zone = tz_or_utc(tz)
    moments = [datetime.fromtimestamp(start + d * DAY, tz=UTC).astimezone(zone)
               for d in range(days)]
    return [m.strftime("%m-%d") for m in moments], [m.strftime("%Y-%m-%d") for m in moments]


def charts(summary: dict[str, Any], tz: str, start: int) -> list[dict[str, Any]]:
    days = summary["daily"]
    if not days:
        return []
    labels, tips = day_labels(start, len(days), tz)
    x_title = _("Day (%(tz)s)", tz=zone_name(tz))

    def describe(what: str) -> Callable[[float, str, float], str]:
        def text(_total: float, at: str, peak: float) -> str:
            return _("%(what)s: at most %(peak)s (%(at)s)", what=what,
                     peak=format(peak, ",.0f"), at=at)
        return text

    title = _("Participations so far (P50)")
    out = [{"title": title, "svg": line_chart(
        "chart-forecast-participations", labels,
        [d["participations"]["p50"] for d in days], title=title, x_title=x_title,
        y_title=_("Participations"), tooltips=tips, describe=describe(title))}]
    for i, name in enumerate(list(days[0]["stock_left"])[:MAX_STOCK_CHARTS]):
        title = _("Stock left: %(name)s (P50)", name=name)
        out.append({"title": title, "svg": line_chart(
            f"chart-forecast-stock-{i}", labels,
            [d["stock_left"][name]["p50"] for d in days], title=title, x_title=x_title,
            y_title=_("Left"), tooltips=tips, describe=describe(title))})
    return out


def results(outcome: ActivityForecast) -> dict[str, Any]:
    setup = outcome.setup
    summary = outcome.summary(lang())
    return {
        "rows": figure_rows(summary),
        "stocks": stock_rows(summary, setup.timezone, setup.start),
        "warnings": summary["warnings"],
        "charts": charts(summary, setup.timezone, setup.start),
        "runs": summary["runs"], "runs_asked": summary["runs_asked"],
        "rooms": summary["rooms"],
    }


@bp.route("/activities/<activity_id>/forecast", methods=["GET", "POST"])
@login_required
def show(activity_id: str) -> Any:
    activity = load_activity(activity_id)  # 404 for another merchant's activity
    engine, merchant = get_engine(), current_merchant()
    try:
        setup = engine.forecast_setup(merchant, activity_id)
    except EngineError as exc:  # a template kind without a behaviour model
        return render_template("console/forecast.html", activity=activity, setup=None,
                               unavailable=exc.message, status_labels=STATUS_LABELS), 200
    source = request.form if request.method == "POST" else request.args
    values, assumptions, runs, seed, errors = read_form(source, setup)
    outcome = None
    if not errors:
        try:
            outcome = engine.forecast(
                merchant, activity_id, assumptions, runs=runs, seed=seed, lang=lang(),
                time_budget=current_app.config.get("FORECAST_TIME_BUDGET", TIME_BUDGET))
        except EngineError as exc:
            errors = form_errors(exc.errors, setup) or {"": [{"code": exc.code,
                                                                "message": exc.message}]}
    form_error = errors.pop("", [{"message": None}])[0]["message"]
    steps = step_labels(setup.kind)
    return render_template(
        "console/forecast.html", activity=activity, setup=setup, values=values,
        errors=errors, labels=field_labels(setup),
        steps=[(s, *steps.get(s, (s, ""))) for s in setup.steps],
        items=list(enumerate(setup.items)), money_gift=money_gift(setup),
        start=format_time(setup.start, setup.timezone),
        forecast=results(outcome) if outcome is not None else None,
        status_labels=STATUS_LABELS, max_runs=MAX_RUNS,
        form_error=form_error,
    ), (422 if errors or form_error else 200)
