"""What participants poll: the activity, a room, their own state — with cheap revalidation.

Each view's ETag is built from version counters that change only when that view can change,
so `If-None-Match` is answered from a few indexed columns in a read transaction (no write
path, no template evaluation). The local date is part of a view's ETag only when the view
shows something that a new day changes (a daily variable, `today`, `now`): a poll held across
midnight on any other view is not woken by the date.

`wait` holds a poll until the ETag changes: writes in this process wake waiters (coalesced per
activity, see `Notifier`); writes by other processes are seen at the next database check. The
public view is the same for every poller: the polls a broadcast wakes share one ETag read and
one rendered (and, in the API, serialised) body.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from magic_cube.catalog.tables import view_row_names
from magic_cube.engine.accounts import Participant
from magic_cube.engine.core import Core
from magic_cube.engine.errors import RoomNotFound
from magic_cube.engine.fulfilment import own_code
from magic_cube.engine.lifecycle import TIMER_STATUSES, Lifecycle, due_change
from magic_cube.engine.performer import Performer
from magic_cube.engine.rooms import to_rules
from magic_cube.rules.compiler import CompiledTemplate
from magic_cube.rules.days import local_date
from magic_cube.rules.interpreter import initial_activity_state, render_view
from magic_cube.rules.jsonlogic.introspect import var_paths
from magic_cube.rules.model import Actor, Snapshot
from magic_cube.store.records import ActivityRecord, Merchant


def whose(participant: Participant) -> str:
    """The participant's part of a view's ETag: a room or `me` looks different to each
    participant, so a tag one was given must never earn another a 304 (two new participants
    of an activity have the same version counters). A digest, as an id may hold any
    character."""
    return hashlib.blake2s(participant.id.encode(), digest_size=8).hexdigest()


SCOPE_STATE = {"activity": ("activity",), "me": ("activity", "participant"),
               "room": ("activity", "participant")}  # whose daily variables a view may show
HEADS = {"activity": "activity", "participant": "me"}  # how expressions name those scopes


def public_actions(doc: dict[str, Any], template: CompiledTemplate,
                   lang: str) -> list[dict[str, Any]]:
    """The participant actions as a client lists them; one that takes params carries their
    schema as the template declares it (labels in both languages), so that a mini-program can
    build its form without knowing the template."""
    out = []
    for a in template.actions.values():
        if a.by != "participant":
            continue
        action: dict[str, Any] = {"name": a.name, "title": a.title.get(lang) or a.title.get("en"),
                                  "room": a.room}
        params = ((doc.get("actions") or {}).get(a.name) or {}).get("params")
        if isinstance(params, dict) and params.get("properties"):
            action["params"] = params
        out.append(action)
    return out


@dataclass
class ViewResponse:
    etag: str
    body: dict[str, Any] | None  # None: not modified
    # The body as the API sends it, kept on the view once made: a cached view shared by many
    # polls is serialised once.
    encoded: bytes | None = None

    @property
    def status(self) -> int:
        return 200 if self.body is not None else 304


def _computed_var(rule: Any) -> bool:
    """Whether `rule` reads a path it computes (`var`, `val`, `exists` with an expression for
    a key), which could name anything."""
    stack = [rule]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            for op in ("var", "val", "exists"):
                keys = node.get(op)
                keys = keys if isinstance(keys, list) else [keys]
                if op == "var":
                    keys = keys[:1]
                elif keys and isinstance(keys[0], list) and op == "val":
                    keys = keys[1:]  # `[n]` first: how many scopes up, not a key
                if any(isinstance(k, dict) for k in keys) or (
                        op == "var" and keys and isinstance(keys[0], list)):
                    return True
            stack.extend(node.values())
    return False


def shows_the_day(template: CompiledTemplate, scope: str) -> bool:
    """Whether the `scope` view can change with the local date alone: it reads `today` or
    `now`, a variable that resets (daily, weekly, monthly), a whole scope that has one, or a
    computed path."""
    # Daily, weekly and monthly variables all reset at a local midnight.
    daily = {HEADS[s]: {n for n, d in template.state[s].items() if d.reset}
             for s in SCOPE_STATE[scope]}
    for rule in (template.doc.get("views") or {}).get(scope, {}).values():
        if _computed_var(rule):
            return True
        for path in var_paths(rule):
            head, _, rest = path.partition(".")
            name = rest.split(".", 1)[0]
            if head in ("today", "now") or (
                    head in daily and daily[head] and (not name or name in daily[head])):
                return True
    return False


UNREAD = ""  # what `_poll` hands a view when it has not read the ETag (an ETag is never "")


def _current(if_none_match: str, read: Callable[[], str | None],
             render: Callable[[str | None], ViewResponse]) -> ViewResponse:
    """The view from `render` unless `if_none_match` names it (by the ETag `read` gives, or
    else the rendered view's own): then an answer without a body (304) and its ETag."""
    etag = read()
    if etag is None or not _etag_matches(if_none_match, etag):
        view = render(etag)
        if not _etag_matches(if_none_match, view.etag):
            return view
        etag = view.etag  # the poller has this view already: nothing to answer
    return ViewResponse(etag, None)


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
        # Per process: activity -> (time zone, the views whose ETag carries the date). Neither
        # changes once an activity is live (its template is pinned).
        self._days: dict[str, tuple[str, frozenset[str]]] = {}
        # The public view last rendered per (activity, language); the one last published to
        # held polls, and its ETag per activity with (this process's broadcast count, when):
        # what the polls a broadcast wakes share.
        self._public_views: dict[tuple[str, str], ViewResponse] = {}
        self._published_views: dict[tuple[str, str], ViewResponse] = {}  # to held polls
        self._public_etags: dict[str, tuple[int, float, str | None]] = {}
        self._sharing: dict[str, threading.Lock] = {}  # one woken poll reads for the others

    def _poll(self, activity_id: str, if_none_match: str | None, wait: float,
              cheap: Callable[[], str | None],
              full: Callable[[str | None], ViewResponse],
              shared: tuple[Callable[[], str | None], Callable[[str | None], ViewResponse]]
              | None = None,
              ) -> ViewResponse:
        """Answer 304 from `cheap()` (an ETag, or None if the slow path is needed) when it
        matches, else hold up to `wait` seconds for a change, else render `full(etag)`, given
        what `cheap()` read (`UNREAD` when it was not asked).

        `shared` (when given) stands in for both in a held poll (`wait` > 0): the ETag and the
        view published to held polls at the last broadcast, shared by all of them. A held poll
        answered at one broadcast and asked again at once is then held until the next one,
        not answered again for every change in between: each watcher gets at most one answer
        per `poll_wake_interval`. A poll that does not wait always reads its own."""
        if if_none_match is None:
            return full(UNREAD)  # nothing to compare: the view decides what to read
        if wait <= 0:
            return _current(if_none_match, cheap, full)  # (no change to wait for)
        settings, notifier = self.core.settings, self.core.notifier
        deadline = time.monotonic() + min(wait, settings.long_poll_max)
        read, render = shared or (cheap, full)
        while True:
            mark = notifier.mark(activity_id)  # before reading: a change after it wakes us
            answer = _current(if_none_match, read, render)
            left = deadline - time.monotonic()
            if answer.body is not None or left <= 0:
                return answer
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

    def _day(self, activity_id: str, scope: str, now: int) -> str:
        """`.YYYYMMDD` (the local date) for a view whose ETag carries it, else ""."""
        known = self._days.get(activity_id)
        if known is None or activity_id not in self.core.timezones:
            with self.core.store.transaction(write=False) as tx:
                activity = self.core.activity(tx, activity_id)
            template = self.core.template(activity)
            known = (activity.timezone,
                     frozenset(s for s in SCOPE_STATE if shows_the_day(template, s)))
            if len(self._days) >= 100_000:
                self._days.clear()
            self._days[activity_id] = known
            self.core.timezones[activity_id] = activity.timezone  # forgotten on an edit
        timezone, dated = known
        return "." + local_date(now, timezone).replace("-", "") if scope in dated else ""

    def _activity_etag(self, activity_id: str) -> str | None:
        row = self.core.store.activity_version(activity_id)
        if row is None:
            return None  # the full view raises the 404
        version, status, starts_at, ends_at, next_due = row
        if status in ("draft", "archived"):
            return None  # the full view decides whether participants may see it at all
        now = self.core.now()
        if due_change(status, starts_at, ends_at, now, next_due):
            return None
        return f'"a{version}{self._day(activity_id, "activity", now)}"'

    def _shared_activity_etag(self, activity_id: str) -> str | None:
        """`_activity_etag` as published to held polls: read once per broadcast (and once per
        `long_poll_interval`, for other processes' changes) for all of them."""
        with self._share(activity_id):
            fresh, etag = self._known_public_etag(activity_id)
            if fresh:
                return etag
            published = self.core.notifier.broadcasts(activity_id)
            etag = self._activity_etag(activity_id)
            if len(self._public_etags) >= 100_000:
                self._public_etags.clear()
            self._public_etags[activity_id] = (published, time.monotonic(), etag)
            return etag

    def _share(self, activity_id: str) -> threading.Lock:
        if len(self._sharing) >= 100_000:
            self._sharing.clear()
        return self._sharing.setdefault(activity_id, threading.Lock())

    def _known_public_etag(self, activity_id: str) -> tuple[bool, str | None]:
        """(still good, ETag) of the read published to held polls: good until this process's
        next broadcast on the activity, and for at most the interval at which held polls look
        for other processes' changes."""
        known = self._public_etags.get(activity_id)
        if known is None or known[0] != self.core.notifier.broadcasts(activity_id) or \
                time.monotonic() - known[1] >= self.core.settings.long_poll_interval:
            return False, None
        return True, known[2]

    # activity ------------------------------------------------------------------------------

    def public_view(self, activity_id: str, if_none_match: str | None = None, wait: float = 0,
                    lang: str = "en") -> ViewResponse:
        return self._poll(activity_id, if_none_match, wait,
                          lambda: self._activity_etag(activity_id),
                          lambda read: self._public(activity_id, lang, read),
                          (lambda: self._shared_activity_etag(activity_id),
                           lambda read: self._public(activity_id, lang, UNREAD, shared=True)))

    def _public(self, activity_id: str, lang: str, read: str | None,
                shared: bool = False) -> ViewResponse:
        """The public view; the one rendered last for this language when its ETag is still
        current (one render, and one serialisation, for every poll of a broadcast). `read`:
        the activity's ETag as `_activity_etag` just read it, or `UNREAD`. `shared`: for a
        woken poll, which may take the ETag its fellows read."""
        if shared:
            with self._share(activity_id):
                view = self._published_views.get((activity_id, lang))
                fresh, etag = self._known_public_etag(activity_id)
                if view is not None and fresh and etag == view.etag:
                    return view  # the ETag just read for woken polls is this view's
                published = self.core.notifier.broadcasts(activity_id)
                view = self._public(activity_id, lang, UNREAD)
                # What held polls are sent is what they are held against, until the next
                # broadcast: else a poll answered with a newer view would be answered again.
                self._public_etags[activity_id] = (published, time.monotonic(), view.etag)
                if len(self._published_views) >= 10_000:
                    self._published_views.clear()
                self._published_views[(activity_id, lang)] = view
                return view
        cached = self._public_views.get((activity_id, lang))
        if cached is not None:
            # Still current by the activity's version alone: the lone version read spares
            # reading and decoding the whole activity. (None: something is due, or the
            # activity is not public: the full read below decides.)
            if (self._activity_etag(activity_id) if read == UNREAD else read) == cached.etag:
                return cached
        activity = self.lifecycle.fresh(activity_id)
        now = self.core.now()
        etag = f'"a{activity.version}{self._day(activity_id, "activity", now)}"'
        if cached is not None and cached.etag == etag:
            return cached
        view = self._render_public(activity, lang, etag)
        if len(self._public_views) >= 10_000:
            self._public_views.clear()
        self._public_views[(activity_id, lang)] = view
        return view

    def _render_public(self, activity: ActivityRecord, lang: str, etag: str) -> ViewResponse:
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
            "actions": public_actions(entry.doc, template, lang),
            "fairness": {"seed_commitment": activity.seed_commitment,
                         "seed": activity.seed if activity.status in ("ended", "archived")
                         else None},
            "heartbeat_interval": self.core.settings.heartbeat_interval,
            "guests": activity.guests,
        }
        return ViewResponse(etag, body)

    def row_names(self, activity_id: str) -> dict[str, list[str]]:
        """For each view key listing a number per row of a config table (stock per prize),
        the rows' names from the activity's config, for a page to name each number. Asked
        only for an activity whose page is shown (a draft's in the merchant's preview)."""
        with self.core.store.transaction(write=False) as tx:
            activity = self.core.activity(tx, activity_id)
        return view_row_names(self.core.entry(activity).doc, activity.config)

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
                          lambda read: self._room(activity_id, room_id, participant))

    def _room_etag_now(self, activity_id: str, room_id: str,
                       participant: Participant) -> str | None:
        now = self.core.now()
        with self.core.store.transaction(write=False) as tx:
            row = tx.get_activity_version(activity_id)
            room = tx.get_room_state_version(activity_id, room_id)
            mine = tx.get_participant_version(activity_id, participant.id) or 0
        if row is None or room is None:
            return None
        version, status, starts_at, ends_at, activity_due = row
        room_version, next_due = room
        if due_change(status, starts_at, ends_at, now, activity_due) or (
                next_due is not None and next_due <= now and status == "live"):
            return None
        return self._room_etag(version, room_version, mine, activity_id, now, participant)

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
                               record.version if record else 0, activity_id, now, participant)
        return ViewResponse(etag, body)

    def _room_etag(self, activity_version: int, room_version: int, mine: int, activity_id: str,
                   now: int, participant: Participant) -> str:
        return (f'"r{activity_version}.{room_version}.{mine}{self._day(activity_id, "room", now)}'
                f'.{whose(participant)}"')

    # me ------------------------------------------------------------------------------------

    def me_view(self, activity_id: str, participant: Participant,
                if_none_match: str | None = None, wait: float = 0) -> ViewResponse:
        return self._poll(activity_id, if_none_match, wait,
                          lambda: self._me_etag(activity_id, participant),
                          lambda read: self._me(activity_id, participant))

    def _me_etag(self, activity_id: str, participant: Participant) -> str | None:
        now = self.core.now()
        with self.core.store.transaction(write=False) as tx:
            row = tx.get_activity_version(activity_id)
            mine = tx.get_participant_version(activity_id, participant.id) or 0
        if row is None:
            return None
        version, status, starts_at, ends_at, next_due = row
        if due_change(status, starts_at, ends_at, now, next_due):
            return None
        return f'"m{version}.{mine}{self._day(activity_id, "me", now)}.{whose(participant)}"'

    def _me(self, activity_id: str, participant: Participant) -> ViewResponse:
        core = self.core
        self.lifecycle.fresh(activity_id)
        now = core.now()
        with core.store.transaction(write=False) as tx:
            activity = core.activity(tx, activity_id)
            record = tx.get_participant(activity_id, participant.id)
            rooms = tx.rooms_of(activity_id, participant.id)
            codes = tx.participant_codes(activity_id, participant.id) \
                if "fulfilment" in core.entry(activity).doc else []
        snap = Snapshot(activity.id, activity.config, activity.state or {},
                        record.state if record else None, None, activity.timezone)
        view = render_view(core.template(activity), "me", snap, Actor(participant.id), now) \
            if activity.status != "draft" else {}
        body = {"activity_id": activity_id, "participant": participant.id, "view": view,
                "rooms": rooms, "codes": [own_code(c) for c in codes]}
        mine = record.version if record else 0
        return ViewResponse(f'"m{activity.version}.{mine}{self._day(activity_id, "me", now)}'
                            f'.{whose(participant)}"',
                            body)
