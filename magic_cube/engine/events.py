"""A merchant's events: what the outbox holds for an activity, and redelivering one.

Every accepted action writes its events to the outbox in the action's own transaction; the
worker (magic_cube/worker) delivers them as webhooks, in order per activity. Here the merchant
(API and console) reads them with their delivery state and sends one again.

The functions take the engine, so that the layers above can use them whether or not `Engine`
includes `EventsMixin`; with the mixin they are also `engine.list_events(...)` and
`engine.redeliver_event(...)`.
"""

from __future__ import annotations

from typing import Any

from magic_cube.engine.errors import EventNotFound, EventPending, InvalidEventStatus
from magic_cube.store.records import Merchant

EVENT_STATUSES = ("pending", "delivered", "dead")


def event_status(event: dict[str, Any]) -> str:
    if event["delivered_at"] is not None:
        return "delivered"
    if event["dead_at"] is not None:
        return "dead"
    return "pending"


def describe_event(event: dict[str, Any]) -> dict[str, Any]:
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


def list_events(engine: Any, merchant: Merchant, activity_id: str, status: str | None = None,
                after: int = 0, limit: int = 100) -> tuple[list[dict[str, Any]], int | None]:
    """The activity's events in order after id `after`, optionally only those with `status`;
    the cursor is the last id returned when there may be more."""
    if status is not None and status not in EVENT_STATUSES:
        raise InvalidEventStatus(errors={"status": [{"code": "enum",
                                                     "message": InvalidEventStatus.message}]})
    with engine.store.transaction(write=False) as tx:
        engine._activity(tx, activity_id, merchant)
        rows = tx.list_events(activity_id, status, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return [describe_event(r) for r in rows], (rows[-1]["id"] if more and rows else None)


def redeliver_event(engine: Any, merchant: Merchant, activity_id: str,
                    event_id: int) -> dict[str, Any]:
    """Send a delivered or dead event again: it becomes pending, due now, with no attempts.

    Delivery stays in order per activity, by event id: until it is delivered (or dead again),
    later pending events of the activity wait behind it."""
    now = engine.now()
    with engine.store.transaction() as tx:
        engine._activity(tx, activity_id, merchant)
        if tx.get_event(activity_id, event_id) is None:
            raise EventNotFound()
        if not tx.redeliver(activity_id, event_id, now):
            raise EventPending()
        event = tx.get_event(activity_id, event_id)
    return describe_event(event)


class EventsMixin:
    """The merchant's events (part of `Engine` when included)."""

    def list_events(self, merchant: Merchant, activity_id: str, status: str | None = None,
                    after: int = 0, limit: int = 100) -> tuple[list[dict[str, Any]], int | None]:
        return list_events(self, merchant, activity_id, status, after, limit)

    def redeliver_event(self, merchant: Merchant, activity_id: str,
                        event_id: int) -> dict[str, Any]:
        return redeliver_event(self, merchant, activity_id, event_id)
