"""An activity's dashboard: KPI tiles, hourly charts, the funnel, recent actions, CSV exports.

Numbers come from the engine's hourly counters (moved in the same transaction as each action),
so the tiles, the charts and the API's stats always agree. CSV exports are streamed: the
store is read 1,000 rows at a time, each page in its own short read transaction, and each
page goes out as one chunk — a file of millions of rows never sits in memory.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, render_template, stream_with_context
from flask_babel import gettext as _

from magic_cube.console.activities import participant_view, pinned_entry
from magic_cube.console.auth import login_required
from magic_cube.console.charts import bar_chart, line_chart
from magic_cube.console.context import (
    current_merchant,
    format_time,
    get_engine,
    i18n,
    iso_utc,
    load_activity,
    tz_or_utc,
)
from magic_cube.console.labels import STATUS_LABELS
from magic_cube.engine import Engine, Merchant

bp = Blueprint("dashboard", __name__)

PAGE = 1000  # rows read from the store per CSV chunk
RECENT = 20
CHART_HOURS = 48  # the charts show at most the last 48 hours…
MIN_CHART_HOURS = 12  # …and at least 12, so that one busy hour is not one wide bar
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def mask_id(participant_id: str) -> str:
    """`user-12345` -> `u***5`: enough to tell rows apart, not to identify a shopper."""
    if not participant_id:
        return ""
    if len(participant_id) <= 3:
        return participant_id[0] + "***"
    return participant_id[0] + "***" + participant_id[-1]


def cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet will not run as a formula (a shopper chooses their name)."""
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _rows_chunk(rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([[cell(v) for v in row] for row in rows])
    return buffer.getvalue()


PARTICIPANT_COLUMNS = ["participant_id", "display_name", "first_action_at", "last_action_at",
                       "actions", "interaction_seconds", "state"]
ACTION_COLUMNS = ["seq", "at", "actor", "participant_id", "action", "room", "params", "result",
                  "events", "first_time"]


def participants_csv(engine: Engine, activity_id: str, page: int = PAGE) -> Iterator[str]:
    """The participants CSV: a header chunk, then one chunk per page of `page` rows."""
    yield "\ufeff" + _rows_chunk([PARTICIPANT_COLUMNS])  # the BOM: Excel reads UTF-8 Chinese
    after: str | None = None
    while True:
        rows = engine.participants(activity_id, after, page)  # its own read transaction
        if not rows:
            return
        yield _rows_chunk([[r.participant_id, r.display_name, iso_utc(r.first_action_at),
                            iso_utc(r.last_action_at), r.actions, r.interaction_seconds,
                            r.state if r.state is not None else ""] for r in rows])
        if len(rows) < page:
            return
        after = rows[-1].participant_id


def actions_csv(engine: Engine, merchant: Merchant, activity_id: str,
                page: int = PAGE) -> Iterator[str]:
    """The action log CSV, one chunk per page of `page` log entries."""
    yield "\ufeff" + _rows_chunk([ACTION_COLUMNS])
    after = 0
    while True:
        items, cursor = engine.action_log(merchant, activity_id, after=after, limit=page)
        if items:
            yield _rows_chunk([[i["seq"], iso_utc(i["at"]), i["actor"], i["participant"],
                                i["action"], i["room"] or "", i["params"], i["result"],
                                i["events"], int(bool(i["first_time"]))] for i in items])
        if cursor is None:
            return
        after = cursor


def csv_response(chunks: Iterator[str], filename: str) -> Response:
    response = Response(stream_with_context(chunks), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/activities/<activity_id>/export/participants.csv")
@login_required
def export_participants(activity_id: str):
    load_activity(activity_id)  # 404 for another merchant's activity
    return csv_response(participants_csv(get_engine(), activity_id),
                        f"{activity_id}-participants.csv")


@bp.route("/activities/<activity_id>/export/actions.csv")
@login_required
def export_actions(activity_id: str):
    load_activity(activity_id)
    return csv_response(actions_csv(get_engine(), current_merchant(), activity_id),
                        f"{activity_id}-actions.csv")


# the page -----------------------------------------------------------------------------------

def hourly_series(hourly: list[dict[str, Any]], now: int, live: bool) -> list[dict[str, Any]]:
    """The last hours of buckets (between `MIN_CHART_HOURS` and `CHART_HOURS`), gaps filled
    with zeros."""
    if not hourly:
        return []
    by_hour = {h["hour"]: h for h in hourly}
    last = max(by_hour)
    if live:
        last = max(last, now - now % 3600)
    first = max(min(by_hour), last - (CHART_HOURS - 1) * 3600)
    first = min(first, last - (MIN_CHART_HOURS - 1) * 3600)
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
    x_title = _("Hour (%(tz)s)", tz=tz)

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
    return [
        bar_chart("chart-participations", labels, [h["participations"] for h in series],
                  title=participations, x_title=x_title, y_title=_("Participations"),
                  tooltips=tips, describe=summary(participations)),
        line_chart("chart-participants", labels, [h["participants"] for h in series],
                   title=participants, x_title=x_title, y_title=_("Participants"),
                   tooltips=tips, describe=summary(participants)),
        line_chart("chart-minutes", labels,
                   [round(h["interaction_seconds"] / 60, 1) for h in series],
                   title=minutes, x_title=x_title, y_title=_("Minutes"), tooltips=tips,
                   describe=summary(minutes)),
        bar_chart("chart-completions", labels, [h["completions"] for h in series],
                  title=completions, x_title=x_title, y_title=_("Completions"), tooltips=tips,
                  describe=summary(completions)),
    ]


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
            name = prizes[i].get("name") if i < len(prizes) and isinstance(prizes[i], dict) else ""
            total = prizes[i].get("stock") if i < len(prizes) and isinstance(prizes[i], dict) \
                else None
            name = name or "#" + str(i + 1)
            out.append({"label": _("Stock left: %(name)s", name=name),
                        "value": value, "of": total})
        return out
    if isinstance(left, int | float):
        total = config.get("stock")
        return [{"label": _("Stock left"), "value": left,
                 "of": total if isinstance(total, int) else None}]
    return []


def action_title(entry: Any, name: str) -> str:
    if name == "$config":
        return _("Settings changed by the merchant")
    action = entry.compiled.actions.get(name)
    return i18n(action.title) if action is not None else name


@bp.route("/activities/<activity_id>/dashboard")
@login_required
def show(activity_id: str):
    engine = get_engine()
    merchant = current_merchant()
    activity = load_activity(activity_id)
    entry = pinned_entry(activity)
    stats = engine.stats(merchant, activity_id)
    totals = stats["totals"]
    view = participant_view(activity) if activity["status"] != "draft" else {}
    viewed = engine.count_participants(activity_id)
    acted = totals["unique_participants"]
    # Completions count events, not people: one participant may complete twice (and a
    # bargain's completion is set off by the last helper). Capped at `acted`, it approximates
    # the participants who completed without scanning the log.
    completed = min(totals["completions"], acted)
    funnel = [
        {"label": _("Viewed"), "value": max(viewed, acted),
         "help": _("Participants who opened the activity (sent a heartbeat or acted)")},
        {"label": _("Acted"), "value": acted, "help": _("Unique participants who acted")},
        {"label": _("Completed"), "value": completed,
         "help": _("Completion events, at most one per participant (an approximation)")},
    ]
    top = max(1, funnel[0]["value"])
    for step in funnel:
        step["percent"] = 100.0 * step["value"] / top

    seq = activity["actions"]
    recent, _cursor = engine.action_log(merchant, activity_id, after=max(0, seq - RECENT),
                                        limit=RECENT)
    recent = [{"seq": r["seq"], "at": format_time(r["at"], activity["timezone"], seconds=True),
               "who": mask_id(r["participant"]), "actor": r["actor"],
               "action": action_title(entry, r["action"]),
               "events": ", ".join(e.get("type", "") for e in r["events"] or [])}
              for r in reversed(recent)]

    series = hourly_series(stats["hourly"], engine.now(), activity["status"] == "live")
    tiles = [
        {"label": _("Participations"), "value": totals["participations"]},
        {"label": _("Unique participants"), "value": totals["unique_participants"]},
        {"label": _("First-time participants"), "value": totals["first_time_participants"]},
        {"label": _("Interaction minutes"),
         "value": round(totals["interaction_seconds"] / 60, 1)},
    ]
    for event_type, count in stats["completions"].items():
        tiles.append({"label": _("Completions: %(event)s", event=event_type), "value": count})
    tiles += stock_tiles(entry, activity["config"], view)
    return render_template("console/dashboard.html", activity=activity, entry=entry,
                           tiles=tiles, funnel=funnel, recent=recent,
                           charts=charts(series, activity["timezone"]),
                           series=series, status_labels=STATUS_LABELS)
