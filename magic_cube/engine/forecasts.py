"""Forecasts of a stored activity: the Monte Carlo of `magic_cube.forecast` run on its config,
its time and — once it is live — its current state.

What is forecast depends on where the activity stands:

- a draft, a scheduled, an ended or an archived activity: its whole planned duration from its
  start (or from now when it has none), from its initial state;
- a live or paused activity: the time left, from now and from its current activity state (the
  stock left, the counters); the crowd is all new people, and what already happened is not in
  the figures (the dashboard shows it). Open rooms are not carried over.

The forecast package stays pure: this part reads the activity, the package runs the rules.
A forecast is bounded: at most `MAX_RUNS` runs, and as many of them as finish within the
time budget (the number done is in the answer).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from magic_cube import concurrency
from magic_cube.catalog import TemplateEntry
from magic_cube.engine.core import Core
from magic_cube.engine.errors import EngineError, InvalidActivity, InvalidConfig
from magic_cube.engine.lifecycle import Lifecycle, due_change, time_errors
from magic_cube.forecast import AssumptionError, Assumptions, Forecast, behaviour_for
from magic_cube.forecast import cost_items as template_cost_items
from magic_cube.forecast import forecast as run_forecast
from magic_cube.forecast.assumptions import LIMITS, field_error
from magic_cube.i18n import N_, gettext
from magic_cube.store.records import ActivityRecord, Merchant

T = TypeVar("T")
DAY = 86400
DEFAULT_DAYS = 7
MAX_DAYS = int(LIMITS["days"][1])  # a longer activity is forecast over its first year
DEFAULT_RUNS = 50
MAX_RUNS = 200
TIME_BUDGET = 8.0  # seconds of simulation per forecast; a request stays well under 10 s
# Forecasts one process simulates at once: each holds a core for up to TIME_BUDGET seconds.
_simulating = threading.BoundedSemaphore(2)


def off_the_loop(work: Callable[[], T]) -> T:
    """`work()`, CPU-bound for seconds, run so that the process keeps answering meanwhile:
    under gevent in a native thread of the hub's pool (the interpreter switches between it and
    the hub every few ms), else in this thread; at most two at once per process."""
    with _simulating:
        return concurrency.off_the_loop(work)


MAX_SEED = 64
FROM_STATE = ("live", "paused")


class ForecastUnavailable(EngineError):
    code, status = "forecast_unavailable", 422
    message = N_("This template gives a forecast nothing to try: no action a shopper takes on "
                 "their own with details it can fill in")


class InvalidAssumptions(EngineError):
    code, status, message = "validation_error", 422, "The assumptions are not valid"


class ForecastTooLarge(EngineError):
    # Valid numbers whose crowd is too big to simulate once within the time budget: not a
    # malformed request (`validation_error`), so it has its own code.
    code, status = "forecast_too_large", 422
    message = ("Not even one run finished in the time allowed: fewer visitors a day or fewer "
               "days, please")


@dataclass(frozen=True)
class ForecastSetup:
    """What a forecast of this activity starts from, and what its form asks about."""

    activity_id: str
    title: str
    status: str
    timezone: str
    template: str
    kind: str
    currency: str
    start: int  # epoch seconds
    days: int  # the default duration: what is left of it, or what is planned
    ends_at: int | None
    from_state: bool  # starts from the current state (a live activity), not the initial one
    steps: tuple[str, ...]  # the conversion steps of the template's behaviour model
    items: tuple[str, ...]  # what the template hands out, whose cost counts
    config: dict[str, Any]
    state: dict[str, Any] | None


@dataclass
class ActivityForecast:
    """A forecast of a stored activity: its setup and the Monte Carlo result."""

    setup: ForecastSetup
    result: Forecast
    seed: str

    def summary(self, lang: str = "en") -> dict[str, Any]:
        """What `magic-cube forecast --json` prints, with the activity it is about; times in
        ISO 8601 UTC, as in the API."""
        s = self.setup
        out = self.result.summary(lang)
        out.pop("start", None)
        return {**out, "activity_id": s.activity_id, "status": s.status,
                "from_state": s.from_state, "seed": self.seed,
                "starts_at": iso_utc(s.start), "ends_at": iso_utc(s.ends_at)}


def iso_utc(ts: int | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def horizon(activity: ActivityRecord, now: int) -> tuple[int, int, bool]:
    """(start, days, from the current state) of the activity's forecast."""
    if activity.status in FROM_STATE:
        left = (activity.ends_at - now) if activity.ends_at is not None else 0
        return now, (min(MAX_DAYS, math.ceil(left / DAY)) if left > 0 else DEFAULT_DAYS), True
    start = activity.starts_at if activity.starts_at is not None else now
    if activity.status in ("ended", "archived"):
        start = activity.starts_at or activity.published_at or activity.created_at
    end = activity.ends_at if activity.ends_at is not None else activity.ended_at
    length = (end - start) if end is not None else 0
    return start, (min(MAX_DAYS, math.ceil(length / DAY)) if length > 0 else DEFAULT_DAYS), False


def assumptions_from(data: dict[str, Any] | None, days: int, lang: str) -> Assumptions:
    """Assumptions from plain JSON values (`days` default: the activity's), or
    `InvalidAssumptions` with field errors worded in `lang`."""
    given = {k: v for k, v in (data or {}).items() if v is not None}
    given.setdefault("days", days)
    try:
        return Assumptions.from_dict(given, lang)
    except AssumptionError as exc:
        raise InvalidAssumptions(errors=exc.errors or None) from exc


def check_run(runs: Any, seed: Any, lang: str) -> dict[str, list[dict[str, str]]]:
    errors: dict[str, list[dict[str, str]]] = {}
    if isinstance(runs, bool) or not isinstance(runs, int):
        field_error(errors, "runs", "type", lang, expected="integer")
    elif runs < 1:
        field_error(errors, "runs", "minimum", lang, limit=1)
    elif runs > MAX_RUNS:
        field_error(errors, "runs", "maximum", lang, limit=MAX_RUNS)
    if not isinstance(seed, str | int) or isinstance(seed, bool):
        field_error(errors, "seed", "type", lang, expected="string")
    elif len(str(seed)) > MAX_SEED:
        field_error(errors, "seed", "max_length", lang, limit=MAX_SEED)
    return errors


class Forecasts:
    """Forecasts of the merchant's activities (of any activity, for the command line)."""

    def __init__(self, core: Core, lifecycle: Lifecycle) -> None:
        self.core = core
        self.lifecycle = lifecycle

    def _read(self, merchant: Merchant | None, activity_id: str) -> ActivityRecord:
        now = self.core.now()
        with self.core.store.transaction(write=False) as tx:
            activity = self.core.activity(tx, activity_id, merchant)
        if due_change(activity.status, activity.starts_at, activity.ends_at, now):
            with self.core.store.transaction() as tx:  # a due start or end, applied first
                activity = self.core.activity(tx, activity_id, merchant)
                self.lifecycle.advance(tx, activity, now)
        return activity

    def setup(self, merchant: Merchant | None, activity_id: str) -> ForecastSetup:
        """Where a forecast of the activity starts and what its form asks; 404 for another
        merchant's activity (`merchant` None: any, as the command line)."""
        return self._prepare(merchant, activity_id)[0]

    def _prepare(self, merchant: Merchant | None,
                 activity_id: str) -> tuple[ForecastSetup, TemplateEntry]:
        activity = self._read(merchant, activity_id)
        # A row from before its times were checked may hold times no calendar can run.
        if errors := time_errors({"starts_at": activity.starts_at, "ends_at": activity.ends_at}):
            raise InvalidActivity(errors=errors)
        entry: TemplateEntry = self.core.entry(activity)
        behaviour = behaviour_for(entry.compiled, entry.kind)
        if behaviour is None:
            raise ForecastUnavailable()
        start, days, from_state = horizon(activity, self.core.now())
        filled, _errors = entry.config_validator.validate(activity.config)
        return ForecastSetup(
            activity.id, activity.title, activity.status, activity.timezone, entry.id,
            entry.kind, str(entry.doc.get("currency", "")), start, days, activity.ends_at,
            from_state, tuple(behaviour.steps), tuple(template_cost_items(entry, filled)),
            activity.config, activity.state if from_state else None), entry

    def forecast(self, merchant: Merchant | None, activity_id: str,
                 assumptions: dict[str, Any] | None = None, runs: int = DEFAULT_RUNS,
                 seed: str | int = "0", lang: str = "en",
                 time_budget: float | None = TIME_BUDGET) -> ActivityForecast:
        """P10/P50/P90 of what the activity would bring and cost under `assumptions` (plain
        JSON values of `Assumptions`' fields; `days` defaults to the activity's)."""
        errors = check_run(runs, seed, lang)
        if errors:
            raise InvalidAssumptions(errors=errors)
        try:
            setup, entry = self._prepare(merchant, activity_id)
        except ForecastUnavailable as exc:
            raise ForecastUnavailable(gettext(lang, ForecastUnavailable.message)) from exc
        chosen = assumptions_from(assumptions, setup.days, lang)
        try:
            result = off_the_loop(lambda: run_forecast(
                entry, setup.config, chosen, runs=runs, seed=seed, timezone=setup.timezone,
                start=setup.start, state=setup.state, time_budget=time_budget, lang=lang))
        except AssumptionError as exc:
            if not exc.errors:  # the stored config itself (a draft may be saved unfinished)
                raise InvalidConfig(str(exc)) from exc
            if any(e["code"] == "too_large" for found in exc.errors.values() for e in found):
                raise ForecastTooLarge(str(exc), errors=exc.errors) from exc
            raise InvalidAssumptions(errors=exc.errors) from exc
        return ActivityForecast(setup, result, str(seed))
