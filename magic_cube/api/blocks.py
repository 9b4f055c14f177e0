"""Blocklists, anomaly flags and voids of an activity, for merchant backends.

`/v1/merchant/activities/{id}/blocks` lists, adds (`POST`) and lifts (`DELETE ?kind=&value=`)
blocks; `/flags` reads the anomaly flags and the review list; `/voids` voids a participant's
results (engine/blocks.py, engine/flags.py).
"""

from __future__ import annotations

import re
from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from magic_cube.api.auth import current_merchant
from magic_cube.api.context import get_engine
from magic_cube.api.parsing import Blueprint
from magic_cube.api.responses import documents_errors
from magic_cube.api.schemas import DEVICE, PARTICIPANT_ID
from magic_cube.api.times import iso_times
from magic_cube.engine.accounts import MAX_PARTICIPANT_ID
from magic_cube.engine.blocks import KINDS, OUTCOMES
from magic_cube.engine.flags import KINDS as FLAG_KINDS

blp = Blueprint("blocks", __name__, url_prefix="/v1/merchant",
                description="For merchant backends: block participants or devices in an "
                            "activity, read its anomaly flags, void a participant's results. "
                            "Authenticated by an API key.")

MERCHANT: list[dict[str, list[str]]] = [{"apiKey": []}]
BODY = ("invalid_json", "payload_too_large", "validation_error")
MAX_VALUE = MAX_PARTICIPANT_ID  # a participant id's longest; a device id is at most 64
DEVICE_ID = re.compile(DEVICE)  # the console checks a device id as clients send one


@blp.before_request
def require_merchant() -> None:
    current_merchant()  # 401 `unauthorized` before any body is read


class BlockKeySchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(KINDS), metadata={
        "description": "`participant` (your user id) or `device` (a `Magic-Cube-Device` id)"})
    value = fields.String(required=True, validate=PARTICIPANT_ID,
                          metadata={"description": "The participant id or the device id (a "
                                                   "value no client sends never matches)"})


class BlockRequestSchema(BlockKeySchema):
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES), metadata={
        "description": "`refused`: every action answers 403 `participant_blocked`; "
                       "`never_wins`: actions go through, but every draw misses"})


class BlockSchema(BlockRequestSchema):
    reason = fields.String(required=True, metadata={
        "description": "`void` for the block a void leaves, else empty"})
    created_at = fields.String(required=True, metadata={"format": "date-time"})


class BlockListSchema(Schema):
    items = fields.List(fields.Nested(BlockSchema), required=True)


class FlagSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(FLAG_KINDS))
    subject = fields.String(required=True, metadata={
        "description": "The inviter, device, address or participant the flag is about"})
    participants = fields.List(fields.String(), required=True)
    count = fields.Integer(required=True, metadata={
        "description": "Invitees in the burst, participants on the device or address, or "
                       "rooms helped"})
    started_at = fields.String(allow_none=True, metadata={"format": "date-time"})


class ReviewSchema(Schema):
    participant = fields.String(required=True)
    flags = fields.List(fields.String(validate=validate.OneOf(FLAG_KINDS)), required=True)
    blocked = fields.String(allow_none=True, required=True, metadata={
        "description": "The outcome of the participant's block, or null"})
    voided = fields.Boolean(required=True)


class FlagsSchema(Schema):
    flags = fields.List(fields.Nested(FlagSchema), required=True)
    review = fields.List(fields.Nested(ReviewSchema), required=True)
    thresholds = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class VoidRequestSchema(Schema):
    participant = fields.String(required=True, validate=PARTICIPANT_ID)


class VoidSchema(Schema):
    participant = fields.String(required=True)
    codes_voided = fields.Integer(required=True, metadata={
        "description": "Unredeemed codes that can no longer be redeemed"})
    actions = fields.List(fields.String(), required=True, metadata={
        "description": "The template's void actions that ran (e.g. prizes back to stock)"})
    seq = fields.Integer(required=True, metadata={"description": "The `$void` log entry"})


@blp.route("/activities/<activity_id>/blocks")
class Blocks(MethodView):
    @blp.doc(security=MERCHANT)
    @blp.response(200, BlockListSchema)
    @documents_errors(blp, "unauthorized", "activity_not_found")
    def get(self, activity_id: str) -> Any:
        """The activity's blocks, newest first"""
        return {"items": iso_times(get_engine().blocks.list(current_merchant(), activity_id))}

    @blp.doc(security=MERCHANT)
    @blp.arguments(BlockRequestSchema())
    @blp.response(201, BlockSchema)
    @documents_errors(blp, "unauthorized", "activity_not_found", *BODY, "invalid_transition")
    def post(self, body: dict[str, Any], activity_id: str) -> Any:
        """Block a participant or a device (again: change its outcome)"""
        return iso_times(get_engine().blocks.block(current_merchant(), activity_id,
                                                   body["kind"], body["value"], body["outcome"]))

    @blp.doc(security=MERCHANT)
    @blp.arguments(BlockKeySchema(), location="query")
    @blp.response(204)
    @documents_errors(blp, "unauthorized", "activity_not_found", "validation_error",
                      "block_not_found", "invalid_transition")
    def delete(self, query: dict[str, Any], activity_id: str) -> Any:
        """Lift a block"""
        get_engine().blocks.unblock(current_merchant(), activity_id, query["kind"],
                                    query["value"])
        return None


@blp.route("/activities/<activity_id>/flags")
class Flags(MethodView):
    @blp.doc(security=MERCHANT)
    @blp.response(200, FlagsSchema)
    @documents_errors(blp, "unauthorized", "activity_not_found")
    def get(self, activity_id: str) -> Any:
        """Anomaly flags, the review list of flagged participants, and the thresholds"""
        return iso_times(get_engine().flags.flags(current_merchant(), activity_id))


@blp.route("/activities/<activity_id>/voids")
class Voids(MethodView):
    @blp.doc(security=MERCHANT)
    @blp.arguments(VoidRequestSchema())
    @blp.response(200, VoidSchema)
    @documents_errors(blp, "unauthorized", "activity_not_found", *BODY, "invalid_transition",
                      "participant_not_found", "already_voided", "void_refused")
    def post(self, body: dict[str, Any], activity_id: str) -> Any:
        """Void a participant's results: prizes back, codes void, blocked, webhook sent"""
        return get_engine().blocks.void(current_merchant(), activity_id, body["participant"])
