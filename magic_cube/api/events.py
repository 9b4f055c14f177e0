"""The merchant's events: what each activity emitted and how its webhook delivery went.

`GET /v1/merchant/activities/{id}/events` lists an activity's events in order with their
delivery state (`pending`, `delivered`, `dead`); `POST …/events/{event_id}/redeliver` sends a
delivered or dead event again. Every route needs the merchant's API key; another merchant's
activity answers like a missing one.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from magic_cube.api.auth import current_merchant
from magic_cube.api.context import get_engine
from magic_cube.api.parsing import Blueprint
from magic_cube.api.responses import documents_errors
from magic_cube.api.schemas import CURSOR, QueryInteger, timestamp
from magic_cube.api.times import iso_times
from magic_cube.engine.events import EVENT_STATUSES

blp = Blueprint("events", __name__, url_prefix="/v1/merchant",
                description="For merchant backends: the events each activity emitted, their "
                            "webhook delivery, and redelivery. Authenticated by an API key.")

MERCHANT: list[dict[str, list[str]]] = [{"apiKey": []}]


class EventQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(EVENT_STATUSES), metadata={
        "description": "Only events in this delivery state"})
    after = QueryInteger(load_default=0, validate=CURSOR, metadata={
        "description": "Return events after this id (`next_cursor`)"})
    limit = QueryInteger(load_default=100, validate=validate.Range(1, 200))


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
        items, cursor = get_engine().list_events(
            current_merchant(), activity_id, status=query.get("status"), after=query["after"],
            limit=query["limit"])
        return {"items": iso_times(items), "next_cursor": cursor}


@blp.route("/activities/<activity_id>/events/<int:event_id>/redeliver")
class Redeliver(MethodView):
    @blp.doc(security=MERCHANT)
    @blp.response(200, EventSchema)
    @documents_errors(blp, "unauthorized", "activity_not_found", "event_not_found",
                      "event_pending")
    def post(self, activity_id: str, event_id: int) -> Any:
        """Send a delivered or dead event again (it becomes pending, with no attempts counted);
        later pending events of the activity wait until it is delivered or dead"""
        return iso_times(get_engine().redeliver_event(current_merchant(), activity_id,
                                                      event_id))
