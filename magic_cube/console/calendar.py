"""The merchant's calendar: a month of activities, each a bar from its start to its end, coloured
by status and linked to the activity; previous and next month. On a phone the same month is an
agenda: each activity once, with its first and last day.

Days are those of the merchant's time zone: the zone most of its activities use (the console
has no other), else Asia/Shanghai. An activity runs from its start (scheduled start, else when
it was published, else when it was made) to its end (when it ended, else its scheduled end);
one still running with no end runs on past the month; a draft with no dates shows on the day it
was made. Archived activities are left out.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from babel.dates import format_skeleton, get_day_names
from flask import Blueprint, render_template, request, url_for

from magic_cube.console.auth import login_required
from magic_cube.console.context import current_merchant, get_engine, lang, local_moment
from magic_cube.console.labels import STATUS_LABELS
from magic_cube.engine import FIRST_YEAR, LAST_YEAR

bp = Blueprint("calendar", __name__)

DEFAULT_TZ = "Asia/Shanghai"
PAGE = 100
MAX_PAGES = 50  # at most 5,000 activities are read for one month
RUNNING = ("scheduled", "live", "paused")
LOCALES = {"zh": "zh_Hans_CN", "en": "en"}


@dataclass
class Span:
    activity: dict[str, Any]
    first: date  # its first day in the zone
    last: date | None  # its last day; None: no end yet


def all_activities() -> list[dict[str, Any]]:
    engine, merchant = get_engine(), current_merchant()
    out: list[dict[str, Any]] = []
    cursor = None
    for _ in range(MAX_PAGES):
        items, cursor = engine.list_activities(merchant, cursor=cursor, limit=PAGE)
        out += items
        if cursor is None:
            break
    return out


def merchant_zone(activities: list[dict[str, Any]]) -> str:
    zones = Counter(a["timezone"] for a in activities if a.get("timezone"))
    return zones.most_common(1)[0][0] if zones else DEFAULT_TZ


def day_of(ts: int, tz: str) -> date:
    """The local day of `ts`; a time beyond the calendar (an old row's) is its first or last
    day, so the activity still shows, running on past every month."""
    moment = local_moment(ts, tz)
    if moment is None:
        return date.max if ts > 0 else date.min
    return moment.date()


def span_of(activity: dict[str, Any], tz: str) -> Span:
    start = activity["starts_at"] or activity["published_at"] or activity["created_at"]
    end = activity["ended_at"] or activity["ends_at"]
    first = day_of(start, tz)
    last: date | None = None if activity["status"] in RUNNING else first
    if end is not None:
        last = day_of(max(start, end - 1), tz)  # an end at local midnight ends the day before
    return Span(activity, first, last)


def read_month(value: str | None, today: date) -> date:
    """`YYYY-MM` as the first of that month; this month for anything else."""
    try:
        year, month = (int(p) for p in (value or "").split("-"))
        return date(year, month, 1) if FIRST_YEAR <= year <= LAST_YEAR else today.replace(day=1)
    except ValueError:
        return today.replace(day=1)


def month_after(first: date) -> date:
    return (first + timedelta(days=32)).replace(day=1)


def month_before(first: date) -> date:
    return (first - timedelta(days=1)).replace(day=1)


def weeks(first: date, spans: list[Span]) -> list[dict[str, Any]]:
    """The month's weeks (Monday first), each with its seven days and the bars crossing it:
    column (1-7) and span, and whether the bar goes on before or after the week."""
    start = first - timedelta(days=first.weekday())
    end = month_after(first)
    out = []
    while start < end:
        days = [start + timedelta(days=i) for i in range(7)]
        last_day = days[-1]
        bars: list[dict[str, Any]] = []
        for s in spans:
            if s.first > last_day or (s.last is not None and s.last < start):
                continue
            a = max(s.first, start)
            b = last_day if s.last is None else min(s.last, last_day)
            bars.append({"span": s, "column": (a - start).days + 1, "width": (b - a).days + 1,
                         "before": s.first < start,
                         "after": s.last is None or s.last > last_day})
        bars.sort(key=lambda bar: (bar["column"], -bar["width"]))
        out.append({"days": [{"date": d, "in_month": d.month == first.month} for d in days],
                    "bars": bars})
        start += timedelta(days=7)
    return out


@bp.route("/calendar")
@login_required
def show():
    activities = [a for a in all_activities() if a["status"] != "archived"]
    tz = merchant_zone(activities)
    today = day_of(get_engine().now(), tz)
    first = read_month(request.args.get("month"), today)
    last = month_after(first) - timedelta(days=1)
    spans = [s for s in (span_of(a, tz) for a in activities)
             if s.first <= last and (s.last is None or s.last >= first)]
    spans.sort(key=lambda s: (s.first, s.activity["title"]))
    locale = LOCALES[lang()]
    return render_template(
        "console/calendar.html", spans=spans, weeks=weeks(first, spans),
        today=today, tz=tz, status_labels=STATUS_LABELS,
        title=format_skeleton("yMMMM", first, locale=locale),
        weekdays=[get_day_names("abbreviated", locale=locale)[i] for i in range(7)],
        day_label=lambda d: format_skeleton("MMMEd" if d.year == first.year else "yMMMEd", d,
                                            locale=locale),
        previous=url_for("console.calendar.show", month=month_before(first).strftime("%Y-%m")),
        following=url_for("console.calendar.show", month=month_after(first).strftime("%Y-%m")),
        this_month=url_for("console.calendar.show"),
        showing_today=first == today.replace(day=1))
