"""An activity's rooms, live: each bargain, group or gift pack with its progress, newest first,
filtered by status and paged by cursor; one room with its members and the actions on it.

The pages work without JavaScript (a reload shows the current state); `static/live.js` fetches
the same page as a fragment (`?fragment=1`) every few seconds while the tab is visible and swaps
it in. What a room shows comes from its template's data: its room view (labels from
`view_labels` or the config field a key reads; money in yuan), its members and their data, and
a progress bar drawn from the values (a price on its way from its start to the floor) and from
the members (places filled).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from magic_cube.catalog import TemplateEntry
from magic_cube.console.activities import pinned_entry
from magic_cube.console.auth import login_required
from magic_cube.console.context import (
    current_merchant,
    format_time,
    get_engine,
    joined,
    lang,
    load_activity,
)
from magic_cube.console.forms.schema import humanise, localised
from magic_cube.console.labels import STATUS_LABELS
from magic_cube.console.present import (
    action_name,
    event_name,
    field_name,
    money_label,
    show_value,
    yuan,
)
from magic_cube.engine.errors import ActivityNotFound, RoomNotFound
from magic_cube.engine.live import ROOM_STATUSES, InvalidRoomFilter, opens_rooms

bp = Blueprint("live", __name__)

PAGE_SIZE = 50
MAX_BACK = 50  # cursors of earlier pages kept in the URL
REFRESH_SECONDS = 5

ROOM_STATUS_LABELS = {
    "open": _l("Open"),
    "succeeded": _l("Succeeded"),
    "failed": _l("Failed"),
    "expired": _l("Expired"),
}


@bp.app_template_global()
def has_rooms(entry: TemplateEntry) -> bool:
    """Whether the template's actions open rooms (the activity then has a live list)."""
    return opens_rooms(entry.doc)


# what a room shows --------------------------------------------------------------------------

def time_left(due: int | None, now: int) -> str:
    """Time until a room's next timer, e.g. `1 d 3 h`, `2 h 5 min`, `4 min`."""
    if due is None:
        return "—"
    left = max(0, due - now)
    days, hours, minutes = left // 86400, left % 86400 // 3600, -(-(left % 3600) // 60)
    if minutes == 60:
        hours, minutes = hours + 1, 0
    if days:
        return _("%(d)s d %(h)s h", d=days, h=hours)
    if hours:
        return _("%(h)s h %(m)s min", h=hours, m=minutes)
    return _("%(m)s min", m=minutes)


def _label(entry: TemplateEntry, key: str, money: bool) -> str:
    label = key_label(entry, key)
    return money_label(label) if money else label


def key_label(entry: TemplateEntry, key: str) -> str:
    """A room value's or member data key's label: `view_labels`, else the label of the
    config field the room view reads, else the key made readable."""
    text = localised((entry.doc.get("view_labels") or {}).get(key), lang())
    if text:
        return text
    rule = ((entry.doc.get("views") or {}).get("room") or {}).get(key)
    if isinstance(rule, dict) and isinstance(rule.get("var"), str) \
            and rule["var"].startswith("config."):
        return field_name(entry, rule["var"].removeprefix("config."))
    return humanise(key) or key


def shown(value: Any, money: bool) -> str:
    return yuan(value) if money and isinstance(value, int) and not isinstance(value, bool) \
        else show_value(None, value)


def price_progress(entry: TemplateEntry, config: dict[str, Any], room: dict[str, Any],
                   money: set[str]) -> dict[str, Any] | None:
    """A money room value on its way from where it started (the config field its variable
    starts at) to a money value of the config shown beside it (a bargain's price going down
    to its floor): how far it has come."""
    views = (entry.doc.get("views") or {}).get("room") or {}
    state = (entry.doc.get("state") or {}).get("room") or {}
    values = room["values"]
    targets = [k for k in values if k in money and _config_var(views.get(k))]
    for key in values:
        variable = _room_var(views.get(key))
        decl = state.get(variable) if variable else None
        start_field = _config_var(decl.get("initial")) if isinstance(decl, dict) else None
        if key not in money or start_field is None:
            continue
        start, now = config.get(start_field), values[key]
        for target in targets:
            end = values[target]
            if not all(isinstance(v, int) for v in (start, now, end)) or start == end:
                continue
            done = max(0.0, min(1.0, (start - now) / (start - end)))
            return {"key": key, "label": key_label(entry, key), "percent": round(100 * done),
                    "text": _("%(now)s (from %(start)s to %(end)s)", now=yuan(now),
                              start=yuan(start), end=yuan(end))}
    return None


def _config_var(rule: Any) -> str | None:
    if isinstance(rule, dict) and isinstance(rule.get("var"), str) \
            and rule["var"].startswith("config."):
        return str(rule["var"]).removeprefix("config.")
    return None


def _room_var(rule: Any) -> str | None:
    if isinstance(rule, dict) and isinstance(rule.get("var"), str) \
            and rule["var"].startswith("room."):
        return str(rule["var"]).removeprefix("room.")
    return None


def member_role(entry: TemplateEntry, room: dict[str, Any], member: dict[str, Any]) -> str:
    text = localised((entry.doc.get("view_labels") or {}).get(member["role"]), lang())
    if text:
        return text
    return _("Initiator") if member["participant"] == room["initiator"] else _("Member")


def present_room(entry: TemplateEntry, activity: dict[str, Any], room: dict[str, Any],
                 page: dict[str, Any], now: int) -> dict[str, Any]:
    """A room as the templates show it: every value labelled and formatted."""
    tz = activity["timezone"]
    money, member_money = set(page["money"]), set(page["member_money"])
    members = [{
        "name": m["name"] or m["participant"], "participant": m["participant"],
        "role": member_role(entry, room, m), "joined": format_time(m["joined_at"], tz),
        "data": [(_label(entry, k, k in member_money), shown(v, k in member_money))
                 for k, v in (m["data"] or {}).items()],
    } for m in room["members"]]
    capacity = room["capacity"]
    progress = price_progress(entry, activity["config"], room, money)
    skip = progress["key"] if progress else None  # shown on its progress bar
    return {
        "id": room["id"], "status": room["status"],
        "status_label": ROOM_STATUS_LABELS.get(room["status"], room["status"]),
        "opened": format_time(room["opened_at"], tz),
        "closed": format_time(room["closed_at"], tz) if room["closed_at"] else None,
        "initiator": room["initiator_name"] or room["initiator"],
        "size": room["size"], "capacity": capacity,
        "fill": round(100 * room["size"] / capacity) if capacity else None,
        "left": time_left(room["due"], now) if room["status"] == "open" else None,
        "rows": [(_label(entry, k, k in money), shown(v, k in money))
                 for k, v in room["values"].items() if k != skip],
        "progress": progress,
        "members": members,
        "url": url_for("console.live.room", activity_id=activity["id"], room_id=room["id"]),
    }


def present_actions(entry: TemplateEntry, activity: dict[str, Any],
                    actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    tz = activity["timezone"]
    return [{"seq": a["seq"], "at": format_time(a["at"], tz, seconds=True),
             "who": a["name"] or a["participant"] or "—",
             "action": action_name(entry, a["action"]),
             "timer": a["actor"] == "timer",
             "events": joined(event_name(entry, e.get("type", "")) for e in a["events"] or [])}
            for a in actions]


# the pages ----------------------------------------------------------------------------------

def read_view(args: Any) -> dict[str, Any]:
    status = args.get("status") or None
    if status not in ROOM_STATUSES:
        status = None
    back = [c for c in (args.get("back") or "").split(",") if c.strip()][-MAX_BACK:]
    return {"status": status, "after": args.get("after") or None, "back": back}


def page_url(activity_id: str, status: str | None, after: str | None, back: list[str],
             **extra: Any) -> str:
    args: dict[str, Any] = {"activity_id": activity_id, **extra}
    if status:
        args["status"] = status
    if after:
        args["after"] = after
    if back:
        args["back"] = ",".join(back)
    return url_for("console.live.show", **args)


def _fragment() -> bool:
    return request.args.get("fragment") == "1"


@bp.route("/activities/<activity_id>/live")
@login_required
def show(activity_id: str):
    activity = load_activity(activity_id)  # 404 for another merchant's activity
    entry = pinned_entry(activity)
    if not opens_rooms(entry.doc):
        abort(404)
    view = read_view(request.args)
    status, after, back = view["status"], view["after"], view["back"]
    engine = get_engine()
    try:
        page = engine.live_rooms(current_merchant(), activity_id, status, after, PAGE_SIZE)
    except ActivityNotFound:
        abort(404)
    except InvalidRoomFilter:  # a cursor this page never gave: start from the newest
        after, back = None, []
        page = engine.live_rooms(current_merchant(), activity_id, status, None, PAGE_SIZE)
    now = engine.now()
    rooms = [present_room(entry, activity, r, page, now) for r in page["rooms"]]
    older = page_url(activity_id, status, page["next"], [*back, after or ""][-MAX_BACK:]) \
        if page["next"] else None
    newer = None
    if after:
        newer = page_url(activity_id, status, back[-1] or None, back[:-1]) if back \
            else page_url(activity_id, status, None, [])
    context = {"activity": activity, "entry": entry, "rooms": rooms, "status": status,
               "statuses": ROOM_STATUSES, "room_status_labels": ROOM_STATUS_LABELS,
               "status_labels": STATUS_LABELS, "older": older, "newer": newer,
               "refresh": page_url(activity_id, status, after, back, fragment=1),
               "refresh_seconds": REFRESH_SECONDS, "updated": format_time(
                   now, activity["timezone"], seconds=True)}
    if _fragment():
        return render_template("console/live_rooms.html", **context)
    return render_template("console/live.html", **context)


@bp.route("/activities/<activity_id>/live/<room_id>")
@login_required
def room(activity_id: str, room_id: str):
    activity = load_activity(activity_id)
    entry = pinned_entry(activity)
    engine = get_engine()
    try:
        found = engine.live_room(current_merchant(), activity_id, room_id)
    except (ActivityNotFound, RoomNotFound):
        abort(404)
    now = engine.now()
    context = {"activity": activity, "entry": entry, "status_labels": STATUS_LABELS,
               "room": present_room(entry, activity, found, found, now),
               "actions": present_actions(entry, activity, found["actions"]),
               "refresh": url_for("console.live.room", activity_id=activity_id,
                                  room_id=room_id, fragment=1),
               "refresh_seconds": REFRESH_SECONDS,
               "updated": format_time(now, activity["timezone"], seconds=True)}
    if _fragment():
        return render_template("console/live_room_body.html", **context)
    return render_template("console/live_room.html", **context)
