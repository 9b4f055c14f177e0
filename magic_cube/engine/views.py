"""What participants poll: the activity, a room, their own state — with cheap revalidation.

Each view's ETag is built from version counters that change only when that view can change,
so `If-None-Match` is answered from a few indexed columns in a read transaction (no write
path, no template evaluation). `wait` holds a poll until the ETag changes: writes in this
process wake waiters at once; writes by other processes are seen at the next database check.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from magic_cube.engine.accounts import Participant
from magic_cube.engine.core import Core
from magic_cube.engine.errors import RoomNotFound
from magic_cube.engine.lifecycle import TIMER_STATUSES, Lifecycle, due_change
from magic_cube.engine.performer import Performer
from magic_cube.engine.rooms import to_rules
from magic_cube.rules.days import local_date
from magic_cube.rules.interpreter import initial_activity_state, render_view
from magic_cube.rules.model import Actor, Snapshot
from magic_cube.store.records import Merchant


@dataclass
class ViewResponse:
    etag: str
    body: dict[str, Any] | None  # None: not modified

    @property
    def status(self) -> int:
        return 200 if self.body is not None else 304


def _etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return etag in tags


class Views:
    def __init__(self, core: Core, lifecycle: Lifecycle, performer: Performer) -> None:
        self.core = core
        self.lifecycle = lifecycle
        self.performer = performer

    def _poll(self, activity_id: str, if_none_match: str | None, wait: float,
              cheap: Callable[[], str | None],
              full: Callable[[], ViewResponse]) -> ViewResponse:
        """Answer 304 from `cheap()` (an ETag, or None if the slow path is needed) when it
        matches, else hold up to `wait` seconds for a change, else render `full()`."""
        if if_none_match is None:
            return full()  # nothing to compare: skip the version read
        settings, notifier = self.core.settings, self.core.notifier
        deadline = time.monotonic() + max(0.0, min(wait, settings.long_poll_max))
        while True:
            mark = notifier.mark(activity_id)
            etag = cheap()
            if etag is None or not _etag_matches(if_none_match, etag):
                return full()
            left = deadline - time.monotonic()
            if left <= 0:
                return ViewResponse(etag, None)
            notifier.wait(activity_id, mark, min(left, settings.long_poll_interval))

    def _fire_room(self, activity_id: str, room_id: str) -> None:
        """Fire due timers before showing a room, so an expired room never looks open."""
        core = self.core
        now = core.now()
        with core.store.transaction(write=False) as tx:
            room = tx.get_room_state_version(activity_id, room_id)
        if room is None or room[1] is None or room[1] > now:
            return  # nothing due: no write transaction, no lock on the activity
        with core.store.transaction() as tx:
            activity = core.activity(tx, activity_id)
            fired = activity.status in TIMER_STATUSES and bool(self.performer.fire_due_timers(
                tx, activity, core.template(activity), now, room_id=room_id))
        if fired:
            core.notify(activity_id)

    def _today(self, activity_id: str, now: int) -> str:
        # Daily limits make "me" and room views change at local midnight.
        tz = self.core.timezones.get(activity_id)
        if tz is None:
            with self.core.store.transaction(write=False) as tx:
                tz = self.core.activity(tx, activity_id).timezone
            self.core.timezones[activity_id] = tz
        return local_date(now, tz).replace("-", "")

    def _activity_etag(self, activity_id: str) -> str | None:
        with self.core.store.transaction(write=False) as tx:
            row = tx.get_activity_version(activity_id)
        if row is None:
            return None  # the full view raises the 404
        version, status, starts_at, ends_at = row
        now = self.core.now()
        if due_change(status, starts_at, ends_at, now):
            return None
        return f'"a{version}.{self._today(activity_id, now)}"'

    # activity ------------------------------------------------------------------------------

    def public_view(self, activity_id: str, if_none_match: str | None = None, wait: float = 0,
                    lang: str = "en") -> ViewResponse:
        return self._poll(activity_id, if_none_match, wait,
                          lambda: self._activity_etag(activity_id),
                          lambda: self._public(activity_id, lang))

    def _public(self, activity_id: str, lang: str) -> ViewResponse:
        activity = self.lifecycle.fresh(activity_id)
        entry = self.core.entry(activity)
        template = entry.compiled
        now = self.core.now()
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
            "heartbeat_interval": self.core.settings.heartbeat_interval,
        }
        return ViewResponse(f'"a{activity.version}.{self._today(activity_id, self.core.now())}"',
                            body)

    def preview(self, merchant: Merchant, activity_id: str, lang: str = "en") -> dict[str, Any]:
        """What a participant's client shows of the activity: the public view once published;
        for a draft, the template's activity view rendered on its initial state."""
        with self.core.store.transaction(write=False) as tx:
            activity = self.core.activity(tx, activity_id, merchant)
        if activity.status != "draft":
            body = self.public_view(activity_id, lang=lang).body
            assert body is not None  # no If-None-Match: always the full view
            return dict(body["view"])
        now = self.core.now()
        template = self.core.template(activity)
        state = initial_activity_state(template, activity.config, now, activity.timezone)
        snapshot = Snapshot(activity.id, activity.config, state, None, None, activity.timezone)
        return render_view(template, "activity", snapshot, Actor(""), now)

    # room ----------------------------------------------------------------------------------

    def room_view(self, activity_id: str, room_id: str, participant: Participant,
                  if_none_match: str | None = None, wait: float = 0) -> ViewResponse:
        return self._poll(activity_id, if_none_match, wait,
                          lambda: self._room_etag_now(activity_id, room_id, participant),
                          lambda: self._room(activity_id, room_id, participant))

    def _room_etag_now(self, activity_id: str, room_id: str,
                       participant: Participant) -> str | None:
        now = self.core.now()
        with self.core.store.transaction(write=False) as tx:
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

    def _room(self, activity_id: str, room_id: str, participant: Participant) -> ViewResponse:
        core = self.core
        self.lifecycle.fresh(activity_id)
        self._fire_room(activity_id, room_id)
        now = core.now()
        with core.store.transaction(write=False) as tx:
            activity = core.activity(tx, activity_id)
            stored = tx.get_room(activity_id, room_id)
            record = tx.get_participant(activity_id, participant.id)
        if stored is None:
            raise RoomNotFound()
        snap = Snapshot(activity.id, activity.config, activity.state or {},
                        record.state if record else None, to_rules(stored.room),
                        activity.timezone)
        view = render_view(core.template(activity), "room", snap, Actor(participant.id), now)
        body = {"id": room_id, "activity_id": activity_id, "status": stored.room.status,
                "view": view}
        etag = self._room_etag(activity.version, stored.version,
                               record.version if record else 0, activity_id, now)
        return ViewResponse(etag, body)

    def _room_etag(self, activity_version: int, room_version: int, mine: int, activity_id: str,
                   now: int) -> str:
        return f'"r{activity_version}.{room_version}.{mine}.{self._today(activity_id, now)}"'

    # me ------------------------------------------------------------------------------------

    def me_view(self, activity_id: str, participant: Participant,
                if_none_match: str | None = None, wait: float = 0) -> ViewResponse:
        return self._poll(activity_id, if_none_match, wait,
                          lambda: self._me_etag(activity_id, participant),
                          lambda: self._me(activity_id, participant))

    def _me_etag(self, activity_id: str, participant: Participant) -> str | None:
        now = self.core.now()
        with self.core.store.transaction(write=False) as tx:
            row = tx.get_activity_version(activity_id)
            mine = tx.get_participant_version(activity_id, participant.id) or 0
        if row is None:
            return None
        version, status, starts_at, ends_at = row
        if due_change(status, starts_at, ends_at, now):
            return None
        return f'"m{version}.{mine}.{self._today(activity_id, now)}"'

    def _me(self, activity_id: str, participant: Participant) -> ViewResponse:
        core = self.core
        self.lifecycle.fresh(activity_id)
        now = core.now()
        with core.store.transaction(write=False) as tx:
            activity = core.activity(tx, activity_id)
            record = tx.get_participant(activity_id, participant.id)
            rooms = tx.rooms_of(activity_id, participant.id)
        snap = Snapshot(activity.id, activity.config, activity.state or {},
                        record.state if record else None, None, activity.timezone)
        view = render_view(core.template(activity), "me", snap, Actor(participant.id), now) \
            if activity.status != "draft" else {}
        body = {"activity_id": activity_id, "participant": participant.id, "view": view,
                "rooms": rooms}
        mine = record.version if record else 0
        return ViewResponse(f'"m{activity.version}.{mine}.{self._today(activity_id, now)}"',
                            body)
