"""What every part of the engine shares: the store, the catalog, the settings and the clock,
the notifier that wakes long polls, and the few answers kept per process.

`Core` holds no behaviour of its own beyond looking up an activity and its pinned template;
each part of the engine (accounts, lifecycle, actions, views, results, events) takes it in its
constructor, with the other parts it calls, so that every dependency is visible.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable

from magic_cube.catalog import Catalog, TemplateEntry
from magic_cube.engine.errors import ActivityNotFound
from magic_cube.rules.compiler import CompiledTemplate
from magic_cube.settings import Settings
from magic_cube.store import Store, Tx
from magic_cube.store.records import ActivityRecord, Merchant


def new_id(prefix: str) -> str:
    """`prefix_` + milliseconds (hex) + randomness: unguessable, and sorted by creation time
    so that listings page by id in the order things were made."""
    return f"{prefix}_{time.time_ns() // 1_000_000:011x}{secrets.token_hex(6)}"


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


class Core:
    def __init__(self, store: Store, catalog: Catalog, settings: Settings,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.catalog = catalog
        self.settings = settings
        self.clock = clock
        self.notifier = Notifier()
        # Kept because they never change once set, and every poll or participant request
        # would otherwise spend a transaction on them.
        self.timezones: dict[str, str] = {}  # activity -> time zone (fixed once live)
        self.secrets: dict[str, str] = {}  # activity -> its merchant's participant secret

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
        return self.catalog.get_pinned(activity.template_id, activity.template_version,
                                       activity.template_hash)

    def template(self, activity: ActivityRecord) -> CompiledTemplate:
        return self.entry(activity).compiled
