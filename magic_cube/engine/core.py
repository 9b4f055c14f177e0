"""What every part of the engine shares: the store, the catalog, the settings and the clock,
the notifier that wakes long polls, and the few answers kept per process.

`Core` holds no behaviour of its own beyond looking up an activity and its pinned template;
each part of the engine (accounts, lifecycle, actions, views, results, events) takes it in its
constructor, with the other parts it calls, so that every dependency is visible.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable

from magic_cube.catalog import Catalog, TemplateEntry, TemplateMismatch, TemplateNotFound
from magic_cube.catalog.catalog import kept_entry
from magic_cube.engine.commits import GroupCommit
from magic_cube.engine.errors import ActivityNotFound
from magic_cube.rules.compiler import CompiledTemplate
from magic_cube.settings import Settings
from magic_cube.store import Store, Tx
from magic_cube.store.records import ActivityRecord, Merchant

log = logging.getLogger(__name__)


def new_id(prefix: str) -> str:
    """`prefix_` + milliseconds (hex) + randomness: unguessable, and sorted by creation time
    so that listings page by id in the order things were made."""
    return f"{prefix}_{time.time_ns() // 1_000_000:011x}{secrets.token_hex(6)}"


class Notifier:
    """Wakes long polls waiting on an activity when this process changes it.

    A festival's hot activity changes many times a second and is watched by thousands: waking
    every held poll on every change would keep the process busy answering them while actions
    wait. So wake-ups are coalesced per activity: the first change after a quiet `interval`
    is broadcast at once (in the caller), later ones at most once per `interval` (a broadcast
    carries every change before it), whether or not anyone waits at that moment: the view
    published to held polls moves at broadcasts (`broadcasts`, see `Views`), so a poll
    answered at one broadcast and asked again is held until the next. A broadcast of many
    waiters runs in a thread of its own (a greenlet under gevent) and wakes them `chunk` at a
    time, spread over `SPREAD` of the interval: the polls it answers (and the polls they send
    again at once) come in small bursts between which actions are served, instead of one burst
    of a thousand that an action would queue behind. `interval` 0 broadcasts every change at
    once, in the caller.

    `mark` moves with every change at once: a poll that read the state before a change and
    waits after it does not sleep through it.
    """

    SPREAD = 0.4  # of the interval, over which one broadcast's wake-ups are spread

    def __init__(self, interval: float = 0.0, chunk: int = 32) -> None:
        self.interval = float(interval)
        self.chunk = max(1, int(chunk))
        self._lock = threading.Lock()
        self._changes: dict[str, int] = {}  # changes per activity
        self._broadcasts: dict[str, int] = {}  # broadcasts per activity
        self._waiters: dict[str, dict[threading.Event, None]] = {}
        self._last: dict[str, float] = {}  # when the activity's last broadcast went out
        self._scheduled: set[str] = set()  # activities with a broadcast to come

    def notify(self, activity_id: str) -> None:
        with self._lock:
            self._changes[activity_id] = self._changes.get(activity_id, 0) + 1
            if activity_id in self._scheduled:
                return  # the broadcast to come carries this change too
            delay = 0.0 if self.interval <= 0 else \
                self._last.get(activity_id, float("-inf")) + self.interval - time.monotonic()
            if delay > 0:
                self._scheduled.add(activity_id)
        if delay > 0:
            timer = threading.Timer(delay, self._broadcast, (activity_id,))
            timer.daemon = True
            timer.start()
            return
        # Published at once (a poll arriving now sees the new mark); a crowd of waiters is
        # woken from a thread of its own, so that this caller (an action) is not held up.
        waiters = self._publish(activity_id)
        if len(waiters) > self.chunk and self.interval > 0:
            wake = threading.Thread(target=self._wake, args=(waiters,), daemon=True)
            wake.start()
        else:
            self._wake(waiters)

    def _broadcast(self, activity_id: str) -> None:
        self._wake(self._publish(activity_id))

    def _publish(self, activity_id: str) -> list[threading.Event]:
        """Count a broadcast; the waiters it wakes."""
        with self._lock:
            self._scheduled.discard(activity_id)
            self._last[activity_id] = time.monotonic()
            self._broadcasts[activity_id] = self._broadcasts.get(activity_id, 0) + 1
            return list(self._waiters.pop(activity_id, ()))

    def _wake(self, waiters: list[threading.Event]) -> None:
        chunks = -(-len(waiters) // self.chunk)
        pause = self.interval * self.SPREAD / chunks if chunks > 1 else 0.0
        for n, event in enumerate(waiters, 1):
            event.set()
            if n % self.chunk == 0 and n < len(waiters) and pause:
                time.sleep(pause)  # the woken answer, and other requests come in, before more

    def mark(self, activity_id: str) -> int:
        """The activity's change count: `wait(…, since=mark)` returns at once if it moved,
        else at the next broadcast."""
        with self._lock:
            return self._changes.get(activity_id, 0)

    def broadcasts(self, activity_id: str) -> int:
        """How many broadcasts this process has made for the activity."""
        return self._broadcasts.get(activity_id, 0)

    def wait(self, activity_id: str, since: int, timeout: float) -> None:
        """Until the next broadcast (at once if a change came after `since`), or `timeout`
        seconds."""
        event = threading.Event()
        with self._lock:
            if self._changes.get(activity_id, 0) != since:
                return
            self._waiters.setdefault(activity_id, {})[event] = None
        try:
            event.wait(timeout)
        finally:
            with self._lock:
                waiting = self._waiters.get(activity_id)
                if waiting is not None:
                    waiting.pop(event, None)
                    if not waiting:
                        del self._waiters[activity_id]


def kept_doc(entry: TemplateEntry) -> tuple[str, str, str, str]:
    """A template's row for `Tx.keep_template_docs`."""
    return (entry.content_hash, entry.id, entry.version,
            json.dumps(entry.doc, ensure_ascii=False))


class Core:
    def __init__(self, store: Store, catalog: Catalog, settings: Settings,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.catalog = catalog
        self.settings = settings
        self.clock = clock
        self.notifier = Notifier(settings.poll_wake_interval)
        self.commits = GroupCommit(store, settings.write_batch)
        # Kept because they never change once set, and every poll or participant request
        # would otherwise spend a transaction on them.
        self.timezones: dict[str, str] = {}  # activity -> time zone (fixed once live)
        self.secrets: dict[str, str] = {}  # activity -> its merchant's participant secret
        self._kept: dict[str, TemplateEntry] = {}  # content hash -> a kept template, compiled

    def now(self) -> int:
        """Server time in whole epoch seconds."""
        return int(self.clock())

    def notify(self, activity_id: str) -> None:
        self.notifier.notify(activity_id)

    def activity(self, tx: Tx, activity_id: str,
                 merchant: Merchant | None = None) -> ActivityRecord:
        """The activity (locked in a write transaction), or `ActivityNotFound`; with `merchant`,
        another merchant's activity answers exactly like a missing one."""
        activity = tx.get_activity(activity_id)
        if activity is None or (merchant is not None and activity.merchant_id != merchant.id):
            raise ActivityNotFound()
        return activity

    def entry(self, activity: ActivityRecord) -> TemplateEntry:
        """The exact template version the activity was created from."""
        return self.pinned(activity.template_id, activity.template_version,
                           activity.template_hash)

    def pinned(self, template_id: str, version: str, content_hash: str) -> TemplateEntry:
        """The template with exactly this content: the installed one, else the document kept
        when it was loaded (migration 12) — an activity keeps its rules when its template is
        edited in place or uninstalled. `TemplateMismatch` only if neither has it."""
        try:
            return self.catalog.get_pinned(template_id, version, content_hash)
        except (TemplateMismatch, TemplateNotFound) as exc:
            kept = self._kept.get(content_hash)
            if kept is not None:
                return kept
            with self.store.transaction(write=False) as tx:
                doc = tx.template_doc(content_hash)
            if doc is None:
                raise exc
            installed = [e for e in self.catalog.entries() if e.id == template_id]
            kept = kept_entry(json.loads(doc), installed[-1].directory if installed else None)
            log.warning("template %s %s has changed or is gone: its activities run on the "
                        "document kept when they were published (hash %s…)", template_id,
                        version, content_hash[:12])
            self._kept[content_hash] = kept
            return kept

    def keep_templates(self) -> None:
        """Keep every installed template's document (once per content), for `pinned`."""
        docs = [kept_doc(e) for e in self.catalog.entries()]
        if docs:
            with self.store.transaction() as tx:
                tx.keep_template_docs(docs, self.now())

    def template(self, activity: ActivityRecord) -> CompiledTemplate:
        return self.entry(activity).compiled
