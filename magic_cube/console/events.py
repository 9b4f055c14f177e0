"""An activity's webhook events in the console: the outbox in delivery order with each event's
delivery state, a status filter, paging by cursor, and sending a delivered or dead event again.

Paging without JavaScript: the engine pages forward only (events after an id), so the page's
URL carries the cursors of the pages before it (`back`), and "Older" goes back to the last.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from magic_cube.console.activities import pinned_entry
from magic_cube.console.auth import login_required
from magic_cube.console.context import current_merchant, get_engine, load_activity
from magic_cube.console.labels import EVENT_STATUS_LABELS, STATUS_LABELS
from magic_cube.console.present import event_name
from magic_cube.engine.errors import ActivityNotFound, EventNotFound, EventPending
from magic_cube.engine.events import EVENT_STATUSES

bp = Blueprint("events", __name__)

PAGE_SIZE = 50
MAX_BACK = 50  # cursors of earlier pages kept in the URL; beyond them "Older" starts over


def read_int(value: str | None) -> int:
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0


def read_view(args: Any) -> dict[str, Any]:
    """The page's filter and position from the query string (or the redeliver form), checked."""
    status = args.get("status") or None
    if status not in EVENT_STATUSES:
        status = None
    back = [read_int(v) for v in (args.get("back") or "").split(",") if v.strip().isdigit()]
    return {"status": status, "after": read_int(args.get("after")), "back": back[-MAX_BACK:]}


def page_url(activity_id: str, status: str | None, after: int, back: list[int]) -> str:
    args: dict[str, Any] = {"activity_id": activity_id}
    if status:
        args["status"] = status
    if after:
        args["after"] = after
    if back:
        args["back"] = ",".join(str(b) for b in back)
    return url_for("console.events.show", **args)


@bp.route("/activities/<activity_id>/events")
@login_required
def show(activity_id: str):
    activity = load_activity(activity_id)  # 404 for another merchant's activity
    view = read_view(request.args)
    try:
        items, next_cursor = get_engine().list_events(
            current_merchant(), activity_id, status=view["status"], after=view["after"],
            limit=PAGE_SIZE)
    except ActivityNotFound:
        abort(404)
    status, after, back = view["status"], view["after"], view["back"]
    newer = (page_url(activity_id, status, next_cursor, [*back, after][-MAX_BACK:])
             if next_cursor is not None else None)
    older = None
    if after:
        older = page_url(activity_id, status, back[-1], back[:-1]) if back else \
            page_url(activity_id, status, 0, [])
    entry = pinned_entry(activity)
    for item in items:  # named as the template names it; the code stays for a developer
        item["label"] = event_name(entry, item["type"])
    return render_template(
        "console/events.html", activity=activity, items=items, status=status, after=after,
        back=",".join(str(b) for b in back), statuses=EVENT_STATUSES,
        event_status_labels=EVENT_STATUS_LABELS, status_labels=STATUS_LABELS,
        newer=newer, older=older)


@bp.route("/activities/<activity_id>/events/<int:event_id>/redeliver", methods=["POST"])
@login_required
def redeliver(activity_id: str, event_id: int):
    load_activity(activity_id)
    view = read_view(request.form)
    try:
        event = get_engine().redeliver_event(current_merchant(), activity_id, event_id)
    except ActivityNotFound:
        abort(404)
    except EventNotFound:
        flash(_("There is no such event in this activity."), "error")
    except EventPending:
        flash(_("This event is still waiting to be delivered; only a delivered or dead event "
                "can be sent again."), "error")
    else:
        flash(_("Event %(seq)s (%(type)s) will be sent again shortly.", seq=event["seq"],
                type=event["type"]), "success")
    return redirect(page_url(activity_id, view["status"], view["after"], view["back"]))
