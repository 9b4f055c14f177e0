"""What participants poll: the activity, a room, their own state — with cheap revalidation.

Each view's ETag is built from version counters that change only when that view can change,
so `If-None-Match` is answered from a few indexed columns in a read transaction (no write
path, no template evaluation). `wait` holds a poll until the ETag changes: writes in this
process wake waiters at once; writes by other processes are seen at the next database check.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from magic_cube.engine.errors import ActivityNotFound, RoomNotFound
from magic_cube.engine.identity import Participant
from magic_cube.engine.lifecycle import TIMER_STATUSES, due_change
from magic_cube.rules.days import local_date
from magic_cube.rules.interpreter import render_view
from magic_cube.rules.model import Actor, Snapshot
from magic_cube.store.records import ActivityRecord


@dataclass
class ViewResponse:
    etag: str
    body: dict[str, Any] | None  # None: not modified

    @property
    def status(self) -> int:
        return 200 if self.body is not None else 304


class Notifier:
    """Wakes long polls waiting on an activity when this process changes it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._versions: dict[str, int] = {}

    def notify(self, activity_id: str) -> None:
        with self._cond:
            self._versions[activity_id] = self._versions.get(activity_id, 0) + 1
            self._cond.notify_all()

    def mark(self, activity_id: str) -> int:
        with self._cond:
            return self._versions.get(activity_id, 0)

    def wait(self, activity_id: str, since: int, timeout: float) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._versions.get(activity_id, 0) != since, timeout)


class ViewsMixin:
    """Polling (part of `Engine`)."""

    def notify(self, activity_id: str) -> None:
        self.notifier.notify(activity_id)

    def _poll(self, activity_id: str, if_none_match: str | None, wait: float, cheap, full):
        """Answer 304 from `cheap()` (an ETag, or None if the slow path is needed) when it
        matches, else hold up to `wait` seconds for a change, else render `full()`."""
        if if_none_match is None:
            return full()  # nothing to compare: skip the version read
        deadline = time.monotonic() + max(0.0, min(wait, self.settings.long_poll_max))
        while True:
            mark = self.notifier.mark(activity_id)
            etag = cheap()
            if etag is None or not _etag_matches(if_none_match, etag):
                return full()
            left = deadline - time.monotonic()
            if left <= 0:
                return ViewResponse(etag, None)
            self.notifier.wait(activity_id, mark, min(left, self.settings.long_poll_interval))

    def _fresh_activity(self, activity_id: str) -> ActivityRecord:
        """The activity with any due start or end applied (a write only when one is due).
        Drafts are the merchant's business: to participants they do not exist."""
        now = self.now()
        with self.store.transaction(write=False) as tx:
            activity = self._activity(tx, activity_id)
        if activity.status == "draft":
            raise ActivityNotFound()
        if due_change(activity.status, activity.starts_at, activity.ends_at, now):
            with self.store.transaction() as tx:
                activity = self._activity(tx, activity_id)
                if self.advance(tx, activity, now):
                    self.notify(activity_id)
        return activity

    def _fire_room(self, activity_id: str, room_id: str) -> None:
        """Fire due timers before showing a room, so an expired room never looks open."""
        now = self.now()
        with self.store.transaction(write=False) as tx:
            room = tx.get_room_state_version(activity_id, room_id)
        if room is None or room[1] is None or room[1] > now:
            return  # nothing due: no write transaction, no lock on the activity
        with self.store.transaction() as tx:
            activity = self._activity(tx, activity_id)
            if activity.status in TIMER_STATUSES and self.fire_due_timers(
                    tx, activity, self._entry(activity).compiled, now, room_id=room_id):
                fired = True
            else:
                fired = False
        if fired:
            self.notify(activity_id)

    # activity ---------------------------------------------------------------------------

    def public_view(self, activity_id: str, if_none_match: str | None = None, wait: float = 0,
                    lang: str = "en") -> ViewResponse:
        def cheap() -> str | None:
            with self.store.transaction(write=False) as tx:
                row = tx.get_activity_version(activity_id)
            if row is None:
                return None  # full() raises the 404
            version, status, starts_at, ends_at = row
            now = self.now()
            if due_change(status, starts_at, ends_at, now):
                return None
            return f'"a{version}.{self._today(activity_id, now)}"'

        def full() -> ViewResponse:
            activity = self._fresh_activity(activity_id)
            entry = self._entry(activity)
            template = entry.compiled
            view = {}
            if activity.status != "draft":
                now = self.now()
                snap = Snapshot(activity.id, activity.config, activity.state or {}, None, None,
                                activity.timezone)
                view = render_view(template, "activity", snap, Actor(""), now)
            body = {
                "id": activity.id, "title": activity.title, "status": activity.status,
                "template": {"id": entry.id, "version": entry.version, "kind": entry.kind,
                             "title": entry.title.get(lang) or entry.title.get("en")},
                "timezone": activity.timezone, "starts_at": activity.starts_at,
                "ends_at": activity.ends_at, "view": view,
                "actions": [{"name": a.name, "title": a.title.get(lang) or a.title.get("en"),
                             "room": a.room} for a in template.actions.values()
                            if a.by == "participant"],
                "fairness": {"seed_commitment": activity.seed_commitment,
                             "seed": activity.seed if activity.status in ("ended", "archived")
                             else None},
                "heartbeat_interval": self.settings.heartbeat_interval,
            }
            return ViewResponse(f'"a{activity.version}.{self._today(activity_id, self.now())}"',
                                body)

        return self._poll(activity_id, if_none_match, wait, cheap, full)

    # room -------------------------------------------------------------------------------

    def room_view(self, activity_id: str, room_id: str, participant: Participant,
                  if_none_match: str | None = None, wait: float = 0) -> ViewResponse:
        def cheap() -> str | None:
            now = self.now()
            with self.store.transaction(write=False) as tx:
                row = tx.get_activity_version(activity_id)
                room = tx.get_room_state_version(activity_id, room_id)
                mine = tx.get_participant_version(activity_id, participant.id) or 0
            if row is None or room is None:
                return None
            version, status, starts_at, ends_at = row
            room_version, next_due = room
            if due_change(status, starts_at, ends_at, now) or (
                    next_due is not None and next_due <= now and status == "live"):
                return None
            return self._room_etag(version, room_version, mine, activity_id, now)

        def full() -> ViewResponse:
            activity = self._fresh_activity(activity_id)
            self._fire_room(activity_id, room_id)
            now = self.now()
            with self.store.transaction(write=False) as tx:
                activity = self._activity(tx, activity_id)
                stored = tx.get_room(activity_id, room_id)
                record = tx.get_participant(activity_id, participant.id)
            if stored is None:
                raise RoomNotFound()
            template = self._entry(activity).compiled
            snap = Snapshot(activity.id, activity.config, activity.state or {},
                            record.state if record else None, stored.room, activity.timezone)
            view = render_view(template, "room", snap, Actor(participant.id), now)
            body = {"id": room_id, "activity_id": activity_id, "status": stored.room.status,
                    "view": view}
            etag = self._room_etag(activity.version, stored.version,
                                   record.version if record else 0, activity_id, now)
            return ViewResponse(etag, body)

        return self._poll(activity_id, if_none_match, wait, cheap, full)

    def _room_etag(self, activity_version: int, room_version: int, mine: int, activity_id: str,
                   now: int) -> str:
        return f'"r{activity_version}.{room_version}.{mine}.{self._today(activity_id, now)}"'

    def _today(self, activity_id: str, now: int) -> str:
        # Daily limits make "me" and room views change at local midnight.
        tz = self._timezones.get(activity_id)
        if tz is None:
            with self.store.transaction(write=False) as tx:
                tz = self._activity(tx, activity_id).timezone
            self._timezones[activity_id] = tz
        return local_date(now, tz).replace("-", "")

    # me ---------------------------------------------------------------------------------

    def me_view(self, activity_id: str, participant: Participant,
                if_none_match: str | None = None, wait: float = 0) -> ViewResponse:
        def cheap() -> str | None:
            now = self.now()
            with self.store.transaction(write=False) as tx:
                row = tx.get_activity_version(activity_id)
                mine = tx.get_participant_version(activity_id, participant.id) or 0
            if row is None:
                return None
            version, status, starts_at, ends_at = row
            if due_change(status, starts_at, ends_at, now):
                return None
            return f'"m{version}.{mine}.{self._today(activity_id, now)}"'

        def full() -> ViewResponse:
            self._fresh_activity(activity_id)
            now = self.now()
            with self.store.transaction(write=False) as tx:
                activity = self._activity(tx, activity_id)
                record = tx.get_participant(activity_id, participant.id)
                rooms = tx.rooms_of(activity_id, participant.id)
            template = self._entry(activity).compiled
            snap = Snapshot(activity.id, activity.config, activity.state or {},
                            record.state if record else None, None, activity.timezone)
            view = render_view(template, "me", snap, Actor(participant.id), now) \
                if activity.status != "draft" else {}
            body = {"activity_id": activity_id, "participant": participant.id, "view": view,
                    "rooms": rooms}
            mine = record.version if record else 0
            return ViewResponse(f'"m{activity.version}.{mine}.{self._today(activity_id, now)}"',
                                body)

        return self._poll(activity_id, if_none_match, wait, cheap, full)


def _etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return etag in tags
