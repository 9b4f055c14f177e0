"""Timers at their time, whether or not anyone polls.

The engine applies due work lazily (before any action on an activity, before a room or an
activity is shown), so correctness never waits for the worker. The worker makes it happen on
time anyway: webhooks for expired rooms and refunds go out when the room expires, and an
activity starts and ends at its scheduled times even when nobody looks at it.

Each activity with due work is handled by `engine.tick` in its own write transaction through
the same engine code an action takes, so every timer action is logged, counted and written to
the outbox exactly as a lazy one would be. Running several workers is safe: each re-reads what
is due inside its transaction, so a second worker finds nothing left to do, and a lost race on
PostgreSQL is a `Conflict` that rolls back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from magic_cube.engine import ActivityTick, Conflict, Engine

log = logging.getLogger(__name__)

# Rounds of "find due activities, handle them" in one pass: an activity with more due rooms
# than `timer_batch` needs more than one round.
MAX_ROUNDS = 100


def run_timers(engine: Engine, now: int, limit: int,
               stopping: Callable[[], bool] = lambda: False) -> dict[str, int]:
    """Handle up to `limit` activities with due work; counts of what happened."""
    counts = {"activities": 0, "timers": 0, "started": 0, "ended": 0, "errors": 0}
    done: set[str] = set()  # failed, or nothing left to do: not retried in this pass
    for _ in range(MAX_ROUNDS):
        if counts["activities"] >= limit or stopping():
            break
        due = [a for a in engine.due_activities(now, limit + len(done)) if a not in done]
        if not due:
            break
        for activity_id in due[:limit - counts["activities"]]:
            if stopping():
                break
            counts["activities"] += 1
            try:
                tick = engine.tick(activity_id, now)
            except Conflict:
                # Another worker (or an action) changed it meanwhile: it is handled or will be.
                log.info("activity %s changed concurrently; left for the next pass", activity_id)
                done.add(activity_id)
                continue
            except Exception:
                log.exception("timers of activity %s failed", activity_id)
                counts["errors"] += 1
                done.add(activity_id)
                continue
            if tick is None or not tick.changed:
                done.add(activity_id)  # another worker got there first
                continue
            _count(counts, tick)
    return counts


def _count(counts: dict[str, int], tick: ActivityTick) -> None:
    counts["timers"] += tick.fired
    if tick.status_before == "scheduled" and tick.status != "scheduled":
        counts["started"] += 1
        log.info("activity %s started", tick.activity_id)
    if tick.status == "ended" and tick.status_before != "ended":
        counts["ended"] += 1
        log.info("activity %s ended", tick.activity_id)
    if tick.fired:
        log.info("activity %s: %d room timer(s) fired", tick.activity_id, tick.fired)
