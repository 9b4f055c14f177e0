"""Share links and guests, for shopper pages and mini-programs.

A participant asks for a share link (`POST /v1/activities/{id}/share`) and passes it on; a
friend's page or mini-program resolves the code (`GET /v1/shares/{code}`, or the `/j/{code}`
link that redirects to the shopper page) and sends it back as `via` with its actions, so that
the friend's first accepted action names the sharer as their inviter. An activity its merchant
opened to guests lets a page mint a guest token for a nickname (`POST …/guest`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from magic_cube.api.auth import current_participant
from magic_cube.api.context import get_engine
from magic_cube.api.parsing import Blueprint
from magic_cube.api.responses import documents_errors
from magic_cube.api.schemas import DEVICE
from magic_cube.api.times import iso_times
from magic_cube.shopper.urls import share_url, shopper_url

blp = Blueprint("sharing", __name__, url_prefix="/v1",
                description="Share links that measure who brought whom, and guest tokens for "
                            "activities open to guests.")

PARTICIPANT: list[dict[str, list[str]]] = [{"participantToken": []}]
TOKEN_ERRORS = ("invalid_token", "token_expired")
NO_STORE = {"Cache-Control": "no-store"}


class ShareRequestSchema(Schema):
    room = fields.String(allow_none=True, load_default=None, validate=validate.Length(1, 128),
                         metadata={"description": "A room of the activity to share (a bargain "
                                                  "to help, a group to join); none: the activity"})


class ShareHeadersSchema(Schema):
    device = fields.String(data_key="Magic-Cube-Device", validate=validate.Regexp(DEVICE),
                           metadata={"description": (
                               "The phone's own stable random id, as sent with actions: a "
                               "friend acting through the link from this device is the sharer "
                               "again, not someone invited")})


class ShareSchema(Schema):
    code = fields.String(required=True, metadata={
        "description": "The share code (at most 32 characters: fits a mini-program code's "
                       "`scene`); send it back as `via` with the invitee's actions"})
    url = fields.String(required=True, metadata={"description": "The link to pass on"})
    activity_id = fields.String(required=True)
    room = fields.String(allow_none=True)


class SharedSchema(ShareSchema):
    sharer = fields.String(required=True, metadata={"description": "The sharer, masked"})
    shopper_url = fields.String(required=True, metadata={
        "description": "The shopper page the link leads to"})


class GuestRequestSchema(Schema):
    nickname = fields.String(required=True, validate=[
        validate.Length(1, 20),
        validate.Regexp(r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f]"
                        r"[^\u0000-\u001f\u007f-\u009f]*$",
                        error="A nickname is 1 to 20 characters, with no control characters")],
        metadata={"description": "1 to 20 characters, shown to others masked"})


class GuestSchema(Schema):
    token = fields.String(required=True, metadata={"description": "A participant token"})
    participant = fields.String(required=True, metadata={"description": "The guest's id"})
    expires_at = fields.String(required=True, metadata={"description": "ISO 8601, UTC"})


@blp.route("/activities/<activity_id>/share")
class Share(MethodView):
    @blp.doc(security=PARTICIPANT)
    @blp.arguments(ShareRequestSchema(), required=False)
    @blp.arguments(ShareHeadersSchema(), location="headers", arg_name="headers")
    @blp.response(200, ShareSchema)
    @documents_errors(blp, "invalid_json", "validation_error", "activity_not_found",
                      "room_not_found", "participant_blocked", *TOKEN_ERRORS)
    def post(self, body: dict[str, Any], activity_id: str, headers: dict[str, Any]) -> Any:
        """The participant's share link for the activity or one of its rooms (the same link
        each time they ask)"""
        participant = replace(current_participant(activity_id),
                              device=headers.get("device", ""))
        share = get_engine().share(activity_id, participant, body["room"])
        share["url"] = share_url(share["code"])
        return share, 200, NO_STORE


@blp.route("/shares/<code>")
class Shared(MethodView):
    @blp.doc(security=[])
    @blp.response(200, SharedSchema)
    @documents_errors(blp, "share_not_found")
    def get(self, code: str) -> Any:
        """Where a share code leads, for a mini-program opened from a shared code (counts one
        open of the link)"""
        shared = get_engine().open_share(code)
        shared["url"] = share_url(code)
        shared["shopper_url"] = shopper_url(shared["activity_id"], shared["room"])
        return shared, 200, NO_STORE


@blp.route("/activities/<activity_id>/guest")
class Guest(MethodView):
    @blp.doc(security=[])
    @blp.arguments(GuestRequestSchema())
    @blp.response(201, GuestSchema)
    @documents_errors(blp, "invalid_json", "validation_error", "activity_not_found",
                      "guests_not_allowed")
    def post(self, body: dict[str, Any], activity_id: str) -> Any:
        """A guest token for a nickname, on an activity its merchant opened to guests"""
        guest = get_engine().guest_token(activity_id, body["nickname"])
        return iso_times(guest), 201, NO_STORE
