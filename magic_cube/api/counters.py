"""Rate-limit counters kept in this process: what `rate_limit_storage=memory://` means.

The `limits` library's own memory storage expires entries from a timer that fires every 10 ms
while any key exists and walks every key each time, starting a new timer thread (a greenlet
under gevent) whenever the last one ended. With a festival's thousands of participants counted
per minute, that walk and those starts cost more than the counting: a lottery draw spent more
time in the limiter than in its own transaction. Here a key's old entries go when the key is
next counted, and keys nobody counted again are swept inline, at most once a minute.

It implements what the moving window (the participant and IP limits, the challenge counts)
and the challenges' spent-solution counters use.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from limits.storage import MovingWindowSupport, Storage

SCHEME = "magic-cube-memory"
SWEEP_SECONDS = 60.0


def storage_uri(setting: str) -> str:
    """The `limits` storage URI for the `rate_limit_storage` setting: `memory://` is ours."""
    return f"{SCHEME}://" if setting.startswith("memory://") else setting


class ProcessCounters(Storage, MovingWindowSupport):
    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False,
                 **options: float | str | bool) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        # Moving windows: key -> (times of its entries, oldest first; the window's seconds).
        self._events: dict[str, tuple[deque[float], float]] = {}
        # Fixed counters: key -> [count, when it expires].
        self._counts: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self._swept = time.time()

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return ValueError

    # moving window --------------------------------------------------------------------------

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        return self.acquire_counted(key, limit, expiry, amount)[0]

    def acquire_counted(self, key: str, limit: int, expiry: int, amount: int = 1
                        ) -> tuple[bool, float, int]:
        """`acquire_entry`, and the window as `get_moving_window` would tell it next (what a
        request's X-RateLimit headers describe): one look at the key, not two."""
        now = time.time()
        with self._lock:
            if now - self._swept > SWEEP_SECONDS:
                self._sweep(now)
            found = self._events.get(key)
            if found is None:
                found = self._events[key] = (deque(), float(expiry))
            events = found[0]
            _drop_before(events, now - expiry)
            acquired = amount <= limit and len(events) + amount <= limit
            if acquired:
                events.extend([now] * amount)
            return acquired, (events[0] if events else now), len(events)

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        """(when the oldest entry still in the window was made, how many are in it)."""
        now = time.time()
        with self._lock:
            found = self._events.get(key)
            if found is None:
                return now, 0
            events = found[0]
            _drop_before(events, now - expiry)
            return (events[0], len(events)) if events else (now, 0)

    # fixed counters -------------------------------------------------------------------------

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        with self._lock:
            found = self._counts.get(key)
            if found is None or found[1] <= now:
                found = self._counts[key] = [0, now + expiry]
            found[0] += amount
            return int(found[0])

    def get(self, key: str) -> int:
        found = self._counts.get(key)
        return int(found[0]) if found is not None and found[1] > time.time() else 0

    def get_expiry(self, key: str) -> float:
        found = self._counts.get(key)
        return found[1] if found is not None else time.time()

    # the rest of a storage ------------------------------------------------------------------

    def check(self) -> bool:
        return True

    def clear(self, key: str) -> None:
        with self._lock:
            self._events.pop(key, None)
            self._counts.pop(key, None)

    def reset(self) -> int | None:
        with self._lock:
            n = len(self._events) + len(self._counts)
            self._events.clear()
            self._counts.clear()
            return n

    def keys(self) -> set[str]:
        """The keys counted now (moving windows and counters alike)."""
        with self._lock:
            return set(self._events) | set(self._counts)

    def _sweep(self, now: float) -> None:
        """Forget the keys whose every entry is out of its window, and expired counters."""
        self._swept = now
        for key in [k for k, (events, window) in self._events.items()
                    if not events or events[-1] < now - window]:
            del self._events[key]
        for key in [k for k, (_, expires) in self._counts.items() if expires <= now]:
            del self._counts[key]


def _drop_before(events: deque[float], cutoff: float) -> None:
    while events and events[0] < cutoff:
        events.popleft()
