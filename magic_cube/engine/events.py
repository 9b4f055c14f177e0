"""A merchant's events: what the outbox holds for an activity, its delivery, redelivery.

Every accepted action writes its events to the outbox in the action's own transaction; the
worker (magic_cube/worker) delivers them as webhooks, in order per activity, leasing a batch
with `claim` and recording how each attempt went with `record`. The merchant (API and
console) reads them with their delivery state and sends one again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from magic_cube.engine.core import Core
from magic_cube.engine.errors import EventNotFound, EventPending, InvalidEventStatus
from magic_cube.store.base import ClaimedEvent, OutboxEvent
from magic_cube.store.records import Merchant

EVENT_STATUSES = ("pending", "delivered", "dead")


def event_status(event: OutboxEvent) -> str:
    if event["delivered_at"] is not None:
        return "delivered"
    if event["dead_at"] is not None:
        return "dead"
    return "pending"


def describe_event(event: OutboxEvent) -> dict[str, Any]:
    """The merchant's view of an outbox event and its delivery."""
    return {
        "id": event["id"], "type": event["type"], "activity_id": event["activity_id"],
        "seq": event["seq"], "data": event["data"], "created_at": event["created_at"],
        "status": event_status(event), "attempts": event["attempts"],
        # When it is next tried; while an attempt is in flight, when its lease ends.
        "next_attempt_at": event["next_attempt_at"] if event_status(event) == "pending" else None,
        "delivered_at": event["delivered_at"], "dead_at": event["dead_at"],
        "last_error": event["last_error"],
    }


@dataclass(frozen=True)
class Attempt:
    """How one delivery attempt went: delivered, or failed with when to try again (or dead)."""

    event_id: int
    delivered: bool
    next_attempt_at: int = 0
    error: str = ""
    dead: bool = False


class Events:
    def __init__(self, core: Core) -> None:
        self.core = core

    def page(self, merchant: Merchant, activity_id: str, status: str | None = None,
             after: int = 0, limit: int = 100) -> tuple[list[dict[str, Any]], int | None]:
        """The activity's events in order after id `after`, optionally only those with
        `status`; the cursor is the last id returned when there may be more."""
        if status is not None and status not in EVENT_STATUSES:
            raise InvalidEventStatus(errors={"status": [
                {"code": "enum", "message": InvalidEventStatus.message}]})
        with self.core.store.transaction(write=False) as tx:
            self.core.activity(tx, activity_id, merchant)
            rows = tx.list_events(activity_id, status, after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return [describe_event(r) for r in rows], (rows[-1]["id"] if more and rows else None)

    def redeliver(self, merchant: Merchant, activity_id: str, event_id: int) -> dict[str, Any]:
        """Send a delivered or dead event again: it becomes pending, due now, with no attempts.

        Delivery stays in order per activity, by event id: until it is delivered (or dead
        again), later pending events of the activity wait behind it."""
        now = self.core.now()
        with self.core.store.transaction() as tx:
            self.core.activity(tx, activity_id, merchant)
            if tx.get_event(activity_id, event_id) is None:
                raise EventNotFound()
            if not tx.redeliver(activity_id, event_id, now):
                raise EventPending()
            event = tx.get_event(activity_id, event_id)
        assert event is not None
        return describe_event(event)

    def claim(self, now: int, lease: int, limit: int) -> list[ClaimedEvent]:
        """Lease up to `limit` due events for delivery (at most one per activity in flight),
        in a short transaction of its own: no transaction stays open during HTTP."""
        with self.core.store.transaction() as tx:
            return tx.claim_outbox(now, lease, limit)

    def record(self, attempts: list[Attempt], now: int) -> None:
        """Write how a batch of attempts went, in one transaction."""
        with self.core.store.transaction() as tx:
            for a in attempts:
                if a.delivered:
                    tx.mark_delivered(a.event_id, now)
                else:
                    tx.mark_failed(a.event_id, now, a.next_attempt_at, a.error, a.dead)

