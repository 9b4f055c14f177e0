"""Campaigns: activities run together and reported as one (a festival).

A merchant creates a campaign and adds its own activities; an operator account also invites other
merchants (a single-use code, accepted in the console or here), who add theirs. Everyone in a
campaign reads its totals, and the rows of its own activities only (an operator sees other
merchants' activities inside the totals, never one by one). A campaign the merchant is not in
answers 404 `campaign_not_found`, and another merchant's activity stays 404 `activity_not_found`
everywhere.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, url_for
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from magic_cube.api.auth import current_merchant
from magic_cube.api.context import get_engine, request_lang
from magic_cube.api.forecast import ForecastRequestSchema, ForecastSchema
from magic_cube.api.parsing import Blueprint
from magic_cube.api.responses import documents_errors
from magic_cube.api.schemas import PLAIN_TEXT, LanguageHeadersSchema
from magic_cube.api.times import iso_times, to_iso
from magic_cube.engine.forecasts import TIME_BUDGET

blp = Blueprint("campaigns", __name__, url_prefix="/v1/merchant",
                description="Campaigns: several activities (of one merchant, or of the merchants "
                            "an operator invited) run together and reported as one.")

MERCHANT: list[dict[str, list[str]]] = [{"apiKey": []}]
BODY = ("invalid_json", "payload_too_large", "validation_error")


@blp.before_request
def require_merchant() -> None:
    current_merchant()  # 401 `unauthorized` before any body is read


class CampaignCreateSchema(Schema):
    name = fields.String(required=True, validate=[validate.Length(1, 100), PLAIN_TEXT])
    timezone = fields.String(load_default="Asia/Shanghai", validate=validate.Length(1, 64),
                             metadata={"description": "IANA time zone of its days"})
    starts_on = fields.String(required=True, validate=validate.Length(10, 10), metadata={
        "format": "date", "description": "First day (YYYY-MM-DD), counted from 00:00"})
    ends_on = fields.String(required=True, validate=validate.Length(10, 10), metadata={
        "format": "date", "description": "Last day (YYYY-MM-DD), counted to 24:00"})


class CampaignActivitySchema(Schema):
    id = fields.String(required=True)
    title = fields.String(required=True)
    template_id = fields.String(required=True)
    status = fields.String(required=True)
    merchant_id = fields.String(required=True)
    merchant_name = fields.String(required=True)
    added_at = fields.String(required=True, metadata={
        "format": "date-time", "description": "Counted from this moment"})
    own = fields.Boolean(required=True, metadata={"description": "One of your activities"})


class CampaignMemberSchema(Schema):
    merchant_id = fields.String(required=True)
    name = fields.String(required=True)
    role = fields.String(required=True, metadata={"description": "`owner` or `member`"})
    joined_at = fields.String(required=True, metadata={"format": "date-time"})


class CampaignOwnerSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)


class CampaignSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    timezone = fields.String(required=True)
    starts_on = fields.String(required=True, metadata={"format": "date"})
    ends_on = fields.String(required=True, metadata={"format": "date"})
    starts_at = fields.String(required=True, metadata={"format": "date-time"})
    ends_at = fields.String(required=True, metadata={"format": "date-time"})
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    role = fields.String(required=True, metadata={"description": "Yours: `owner` or `member`"})
    owner = fields.Nested(CampaignOwnerSchema, required=True)
    activities = fields.List(fields.Nested(CampaignActivitySchema), required=True, metadata={
        "description": "Your counted activities (other merchants' are only counted in "
                       "`other_activities`)"})
    other_activities = fields.Integer(required=True, metadata={
        "description": "How many counted activities are other merchants'"})
    members = fields.List(fields.Nested(CampaignMemberSchema), metadata={
        "description": "Merchants in the campaign (shown to its owner)"})


class CampaignListSchema(Schema):
    items = fields.List(fields.Nested(CampaignSchema), required=True)


class AddActivitySchema(Schema):
    activity_id = fields.String(required=True, validate=validate.Length(1, 64))


class CampaignCountsSchema(Schema):
    participations = fields.Integer(required=True)
    new_participants = fields.Integer(required=True, metadata={
        "description": "First seen in the campaign"})
    first_ever_participants = fields.Integer(required=True, metadata={
        "description": "Whose first action ever for their merchant was in the campaign"})
    new_to_activity = fields.Integer(required=True)
    interaction_seconds = fields.Integer(required=True)
    interaction_minutes = fields.Float(required=True)
    completions = fields.Integer(required=True)
    invited = fields.Integer(required=True, metadata={
        "description": "New to the campaign through someone's share link"})
    actions = fields.Integer(required=True)


class CampaignTotalsSchema(CampaignCountsSchema):
    unique_participants = fields.Integer(required=True)
    invited_participants = fields.Integer(required=True)
    inviting_participants = fields.Integer(required=True)
    k_factor = fields.Float(required=True, metadata={
        "description": "invited_participants / inviting_participants"})
    completions_by_kind = fields.Dict(keys=fields.String(), values=fields.Integer(),
                                      required=True)
    activities = fields.Integer(required=True)
    merchants = fields.Integer(required=True)


class CampaignActivityStatsSchema(CampaignCountsSchema):
    activity_id = fields.String(required=True)
    title = fields.String(required=True)
    template_id = fields.String(required=True)
    merchant_id = fields.String(required=True)
    merchant_name = fields.String(required=True)
    added_at = fields.String(required=True, metadata={"format": "date-time"})
    removed_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    completions_by_kind = fields.Dict(keys=fields.String(), values=fields.Integer(),
                                      required=True)


class CampaignHourSchema(CampaignCountsSchema):
    hour = fields.String(required=True, metadata={"format": "date-time"})


class CampaignDaySchema(CampaignCountsSchema):
    date = fields.String(required=True, metadata={
        "format": "date", "description": "A day in the campaign's time zone"})


class CampaignStatsSchema(Schema):
    campaign_id = fields.String(required=True)
    timezone = fields.String(required=True)
    totals = fields.Nested(CampaignTotalsSchema, required=True)
    per_activity = fields.List(fields.Nested(CampaignActivityStatsSchema), required=True,
                               metadata={"description": "Your own activities only"})
    hourly = fields.List(fields.Nested(CampaignHourSchema), required=True)
    daily = fields.List(fields.Nested(CampaignDaySchema), required=True)


class InviteSchema(Schema):
    code = fields.String(required=True, metadata={"description": "Single use"})
    campaign_id = fields.String(required=True)
    url = fields.String(required=True, metadata={
        "description": "The console page where a merchant accepts it"})
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    accepted_by = fields.String(required=True, allow_none=True)
    accepted_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})


class InviteListSchema(Schema):
    items = fields.List(fields.Nested(InviteSchema), required=True)


class InvitationSchema(Schema):
    code = fields.String(required=True)
    campaign_id = fields.String(required=True)
    name = fields.String(required=True)
    starts_on = fields.String(required=True, metadata={"format": "date"})
    ends_on = fields.String(required=True, metadata={"format": "date"})
    timezone = fields.String(required=True)
    operator = fields.String(required=True, metadata={"description": "Who invites"})
    accepted = fields.Boolean(required=True)


class ForecastPartSchema(Schema):
    activity_id = fields.String(required=True)
    title = fields.String(required=True)
    template = fields.String(required=True)
    from_state = fields.Boolean(required=True, metadata={
        "description": "Live or paused: forecast from now and its current state"})
    runs = fields.Integer(required=True, metadata={"description": "Runs done for it"})


class ForecastSkippedSchema(Schema):
    activity_id = fields.String(required=True)
    title = fields.String(required=True)
    reason = fields.String(required=True, metadata={
        "description": "`ended`, `archived`, `forecast_unavailable` or `invalid_config`"})


class OtherMerchantsSchema(Schema):
    activities = fields.Integer(required=True, metadata={
        "description": "Other merchants' activities added into the figures"})
    skipped = fields.Integer(required=True, metadata={
        "description": "Other merchants' activities left out"})


class CampaignForecastSchema(ForecastSchema):
    """An activity's forecast, for the campaign's activities together."""

    class Meta:
        exclude = ("activity_id", "status", "from_state")

    campaign_id = fields.String(required=True)
    activities = fields.List(fields.Nested(ForecastPartSchema), required=True, metadata={
        "description": "Your activities forecast (the owner's figures also hold other "
                       "merchants', counted in `other_merchants`)"})
    skipped = fields.List(fields.Nested(ForecastSkippedSchema), required=True)
    other_merchants = fields.Nested(OtherMerchantsSchema, required=True)


def invite_url(code: str) -> str:
    try:
        return url_for("console.campaigns.join", code=code, _external=True)
    except Exception:  # the console is not mounted on this app
        return code


def _invite_out(invite: dict[str, Any]) -> dict[str, Any]:
    return iso_times({**invite, "url": invite_url(invite["code"])})


def stats_out(stats: dict[str, Any]) -> dict[str, Any]:
    return {**iso_times(stats), "hourly": [{**h, "hour": to_iso(h["hour"])}
                                           for h in stats["hourly"]]}


@blp.route("/campaigns")
class Campaigns(MethodView):
    @blp.doc(security=MERCHANT)
    @blp.response(200, CampaignListSchema)
    @documents_errors(blp, "unauthorized")
    def get(self) -> Any:
        """The campaigns you created or joined, newest first"""
        return {"items": iso_times(get_engine().list_campaigns(current_merchant()))}

    @blp.doc(security=MERCHANT)
    @blp.arguments(CampaignCreateSchema())
    @blp.response(201, CampaignSchema)
    @documents_errors(blp, "unauthorized", *BODY, "invalid_campaign")
    def post(self, body: dict[str, Any]) -> Any:
        """Create a campaign (you are its owner)"""
        return iso_times(get_engine().create_campaign(
            current_merchant(), body["name"], body["timezone"], body["starts_on"],
            body["ends_on"]))


@blp.route("/campaigns/<campaign_id>")
class Campaign(MethodView):
    @blp.doc(security=MERCHANT)
    @blp.response(200, CampaignSchema)
    @documents_errors(blp, "unauthorized", "campaign_not_found")
    def get(self, campaign_id: str) -> Any:
        """One campaign, with the activities you may see"""
        return iso_times(get_engine().get_campaign(current_merchant(), campaign_id))


@blp.route("/campaigns/<campaign_id>/activities")
class CampaignActivities(MethodView):
    @blp.doc(security=MERCHANT)
    @blp.arguments(AddActivitySchema())
    @blp.response(200, CampaignSchema)
    @documents_errors(blp, "unauthorized", *BODY, "campaign_not_found", "activity_not_found")
    def post(self, body: dict[str, Any], campaign_id: str) -> Any:
        """Add one of your activities: counted from now on (earlier actions are not)"""
        return iso_times(get_engine().add_campaign_activity(
            current_merchant(), campaign_id, body["activity_id"]))


@blp.route("/campaigns/<campaign_id>/activities/<activity_id>")
class CampaignActivity(MethodView):
    @blp.doc(security=MERCHANT)
    @blp.response(200, CampaignSchema)
    @documents_errors(blp, "unauthorized", "campaign_not_found", "activity_not_found")
    def delete(self, campaign_id: str, activity_id: str) -> Any:
        """Stop counting an activity (what it counted stays in the totals)"""
        return iso_times(get_engine().remove_campaign_activity(
            current_merchant(), campaign_id, activity_id))


@blp.route("/campaigns/<campaign_id>/stats")
class CampaignStats(MethodView):
    @blp.doc(security=MERCHANT)
    @blp.response(200, CampaignStatsSchema)
    @documents_errors(blp, "unauthorized", "campaign_not_found")
    def get(self, campaign_id: str) -> Any:
        """Totals, per activity, hourly and daily (days in the campaign's time zone)"""
        return stats_out(get_engine().campaign_stats(current_merchant(), campaign_id))


@blp.route("/campaigns/<campaign_id>/forecast")
class CampaignForecast(MethodView):
    @blp.doc(security=MERCHANT)
    @blp.arguments(ForecastRequestSchema())
    @blp.arguments(LanguageHeadersSchema(), location="headers", arg_name="headers")
    @blp.response(200, CampaignForecastSchema)
    @documents_errors(blp, "unauthorized", "campaign_not_found", *BODY,
                      "nothing_to_forecast")
    def post(self, body: dict[str, Any], campaign_id: str, headers: dict[str, Any]) -> Any:
        """Forecast the campaign: its activities' forecasts added run by run"""
        runs, seed = body.pop("runs"), body.pop("seed")
        return get_engine().campaign_forecast(current_merchant(), campaign_id, body, runs=runs,
                                              seed=seed, lang=request_lang(),
                                              time_budget=TIME_BUDGET)


CSV_COLUMNS = ("participations", "new_participants", "first_ever_participants",
               "interaction_minutes", "completions", "invited", "actions")


def stats_csv(stats: dict[str, Any]) -> str:
    """The campaign's hours as CSV, in its time zone (a BOM first: Excel reads UTF-8)."""
    zone = ZoneInfo(stats["timezone"])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["hour", *CSV_COLUMNS])
    for h in stats["hourly"]:
        moment = datetime.fromtimestamp(h["hour"], tz=UTC).astimezone(zone)
        writer.writerow([moment.isoformat(), *(h[c] for c in CSV_COLUMNS)])
    return "\ufeff" + buffer.getvalue()


@blp.route("/campaigns/<campaign_id>/stats.csv")
class CampaignStatsCsv(MethodView):
    @blp.doc(security=MERCHANT, responses={"200": {
        "description": "One row per hour: " + ", ".join(CSV_COLUMNS),
        "content": {"text/csv": {"schema": {"type": "string"}}}}})
    @documents_errors(blp, "unauthorized", "campaign_not_found")
    def get(self, campaign_id: str) -> Any:
        """The hourly numbers as CSV, times in the campaign's time zone"""
        stats = get_engine().campaign_stats(current_merchant(), campaign_id)
        response = Response(stats_csv(stats), mimetype="text/csv")
        response.headers["Content-Type"] = "text/csv; charset=utf-8"
        response.headers["Content-Disposition"] = \
            f'attachment; filename="{campaign_id}-hourly.csv"'
        response.headers["Cache-Control"] = "no-store"
        return response


@blp.route("/campaigns/<campaign_id>/invites")
class CampaignInvites(MethodView):
    @blp.doc(security=MERCHANT)
    @blp.response(200, InviteListSchema)
    @documents_errors(blp, "unauthorized", "campaign_not_found", "owner_only")
    def get(self, campaign_id: str) -> Any:
        """The invitations made for the campaign, accepted or not (owner only)"""
        items = get_engine().campaign_invites(current_merchant(), campaign_id)
        return {"items": [_invite_out(i) for i in items]}

    @blp.doc(security=MERCHANT)
    @blp.response(201, InviteSchema)
    @documents_errors(blp, "unauthorized", "campaign_not_found", "owner_only", "operator_only")
    def post(self, campaign_id: str) -> Any:
        """A single-use invitation for another merchant (operator accounts only)"""
        return _invite_out(get_engine().invite_to_campaign(current_merchant(), campaign_id))


@blp.route("/campaign-invites/<code>")
class CampaignInvite(MethodView):
    @blp.doc(security=MERCHANT)
    @blp.response(200, InvitationSchema)
    @documents_errors(blp, "unauthorized", "invite_not_found")
    def get(self, code: str) -> Any:
        """What an invitation is for"""
        return get_engine().campaign_invitation(code)

    @blp.doc(security=MERCHANT)
    @blp.response(200, CampaignSchema)
    @documents_errors(blp, "unauthorized", "invite_not_found", "invite_used", "already_member")
    def post(self, code: str) -> Any:
        """Accept an invitation: join the campaign as a member"""
        return iso_times(get_engine().accept_campaign_invite(current_merchant(), code))
