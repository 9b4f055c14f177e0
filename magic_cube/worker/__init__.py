"""The background worker: timers at their time, webhooks from the outbox.

`Worker(engine).run_once()` does one pass — activities with due work first (scheduled starts
and ends, room expiries and every other room timer), then webhook deliveries — and returns
what it did. `run_forever(stop_event)` repeats passes, sleeping `worker_interval` seconds
whenever a pass found nothing more to do, until `stop_event` is set; the pass under way
finishes first.

Any number of workers may run at once, in one process or many, against the same database:
timers are applied inside write transactions that re-check what is due, and webhook events
are claimed with a lease (see `webhooks`), so no work is done twice and none is lost.
Nothing depends on a worker for correctness: the engine applies due work lazily too.
"""

from __future__ import annotations

import logging
import random
import threading
import time

import requests

from magic_cube import metrics
from magic_cube.engine import Engine
from magic_cube.worker.timers import run_timers
from magic_cube.worker.webhooks import Deliverer

__all__ = ["Worker"]

log = logging.getLogger(__name__)

QUEUE_EVERY = 10  # seconds between counts of the webhook queue


class Worker:
    def __init__(self, engine: Engine, interval: float | None = None, batch: int | None = None,
                 session: requests.Session | None = None,
                 rng: random.Random | None = None) -> None:
        self.engine = engine
        settings = engine.settings
        self.interval = float(settings.worker_interval if interval is None else interval)
        self.batch = int(settings.worker_batch if batch is None else batch)
        self.webhooks = Deliverer(engine, session=session, rng=rng)
        self._stop = threading.Event()
        self._purged_at = 0  # when expired Idempotency-Keys were last forgotten
        self._counted_at: int | None = None  # when the webhook queue was last measured

    def run_once(self, now: int | None = None) -> dict[str, int]:
        """One pass at `now` (default: the engine's clock, read afresh as the pass goes).

        Returns counts: `activities` handled, room `timers` fired, activities `started` and
        `ended`, webhook events `delivered`, `failed` (retry scheduled) and `dead`, `errors`,
        and `expired_keys` (Idempotency-Keys past their time, forgotten)."""
        def clock() -> int:
            return int(now) if now is not None else self.engine.now()

        counts = run_timers(self.engine, clock(), self.batch, self.stopping)
        counts.update(self.webhooks.run(clock, self.batch, self.stopping))
        counts["expired_keys"] = self.purge_keys(clock())
        self.measure_queue(clock())
        if any(counts.values()):
            log.info("worker pass: %s", ", ".join(f"{k} {v}" for k, v in counts.items() if v))
        return counts

    def purge_keys(self, now: int) -> int:
        """Forget Idempotency-Keys older than `idempotency_ttl`, and failed console logins
        that no longer count (at most once a minute). Returns how many keys."""
        if now - self._purged_at < 60:
            return 0
        self._purged_at = now
        self.engine.purge_login_failures(now)
        return self.engine.purge_idempotency_keys(now)

    def measure_queue(self, now: int) -> None:
        """Set the webhook queue depth gauge (at most every `QUEUE_EVERY` seconds: a count of
        a long backlog is not free, and scrapes come seldom)."""
        if self._counted_at is not None and now - self._counted_at < QUEUE_EVERY:
            return
        self._counted_at = now
        metrics.set_webhook_queue_depth(self.engine.pending_webhooks())

    def busy(self, counts: dict[str, int]) -> bool:
        """Whether a pass stopped at its batch limit, so that more work is probably waiting."""
        return (counts.get("activities", 0) >= self.batch
                or counts.get("delivered", 0) + counts.get("failed", 0)
                + counts.get("dead", 0) >= self.batch)

    def stopping(self) -> bool:
        return self._stop.is_set()

    def run_forever(self, stop_event: threading.Event | None = None) -> None:
        """Passes until `stop_event` is set (or `stop()` is called). Stopping is graceful: the
        pass under way ends at its next safe point — after the activity being handled, after
        the webhook requests in flight are answered and recorded — and nothing is half done.
        An error in a pass is logged, and the next pass comes after the interval."""
        if stop_event is not None:
            self._stop = stop_event
        stop = self._stop
        log.info("worker started (interval %g s, batch %d)", self.interval, self.batch)
        try:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    counts = self.run_once()
                except Exception:
                    log.exception("worker pass failed")
                    counts = {}
                if stop.is_set():
                    break
                if not self.busy(counts):
                    stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
        finally:
            self.webhooks.close()
            log.info("worker stopped")

    def stop(self) -> None:
        """Ask `run_forever` and the pass under way to stop soon (safe from a signal handler)."""
        self._stop.set()

    def close(self) -> None:
        self.webhooks.close()
