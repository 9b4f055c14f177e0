"""The merchant's events: what each activity emitted and how its webhook delivery went.

`GET /v1/merchant/activities/{id}/events` lists an activity's events in order with their
delivery state (`pending`, `delivered`, `dead`); `POST …/events/{event_id}/redeliver` sends a
delivered or dead event again. Every route needs the merchant's API key; another merchant's
activity answers like a missing one.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from magic_cube.api.auth import current_merchant
from magic_cube.api.codes import status_of
from magic_cube.api.context import get_engine
from magic_cube.api.parsing import Blueprint
from magic_cube.api.responses import documents_errors
from magic_cube.api.schemas import ErrorSchema, timestamp
from magic_cube.api.times import iso_times
from magic_cube.engine.events import (
    EVENT_STATUSES,
    EventNotFound,
    EventPending,
    list_events,
    redeliver_event,
)

blp = Blueprint("events", __name__, url_prefix="/v1/merchant",
                description="For merchant backends: the events each activity emitted, their "
                            "webhook delivery, and redelivery. Authenticated by an API key.")

MERCHANT = [{"apiKey": []}]


class EventQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(EVENT_STATUSES), metadata={
        "description": "Only events in this delivery state"})
    after = fields.Integer(load_default=0, validate=validate.Range(min=0), metadata={
        "description": "Return events after this id (`next_cursor`)"})
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 200))


class EventSchema(Schema):
    """An event and its webhook delivery."""

    id = fields.Integer(required=True, metadata={
        "description": "The event id, also sent as `Magic-Cube-Event-Id`; increases in order"})
    type = fields.String(required=True, metadata={"example": "group.succeeded"})
    activity_id = fields.String(required=True)
    seq = fields.Integer(required=True, metadata={
        "description": "The action that emitted it (its position in the action log)"})
    data = fields.Dict(required=True, metadata={"description": "What the template emitted"})
    created_at = timestamp("When the action happened", required=True)
    status = fields.String(required=True, validate=validate.OneOf(EVENT_STATUSES), metadata={
        "description": "`pending` (not yet delivered; retried until delivered or dead), "
                       "`delivered` (the receiver answered 2xx) or `dead` (every attempt failed)"})
    attempts = fields.Integer(required=True, metadata={"description": "Attempts made so far"})
    next_attempt_at = timestamp("For a pending event: when it is next tried", required=True)
    delivered_at = timestamp("When the receiver accepted it", required=True)
    dead_at = timestamp("When it was given up", required=True)
    last_error = fields.String(required=True, allow_none=True, metadata={
        "description": "What went wrong with the last failed attempt"})


class EventPageSchema(Schema):
    items = fields.List(fields.Nested(EventSchema), required=True)
    next_cursor = fields.Integer(required=True, allow_none=True)


def _documents(*errors: str | type) -> Any:
    """`documents_errors` for codes of the API's table (str) and this module's own (classes,
    defined with the engine's events rather than in engine/errors.py), one entry per status."""
    by_status: dict[int, list[str]] = defaultdict(list)
    for error in errors:
        code, status = (error, status_of(error)) if isinstance(error, str) \
            else (error.code, error.status)
        by_status[status].append(code)

    def decorator(func: Any) -> Any:
        for status, codes in sorted(by_status.items()):
            func = blp.alt_response(status, schema=ErrorSchema,
                                    description=", ".join(f"`{c}`" for c in codes))(func)
        return func
    return decorator


@blp.before_request
def require_merchant() -> None:
    current_merchant()  # 401 `unauthorized` before anything else


@blp.route("/activities/<activity_id>/events")
class Events(MethodView):
    @blp.doc(security=MERCHANT)
    @blp.arguments(EventQuerySchema(), location="query")
    @blp.response(200, EventPageSchema)
    @documents_errors(blp, "unauthorized", "activity_not_found", "validation_error")
    def get(self, query: dict[str, Any], activity_id: str) -> Any:
        """The activity's events in order, with their webhook delivery state"""
        items, cursor = list_events(get_engine(), current_merchant(), activity_id,
                                    status=query.get("status"), after=query["after"],
                                    limit=query["limit"])
        return {"items": iso_times(items), "next_cursor": cursor}


@blp.route("/activities/<activity_id>/events/<int:event_id>/redeliver")
class Redeliver(MethodView):
    @blp.doc(security=MERCHANT)
    @blp.response(200, EventSchema)
    @_documents("unauthorized", "activity_not_found", EventNotFound, EventPending)
    def post(self, activity_id: str, event_id: int) -> Any:
        """Send a delivered or dead event again (it becomes pending, with no attempts counted);
        later pending events of the activity wait until it is delivered or dead"""
        return iso_times(redeliver_event(get_engine(), current_merchant(), activity_id,
                                         event_id))
