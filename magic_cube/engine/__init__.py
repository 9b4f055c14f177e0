"""The engine: the only place that opens a transaction.

`Engine` combines merchant identity, activity lifecycle, actions, polling views and stats over
one `Store` and one template `Catalog`. Time comes from its clock (the server's), never from
a client.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from magic_cube.catalog import Catalog
from magic_cube.engine.actions import ActionResponse, ActionsMixin
from magic_cube.engine.errors import EngineError
from magic_cube.engine.events import EventsMixin
from magic_cube.engine.identity import IdentityMixin, Participant
from magic_cube.engine.lifecycle import LifecycleMixin
from magic_cube.engine.stats import StatsMixin
from magic_cube.engine.views import Notifier, ViewResponse, ViewsMixin
from magic_cube.settings import Settings
from magic_cube.store import Store

__all__ = ["ActionResponse", "Engine", "EngineError", "Participant", "ViewResponse"]


class Engine(IdentityMixin, LifecycleMixin, ActionsMixin, ViewsMixin, StatsMixin, EventsMixin):
    def __init__(self, store: Store, catalog: Catalog, settings: Settings | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.catalog = catalog
        self.settings = settings or Settings.load()
        self.clock = clock
        self.notifier = Notifier()
        self._timezones: dict[str, str] = {}  # activity -> time zone (never changes once live)
        self._secrets: dict[str, str] = {}  # activity -> its merchant's participant secret

    def now(self) -> int:
        """Server time in whole epoch seconds."""
        return int(self.clock())
