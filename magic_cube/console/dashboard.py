"""An activity's dashboard: KPI tiles, hourly charts, the funnel, recent actions, and the
addresses of its CSV exports (built in console/exports.py).

Numbers come from the engine's hourly counters (moved in the same transaction as each action),
so the tiles, the charts and the API's stats always agree.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, render_template, request
from flask_babel import gettext as _

from magic_cube.console.activities import participant_view, pinned_entry
from magic_cube.console.auth import login_required
from magic_cube.console.charts import bar_chart, line_chart
from magic_cube.console.context import (
    current_merchant,
    format_time,
    get_engine,
    i18n,
    joined,
    load_activity,
    tz_or_utc,
    zone_name,
)
from magic_cube.console.exports import actions_csv, csv_response, participants_csv
from magic_cube.console.labels import STATUS_LABELS
from magic_cube.console.present import (
    action_name,
    event_name,
    event_text,
    merchant_details,
    yuan,
)
from magic_cube.engine import FIRST_YEAR, LAST_YEAR, Engine, Merchant

bp = Blueprint("dashboard", __name__)

RECENT = 20
CHART_HOURS = 48  # the charts show at most the last 48 hours of the range…
MIN_CHART_HOURS = 6  # …and at least 6 after the activity began (never hours before it)
MAX_RANGE_DAYS = 92


@bp.route("/activities/<activity_id>/export/participants.csv")
@login_required
def export_participants(activity_id: str):
    activity = load_activity(activity_id)  # 404 for another merchant's activity
    return csv_response(participants_csv(get_engine(), activity_id, tz=activity["timezone"],
                                         entry=pinned_entry(activity),
                                         config=activity["config"]),
                        f"{activity_id}-participants.csv")


@bp.route("/activities/<activity_id>/export/actions.csv")
@login_required
def export_actions(activity_id: str):
    activity = load_activity(activity_id)
    return csv_response(actions_csv(get_engine(), current_merchant(), activity_id,
                                    pinned_entry(activity), tz=activity["timezone"]),
                        f"{activity_id}-actions.csv")


# the page -----------------------------------------------------------------------------------

def hourly_series(hourly: list[dict[str, Any]], now: int, live: bool,
                  began: int | None = None, window: tuple[int, int] | None = None
                  ) -> list[dict[str, Any]]:
    """Hourly buckets from the activity's first hour (`began`) to the last with numbers (to now
    while live), at most `CHART_HOURS` of them, gaps filled with zeros; within `window`
    ([since, until)) when a date range is chosen."""
    if window is not None:
        hourly = [h for h in hourly if window[0] <= h["hour"] < window[1]]
    if not hourly:
        return []
    by_hour = {h["hour"]: h for h in hourly}
    last = max(by_hour)
    if live and (window is None or now < window[1]):
        last = max(last, now - now % 3600)
    first = max(min(by_hour), last - (CHART_HOURS - 1) * 3600)
    floor = min(by_hour)
    if began is not None:
        floor = min(floor, max(began - began % 3600, last - (CHART_HOURS - 1) * 3600))
    if window is not None:
        floor = max(floor, window[0] - window[0] % 3600)
    # a few hours at least, so that one busy hour is not one wide bar, but none before `floor`
    first = max(floor, min(first, last - (MIN_CHART_HOURS - 1) * 3600))
    empty = {k: 0 for k in hourly[0] if k not in ("hour", "activity_id")}
    return [{**empty, **by_hour.get(h, {}), "hour": h} for h in range(first, last + 1, 3600)]


def charts(series: list[dict[str, Any]], tz: str) -> list[Any]:
    if not series:
        return []
    zone = tz_or_utc(tz)
    labels, tips = [], []
    for h in series:
        moment = datetime.fromtimestamp(h["hour"], tz=UTC).astimezone(zone)
        labels.append(moment.strftime("%H:00"))
        tips.append(moment.strftime("%m-%d %H:00"))
    x_title = _("Hour (%(tz)s)", tz=zone_name(tz))

    def summary(what: str) -> Callable[[float, str, float], str]:
        def describe(total: float, at: str, peak: float) -> str:
            total_text, peak_text = format(total, ",.0f"), format(peak, ",.0f")
            return _("%(what)s: %(total)s in total, at most %(peak)s (at %(at)s)", what=what,
                     total=total_text, peak=peak_text, at=at)
        return describe

    participations = _("Participations per hour")
    participants = _("Participants per hour")
    minutes = _("Interaction minutes per hour")
    completions = _("Completions per hour")
    figures = [
        (participations, bar_chart(
            "chart-participations", labels, [h["participations"] for h in series],
            title=participations, x_title=x_title, y_title=_("Participations"), tooltips=tips,
            describe=summary(participations))),
        (participants, line_chart(
            "chart-participants", labels, [h["participants"] for h in series],
            title=participants, x_title=x_title, y_title=_("Participants"), tooltips=tips,
            describe=summary(participants))),
        (minutes, line_chart(
            "chart-minutes", labels, [round(h["interaction_seconds"] / 60, 1) for h in series],
            title=minutes, x_title=x_title, y_title=_("Minutes"), tooltips=tips,
            describe=summary(minutes))),
        (completions, bar_chart(
            "chart-completions", labels, [h["completions"] for h in series],
            title=completions, x_title=x_title, y_title=_("Completions"), tooltips=tips,
            describe=summary(completions))),
    ]
    return [{"title": title, "svg": svg} for title, svg in figures]


def stock_tiles(entry: Any, config: dict[str, Any], view: dict[str, Any]) -> list[dict[str, Any]]:
    """Stock left, from the participant view's `stock_left` (a number, or one per prize)."""
    left = view.get("stock_left")
    if isinstance(left, bool) or left is None:
        return []
    if isinstance(left, list):
        listed = config.get("prizes")
        prizes: list[Any] = listed if isinstance(listed, list) else []
        out = []
        for i, value in enumerate(left):
            prize = prizes[i] if i < len(prizes) and isinstance(prizes[i], dict) else {}
            name = prize.get("name") or "#" + str(i + 1)
            out.append({"label": _("Stock left: %(name)s", name=name),
                        "value": value, "of": prize.get("stock")})
        return out
    if isinstance(left, int | float):
        total = config.get("stock")
        return [{"label": _("Stock left"), "value": left,
                 "of": total if isinstance(total, int) else None}]
    return []


def read_range(args: Any, tz: str, now: int) -> tuple[str, str, tuple[int, int] | None]:
    """The dashboard's date range (`from`, `to`: dates in the activity's zone, both included)
    as (from text, to text, [since, until) epoch seconds), or no range."""
    zone = tz_or_utc(tz)
    texts = [(args.get(k) or "").strip() for k in ("from", "to")]
    if not any(texts):
        return "", "", None
    try:
        days = [date.fromisoformat(t) if t else None for t in texts]
    except ValueError:
        return texts[0], texts[1], None
    if any(d is not None and not FIRST_YEAR <= d.year <= LAST_YEAR for d in days):
        return texts[0], texts[1], None  # a week around year 1 or 9999 leaves the calendar
    today = datetime.fromtimestamp(now, tz=UTC).astimezone(zone).date()
    first = days[0] or (days[1] or today) - timedelta(days=6)
    last = days[1] or today
    if last < first:
        first, last = last, first
    first = max(first, last - timedelta(days=MAX_RANGE_DAYS))
    since = int(datetime.combine(first, time(), zone).timestamp())
    until = int(datetime.combine(last + timedelta(days=1), time(), zone).timestamp())
    return first.isoformat(), last.isoformat(), (since, until)


def recent_rows(engine: Engine, merchant: Merchant, activity: dict[str, Any],
                entry: Any) -> list[dict[str, Any]]:
    seq = activity["actions"]
    recent, _cursor = engine.action_log(merchant, activity["id"], after=max(0, seq - RECENT),
                                        limit=RECENT)
    return [{"seq": r["seq"], "at": format_time(r["at"], activity["timezone"], seconds=True),
             "who": r["participant"], "name": r.get("display_name") or "",
             "actor": r["actor"], "action": action_name(entry, r["action"]),
             "details": merchant_details(entry, r),
             "events": joined(event_text(entry, e) for e in r["events"] or [])}
            for r in reversed(recent)]


@bp.route("/activities/<activity_id>/dashboard")
@login_required
def show(activity_id: str):
    engine = get_engine()
    merchant = current_merchant()
    activity = load_activity(activity_id)
    entry = pinned_entry(activity)
    tz = activity["timezone"]
    now = engine.now()
    range_from, range_to, window = read_range(request.args, tz, now)
    stats = engine.stats(merchant, activity_id)
    view = participant_view(activity) if activity["status"] != "draft" else {}
    since, until = window or (0, now + 1)
    hourly = [h for h in stats["hourly"] if since <= h["hour"] < until]
    totals = {k: sum(h[k] for h in hourly) for k in
              ("participations", "first_time", "interaction_seconds", "completions")}
    acted = engine.actors(merchant, activity_id, since, until) if window \
        else stats["totals"]["unique_participants"]
    viewed = engine.count_participants(activity_id)
    funnel = funnel_steps(engine, merchant, activity_id, entry, since, until,
                          max(viewed, acted) if window is None else acted)
    tiles = [
        {"label": _("Participations"), "value": totals["participations"]},
        {"label": _("Unique participants"), "value": acted},
        {"label": _("First-time participants"), "value": totals["first_time"]},
        {"label": _("Interaction minutes"),
         "value": round(totals["interaction_seconds"] / 60, 1)},
    ]
    if window is None:
        for event_type, count in stats["completions"].items():
            tiles.append({"label": _("Completions: %(event)s",
                                     event=event_name(entry, event_type)), "value": count})
        tiles += stock_tiles(entry, activity["config"], view)
        sharing = stats["sharing"]
        tiles += [{"label": _("Invited participants"), "value": sharing["invited"]},
                  {"label": _("New customers brought"), "value": sharing["invited_first_time"]},
                  {"label": _("K-factor"), "value": f"{sharing['k_factor']:.2f}"}]
    series = hourly_series(stats["hourly"], now, activity["status"] == "live",
                           began=activity["published_at"], window=window)
    return render_template("console/dashboard.html", activity=activity, entry=entry,
                           tiles=tiles, funnel=funnel,
                           recent=recent_rows(engine, merchant, activity, entry),
                           charts=charts(series, tz), series=series,
                           status_labels=STATUS_LABELS, range_from=range_from,
                           range_to=range_to, ranged=window is not None, yuan=yuan)


def funnel_steps(engine: Engine, merchant: Merchant, activity_id: str, entry: Any, since: int,
                 until: int, top_value: int) -> list[dict[str, Any]]:
    """The template's funnel (its declared steps), or opened → acted when it declares none."""
    declared = engine.funnel(merchant, activity_id, since, until)
    if declared:
        steps = [{"label": i18n(s["label"]), "value": s["count"], "help": None}
                 for s in declared]
    else:
        steps = [{"label": _("Acted"), "value": top_value,
                  "help": _("Unique participants who acted")}]
    top = max([1, *(s["value"] for s in steps)])
    for step in steps:
        step["percent"] = 100.0 * step["value"] / top
    return steps
