"""The merchant backend API: activities, their lifecycle, results, and participant tokens.

Every route needs `Authorization: Bearer mck_…`. Another merchant's activity answers exactly
like a missing one (404 `activity_not_found`), so ids reveal nothing.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from magic_cube.api.auth import current_merchant
from magic_cube.api.context import get_engine, request_lang
from magic_cube.api.parsing import Blueprint
from magic_cube.api.participants import action_response
from magic_cube.api.responses import documents_errors
from magic_cube.api.schemas import (
    ActionHeadersSchema,
    ActionLogPageSchema,
    ActionLogQuerySchema,
    ActionResultSchema,
    ActivityCreateSchema,
    ActivityListQuerySchema,
    ActivityPageSchema,
    ActivityPatchSchema,
    ActivitySchema,
    LanguageHeadersSchema,
    MerchantActionRequestSchema,
    PublishSchema,
    QueryInteger,
    StatsSchema,
    StrictBoolean,
    TokenRequestSchema,
    TokenSchema,
)
from magic_cube.api.times import iso_times, to_epoch, to_iso
from magic_cube.shopper.urls import shopper_url

blp = Blueprint("merchant", __name__, url_prefix="/v1/merchant",
                description="For merchant backends: create, schedule and run activities, read "
                            "results, issue participant tokens. Authenticated by an API key.")

BODY = ("invalid_json", "payload_too_large", "validation_error")
MERCHANT: list[dict[str, list[str]]] = [{"apiKey": []}]
TIMES = ("starts_at", "ends_at")


@blp.before_request
def require_merchant() -> None:
    current_merchant()  # 401 `unauthorized` before any body is read


def activity_out(activity: dict[str, Any]) -> dict[str, Any]:
    """The engine's activity as the API shows it: ISO times, and its shopper page's address."""
    return {**iso_times(activity), "shopper_url": shopper_url(activity["id"])}


def _times(body: dict[str, Any]) -> dict[str, Any]:
    """Request date-times -> epoch seconds, only for the keys given."""
    return {k: (to_epoch(v) if k in TIMES else v) for k, v in body.items()}


@blp.route("/activities")
class Activities(MethodView):
    @blp.doc(security=MERCHANT)
    @blp.arguments(ActivityListQuerySchema(), location="query")
    @blp.response(200, ActivityPageSchema)
    @documents_errors(blp, "unauthorized", "validation_error")
    def get(self, query: dict[str, Any]) -> Any:
        """The merchant's activities, a page at a time"""
        items, cursor = get_engine().list_activities(
            current_merchant(), status=query.get("status"), search=query.get("q"),
            cursor=query.get("cursor"), limit=query["limit"])
        return {"items": [activity_out(a) for a in items], "next_cursor": cursor}

    @blp.doc(security=MERCHANT)
    @blp.arguments(ActivityCreateSchema())
    @blp.arguments(LanguageHeadersSchema(), location="headers", arg_name="headers")
    @blp.response(201, ActivitySchema)
    @documents_errors(blp, "unauthorized", *BODY, "invalid_config", "invalid_activity")
    def post(self, body: dict[str, Any], headers: dict[str, Any]) -> Any:
        """Create a draft activity from a template"""
        body = _times(body)
        return activity_out(get_engine().create_activity(
            current_merchant(), body["template_id"], body["config"], title=body.get("title"),
            template_version=body.get("template_version"), timezone=body.get("timezone"),
            starts_at=body.get("starts_at"), ends_at=body.get("ends_at"), lang=request_lang(),
            guests=body["guests"]))


@blp.route("/activities/<activity_id>")
class Activity(MethodView):
    @blp.doc(security=MERCHANT)
    @blp.response(200, ActivitySchema)
    @documents_errors(blp, "unauthorized", "activity_not_found")
    def get(self, activity_id: str) -> Any:
        """One activity"""
        return activity_out(get_engine().get_activity(current_merchant(), activity_id))

    @blp.doc(security=MERCHANT)
    @blp.arguments(ActivityPatchSchema())
    @blp.arguments(LanguageHeadersSchema(), location="headers", arg_name="headers")
    @blp.response(200, ActivitySchema)
    @documents_errors(blp, "unauthorized", "activity_not_found", *BODY, "invalid_config",
                      "invalid_activity", "not_editable")
    def patch(self, body: dict[str, Any], activity_id: str, headers: dict[str, Any]) -> Any:
        """Change a draft; once published, only the template's live-editable config fields"""
        engine, merchant = get_engine(), current_merchant()
        if not body:  # nothing to change
            return activity_out(engine.get_activity(merchant, activity_id))
        return activity_out(engine.update_activity(merchant, activity_id, _times(body),
                                                lang=request_lang()))


@blp.route("/activities/<activity_id>/publish")
class Publish(MethodView):
    @blp.doc(security=MERCHANT)
    @blp.arguments(PublishSchema(), required=False)
    @blp.response(200, ActivitySchema)
    @documents_errors(blp, "unauthorized", "activity_not_found", *BODY, "invalid_transition",
                      "invalid_activity")
    def post(self, body: dict[str, Any], activity_id: str) -> Any:
        """Publish a draft: live now, or scheduled for `starts_at`"""
        return activity_out(get_engine().publish(current_merchant(), activity_id,
                                              starts_at=to_epoch(body["starts_at"])))


def _lifecycle(verb: str, summary: str) -> None:
    class Transition(MethodView):
        @blp.doc(security=MERCHANT)
        @blp.response(200, ActivitySchema)
        @documents_errors(blp, "unauthorized", "activity_not_found", "invalid_transition")
        def post(self, activity_id: str) -> Any:
            return activity_out(getattr(get_engine(), verb)(current_merchant(), activity_id))

    Transition.post.__doc__ = summary
    Transition.__name__ = verb.title()
    blp.route(f"/activities/<activity_id>/{verb}", endpoint=verb)(Transition)


_lifecycle("pause", "Pause a live activity: actions are refused until it resumes")
_lifecycle("resume", "Resume a paused activity")
_lifecycle("end", "End the activity now; the lottery seed is revealed")
_lifecycle("archive", "Archive a draft or an ended activity")


@blp.route("/activities/<activity_id>/duplicate")
class Duplicate(MethodView):
    @blp.doc(security=MERCHANT)
    @blp.response(201, ActivitySchema)
    @documents_errors(blp, "unauthorized", "activity_not_found")
    def post(self, activity_id: str) -> Any:
        """A new draft with the same template version, config and settings"""
        return activity_out(get_engine().duplicate(current_merchant(), activity_id))


@blp.route("/activities/<activity_id>/stats")
class Stats(MethodView):
    @blp.doc(security=MERCHANT)
    @blp.response(200, StatsSchema)
    @documents_errors(blp, "unauthorized", "activity_not_found")
    def get(self, activity_id: str) -> Any:
        """Participations, participants, interaction time and completions, with hourly buckets"""
        stats = get_engine().stats(current_merchant(), activity_id)
        stats["hourly"] = [{**h, "hour": to_iso(h["hour"])} for h in stats["hourly"]]
        return stats


@blp.route("/activities/<activity_id>/actions")
class ActionLog(MethodView):
    @blp.doc(security=MERCHANT)
    @blp.arguments(ActionLogQuerySchema(), location="query")
    @blp.response(200, ActionLogPageSchema)
    @documents_errors(blp, "unauthorized", "activity_not_found", "validation_error")
    def get(self, query: dict[str, Any], activity_id: str) -> Any:
        """The action log in order; page with `after` = the previous `next_cursor`"""
        items, cursor = get_engine().action_log(current_merchant(), activity_id,
                                                after=query["after"], limit=query["limit"])
        return {"items": iso_times(items), "next_cursor": cursor}


@blp.route("/activities/<activity_id>/actions/<action>")
class MerchantAction(MethodView):
    @blp.doc(security=MERCHANT)
    @blp.arguments(MerchantActionRequestSchema())
    @blp.arguments(ActionHeadersSchema(), location="headers", arg_name="headers")
    @blp.response(200, ActionResultSchema, headers={
        "Idempotent-Replayed": {"description": "`true` for a replayed first response",
                                "schema": {"type": "string"}}})
    @documents_errors(blp, "unauthorized", "activity_not_found", *BODY, "unknown_action",
                      "room_not_found", "activity_not_live", "invalid_idempotency_key",
                      "idempotency_key_reused", "idempotency_in_flight", "conflict",
                      "invalid_params", "not_allowed", "room_required", "room_closed",
                      "room_full", "already_joined", "limit_reached", "rule_error",
                      refusals=True)
    def post(self, body: dict[str, Any], activity_id: str, action: str,
             headers: dict[str, Any]) -> Any:
        """Perform a `by: merchant` action for one participant (e.g. the lottery's `grant`)"""
        return action_response(get_engine().merchant_act(
            current_merchant(), activity_id, action, body["participant"], params=body["params"],
            room_id=body["room"], idempotency_key=headers.get("idempotency_key"),
            lang=request_lang()))


@blp.route("/participant-tokens")
class ParticipantTokens(MethodView):
    @blp.doc(security=MERCHANT)
    @blp.arguments(TokenRequestSchema())
    @blp.response(200, TokenSchema)
    @documents_errors(blp, "unauthorized", *BODY)
    def post(self, body: dict[str, Any]) -> Any:
        """Sign a participant token for one of your shoppers (or sign it yourself)"""
        token, expires_at = get_engine().participant_token(
            current_merchant(), body["participant"], body["display_name"], body["ttl"])
        return {"token": token, "expires_at": to_iso(expires_at)}


# fulfilment: redemption codes ----------------------------------------------------------------

class ShippingSchema(Schema):
    name = fields.String(validate=validate.Length(max=500))
    phone = fields.String(validate=validate.Length(max=500))
    address = fields.String(validate=validate.Length(max=500))
    carrier = fields.String(validate=validate.Length(max=500))
    tracking = fields.String(validate=validate.Length(max=500))


class ShippingRequestSchema(ShippingSchema):
    """Only the fields sent change: an omitted one keeps its value, `""` empties it."""

    shipped = StrictBoolean(metadata={
        "description": "`true` records that the item left now (a code shipped already keeps "
                       "its time); `false` takes that back; omitted, it stays as it was"})


class RedemptionSchema(Schema):
    code = fields.String(required=True, metadata={"description": "The redemption code (核销码)"})
    activity_id = fields.String(required=True)
    seq = fields.Integer(required=True, metadata={"description": "The action that won it"})
    participant_id = fields.String(required=True)
    display_name = fields.String(required=True)
    event = fields.String(required=True, metadata={"description": "e.g. `prize.awarded`"})
    item = fields.String(required=True, metadata={"description": "What was won or bought"})
    kind = fields.String(required=True, metadata={"description": "`physical` items are shipped"})
    amount = fields.Integer(allow_none=True, metadata={"description": "In fen, when known"})
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    redeemed_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    redeemed_by = fields.String(allow_none=True)
    shipping = fields.Nested(ShippingSchema, allow_none=True)
    shipped_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    voided_at = fields.String(allow_none=True, metadata={
        "format": "date-time", "description": "Set when the participant's results were voided: "
        "the code can no longer be redeemed"})


class RedemptionPageSchema(Schema):
    items = fields.List(fields.Nested(RedemptionSchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class RedemptionQuerySchema(Schema):
    after = fields.String(load_default=None, validate=validate.Length(max=40), metadata={
        "description": "Return codes after this one (`next_cursor`)"})
    limit = QueryInteger(load_default=100, validate=validate.Range(1, 200))
    search = fields.String(load_default=None, validate=validate.Length(max=200), metadata={
        "description": "Only this code, or only this participant's codes"})


class RedeemRequestSchema(Schema):
    by = fields.String(load_default="", validate=validate.Length(max=100), metadata={
        "description": "Who redeemed it (a counter, a clerk), kept with the code"})


@blp.route("/activities/<activity_id>/redemptions")
class Redemptions(MethodView):
    @blp.doc(security=MERCHANT)
    @blp.arguments(RedemptionQuerySchema(), location="query")
    @blp.response(200, RedemptionPageSchema)
    @documents_errors(blp, "unauthorized", "activity_not_found", "validation_error")
    def get(self, query: dict[str, Any], activity_id: str) -> Any:
        """Winners and orders with their redemption codes, in the order won"""
        items = get_engine().redemptions(current_merchant(), activity_id, after=query["after"],
                                         limit=query["limit"] + 1, search=query["search"])
        more = len(items) > query["limit"]
        items = items[:query["limit"]]
        return {"items": iso_times(items),
                "next_cursor": items[-1]["code"] if more and items else None}


@blp.route("/codes/<code>")
class Code(MethodView):
    @blp.doc(security=MERCHANT)
    @blp.response(200, RedemptionSchema)
    @documents_errors(blp, "unauthorized", "code_not_found")
    def get(self, code: str) -> Any:
        """Verify a redemption code: what it is for, whose, and whether it was redeemed"""
        return iso_times(get_engine().verify_code(current_merchant(), code))


@blp.route("/codes/<code>/redeem")
class Redeem(MethodView):
    @blp.doc(security=MERCHANT)
    @blp.arguments(RedeemRequestSchema())
    @blp.response(200, RedemptionSchema)
    @documents_errors(blp, "unauthorized", "code_not_found", "already_redeemed", *BODY)
    def post(self, body: dict[str, Any], code: str) -> Any:
        """Redeem a code, once: a second redeem (even a concurrent one) is `409`"""
        return iso_times(get_engine().redeem_code(current_merchant(), code, by=body["by"]))


@blp.route("/codes/<code>/shipping")
class Shipping(MethodView):
    @blp.doc(security=MERCHANT)
    @blp.arguments(ShippingRequestSchema())
    @blp.response(200, RedemptionSchema)
    @documents_errors(blp, "unauthorized", "code_not_found", *BODY)
    def put(self, body: dict[str, Any], code: str) -> Any:
        """Set where a physical item goes (and, with `shipped`, that it went)"""
        shipped = body.pop("shipped", None)
        return iso_times(get_engine().ship(current_merchant(), code, body, shipped=shipped))
