"""The console's live lists: an activity's rooms as its merchant watches them, one room with its
members and the actions on it.

The merchant sees what a participant's room view shows (rendered for no one in particular),
with the members' display names unmasked: they are the merchant's own users. Which room values
are money is worked out from the template's data (`money.MoneyReads`, for the activity's config).
"""

from __future__ import annotations

from typing import Any

from magic_cube.engine.core import Core
from magic_cube.engine.errors import EngineError, RoomNotFound
from magic_cube.engine.lifecycle import TIMER_STATUSES, Lifecycle, due_change
from magic_cube.engine.money import MoneyReads
from magic_cube.engine.performer import Performer, timer_window
from magic_cube.engine.rooms import to_rules
from magic_cube.rules.interpreter import render_view
from magic_cube.rules.jsonlogic.introspect import var_paths
from magic_cube.rules.model import Actor, Snapshot
from magic_cube.rules.timers import upcoming
from magic_cube.store.records import ActivityRecord, Merchant, StoredRoom

ROOM_STATUSES = ("open", "succeeded", "failed", "expired")
# What a room view reads that the live list shows in columns of its own (status, initiator,
# members, timers) or that depends on who looks (`me`, `actor`): such keys are left out.
VIEWER_HEADS = ("room_info", "me", "actor", "now", "today")


class InvalidRoomFilter(EngineError):
    code, status = "validation_error", 422


def opens_rooms(doc: dict[str, Any]) -> bool:
    """Whether any action of the template opens a room (`create_room`, at any depth)."""
    stack: list[Any] = [a.get("effects") for a in (doc.get("actions") or {}).values()
                        if isinstance(a, dict)]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "create_room" in node:
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def room_values(doc: dict[str, Any]) -> list[str]:
    """The room view's keys the live list shows: those that do not depend on the viewer and
    are not shown in a column of their own."""
    keys = []
    for key, rule in ((doc.get("views") or {}).get("room") or {}).items():
        heads = {p.split(".", 1)[0] for p in var_paths(rule)}
        if not heads & set(VIEWER_HEADS):
            keys.append(key)
    return keys


def encode_cursor(room: StoredRoom) -> str:
    return f"{room.room.opened_at}.{room.room.id}"


def decode_cursor(cursor: str | None) -> tuple[int, str] | None:
    """`OPENED_AT.ROOM_ID` as (opened_at, id); `InvalidRoomFilter` for anything else."""
    if not cursor:
        return None
    opened, _, room_id = cursor.partition(".")
    if not opened.isdigit() or not room_id or len(cursor) > 200:
        raise InvalidRoomFilter("cursor is not one this listing gave")
    return int(opened), room_id


class Live:
    """Rooms of a merchant's activity as they are now: a page of them, or one in detail."""

    def __init__(self, core: Core, lifecycle: Lifecycle, performer: Performer) -> None:
        self.core = core
        self.lifecycle = lifecycle
        self.performer = performer

    def _current(self, merchant: Merchant, activity_id: str) -> ActivityRecord:
        """The merchant's activity with due starts, ends and room timers applied, so that no
        room is listed open past its expiry (a write only when something is due)."""
        core = self.core
        now = core.now()
        with core.store.transaction(write=False) as tx:
            activity = core.activity(tx, activity_id, merchant)
            timers_due = activity.status in TIMER_STATUSES \
                and bool(tx.due_rooms(activity_id, now, 1))
        if not (timers_due or due_change(activity.status, activity.starts_at,
                                         activity.ends_at, now, activity.next_due)):
            return activity
        with core.store.transaction() as tx:
            activity = core.activity(tx, activity_id, merchant)
            changed = self.lifecycle.advance(tx, activity, now)
            if activity.status in TIMER_STATUSES:
                template = core.template(activity)
                changed = bool(self.performer.fire_activity_timers(tx, activity, template, now)
                               + self.performer.fire_due_timers(tx, activity, template, now)
                               ) or changed
        if changed:
            core.notify(activity_id)
        return activity

    def schedule(self, merchant: Merchant, activity_id: str) -> list[dict[str, Any]]:
        """When each of the activity's own timers (`at`, `daily`, `at: "end"`) runs next: time,
        timer and the action it runs, earliest first; empty for a draft or an ended one."""
        activity = self._current(merchant, activity_id)
        template = self.core.template(activity)
        if not template.activity_timers or activity.status not in ("scheduled", "live",
                                                                    "paused"):
            return []
        window = timer_window(activity)  # a scheduled one's counts from its start
        actions = template.doc.get("actions", {})
        return [{"at": at, "timer": name,
                 "action": template.activity_timers[name].action,
                 "title": actions.get(template.activity_timers[name].action, {}).get("title")}
                for at, name in upcoming(template.activity_timers, activity.config,
                                         activity.state or {}, window, self.core.now(),
                                         activity.timezone)]

    def _describe(self, activity: ActivityRecord, stored: StoredRoom, keys: list[str],
                  now: int) -> dict[str, Any]:
        room = stored.room
        snap = Snapshot(activity.id, activity.config, activity.state or {}, None,
                        to_rules(room), activity.timezone)
        view = render_view(self.core.template(activity), "room", snap, Actor(""), now)
        names = {m.participant: m.display_name for m in room.members}
        return {
            "id": room.id, "status": room.status, "opened_at": room.opened_at,
            "closed_at": room.closed_at, "initiator": room.initiator,
            "initiator_name": names.get(room.initiator) or "",
            "size": len(room.members), "capacity": room.capacity,
            "due": min(room.timers.values()) if room.timers and room.status == "open" else None,
            "values": {k: view[k] for k in keys if k in view},
            "members": [{"participant": m.participant, "name": m.display_name, "role": m.role,
                         "joined_at": m.joined_at, "data": m.data} for m in room.members],
        }

    def _units(self, activity: ActivityRecord, keys: list[str]) -> dict[str, Any]:
        doc = self.core.entry(activity).doc
        units = MoneyReads(doc, activity.config)
        room_view = (doc.get("views") or {}).get("room") or {}
        return {"money": sorted(k for k in keys if units.money(room_view.get(k))),
                "member_money": sorted(units.member_money())}

    def rooms(self, merchant: Merchant, activity_id: str, status: str | None = None,
              cursor: str | None = None, limit: int = 50) -> dict[str, Any]:
        """A page of the activity's rooms, newest first: `rooms`, the `next` cursor (None on
        the last page), and which of their values are `money`."""
        if status is not None and status not in ROOM_STATUSES:
            raise InvalidRoomFilter(f"status must be one of {', '.join(ROOM_STATUSES)}")
        before = decode_cursor(cursor)
        limit = max(1, min(int(limit), 200))
        activity = self._current(merchant, activity_id)
        with self.core.store.transaction(write=False) as tx:
            page = tx.room_page(activity_id, status, before, limit + 1)
        more = len(page) > limit
        page = page[:limit]
        keys = room_values(self.core.entry(activity).doc)
        now = self.core.now()
        return {"rooms": [self._describe(activity, r, keys, now) for r in page],
                "next": encode_cursor(page[-1]) if more and page else None,
                **self._units(activity, keys)}

    def room(self, merchant: Merchant, activity_id: str, room_id: str,
             limit: int = 100) -> dict[str, Any]:
        """One room in detail: as in `rooms`, with the actions on it (newest first)."""
        activity = self._current(merchant, activity_id)
        with self.core.store.transaction(write=False) as tx:
            stored = tx.get_room(activity_id, room_id)
            actions = tx.room_actions(activity_id, room_id, limit) if stored else []
        if stored is None:
            raise RoomNotFound()
        keys = room_values(self.core.entry(activity).doc)
        body = self._describe(activity, stored, keys, self.core.now())
        body["actions"] = [{"seq": a.seq, "at": a.at, "actor": a.actor_kind,
                            "participant": a.participant_id, "name": a.display_name,
                            "action": a.action, "timer": a.timer, "events": a.events,
                            "result": a.result} for a in actions]
        return {**body, **self._units(activity, keys)}
