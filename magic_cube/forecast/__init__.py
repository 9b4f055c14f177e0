"""Launch forecasts: Monte Carlo runs of a template's real rules, without a database.

A forecast plays a crowd (a behaviour model per template kind, under the merchant's
assumptions) against the pure interpreter many times and reports P10/P50/P90 of what the
activity would cost and bring (docs/forecast.md).
"""

from magic_cube.forecast.assumptions import (
    CONVERSION,
    AssumptionError,
    Assumptions,
    parse_pairs,
    read_forecast_file,
)
from magic_cube.forecast.behaviour import BEHAVIOURS, behaviour_for
from magic_cube.forecast.montecarlo import (
    WARNINGS,
    Forecast,
    Note,
    combine,
    cost_items,
    forecast,
    make_plan,
    quantiles,
    simulate,
)
from magic_cube.forecast.simulate import Plan, Run, RunResult

__all__ = [
    "BEHAVIOURS",
    "behaviour_for",
    "CONVERSION",
    "AssumptionError",
    "Assumptions",
    "Forecast",
    "Note",
    "Plan",
    "Run",
    "RunResult",
    "WARNINGS",
    "combine",
    "cost_items",
    "forecast",
    "make_plan",
    "parse_pairs",
    "quantiles",
    "read_forecast_file",
    "simulate",
]
