"""Timers at their time, whether or not anyone polls.

The engine applies due work lazily (before any action on an activity, before a room or an
activity is shown), so correctness never waits for the worker. The worker makes it happen on
time anyway: webhooks for expired rooms and refunds go out when the room expires, and an
activity starts and ends at its scheduled times even when nobody looks at it.

Each activity with due work is handled in its own write transaction through the same engine
code an action takes (`advance`, then `fire_due_timers` while it is live), so every timer
action is logged, counted and written to the outbox exactly as a lazy one would be. Running
several workers is safe: each re-reads what is due inside its transaction, so a second worker
finds nothing left to do, and a lost race on PostgreSQL is a `Conflict` that rolls back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from magic_cube.engine.lifecycle import TIMER_STATUSES
from magic_cube.store import Conflict

log = logging.getLogger(__name__)

# Rounds of "find due activities, handle them" in one pass: an activity with more due rooms
# than `timer_batch` needs more than one round.
MAX_ROUNDS = 100


@dataclass
class ActivityTick:
    activity_id: str
    status_before: str
    status: str
    fired: int

    @property
    def changed(self) -> bool:
        return self.fired > 0 or self.status != self.status_before


def tick_activity(engine: Any, activity_id: str, now: int) -> ActivityTick | None:
    """Apply whatever is due on one activity at `now`, in one write transaction."""
    with engine.store.transaction() as tx:
        activity = tx.get_activity(activity_id)
        if activity is None:
            return None
        before = activity.status
        engine.advance(tx, activity, now)
        fired = 0
        if activity.status in TIMER_STATUSES:  # as the lazy path
            template = engine._entry(activity).compiled
            fired = engine.fire_due_timers(tx, activity, template, now,
                                           limit=engine.settings.timer_batch)
        tick = ActivityTick(activity_id, before, activity.status, fired)
    if tick.changed:
        engine.notify(activity_id)
    return tick


def run_timers(engine: Any, now: int, limit: int, stopping: Any = lambda: False) -> dict[str, int]:
    """Handle up to `limit` activities with due work; counts of what happened."""
    counts = {"activities": 0, "timers": 0, "started": 0, "ended": 0, "errors": 0}
    done: set[str] = set()  # failed, or nothing left to do: not retried in this pass
    for _ in range(MAX_ROUNDS):
        if counts["activities"] >= limit or stopping():
            break
        with engine.store.transaction(write=False) as tx:
            due = [a for a in tx.due_activity_ids(now, limit + len(done)) if a not in done]
        if not due:
            break
        for activity_id in due[:limit - counts["activities"]]:
            if stopping():
                break
            counts["activities"] += 1
            try:
                tick = tick_activity(engine, activity_id, now)
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
            counts["timers"] += tick.fired
            if tick.status_before == "scheduled" and tick.status != "scheduled":
                counts["started"] += 1
                log.info("activity %s started", activity_id)
            if tick.status == "ended" and tick.status_before != "ended":
                counts["ended"] += 1
                log.info("activity %s ended", activity_id)
            if tick.fired:
                log.info("activity %s: %d room timer(s) fired", activity_id, tick.fired)
    return counts
