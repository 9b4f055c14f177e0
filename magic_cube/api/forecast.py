"""The forecast of a merchant's activity: `POST /v1/merchant/activities/{id}/forecast`.

The body holds the assumptions (docs/forecast.md), every one optional; the answer is what
`magic-cube forecast --activity ID --json` prints: P10/P50/P90 of participations, participants,
first-time participants, completions and cost (smallest currency unit), when each stock runs
out, the day-by-day series and the warnings worded in the request's language. A draft can be
forecast; a live activity is forecast from now and its current state over the time left.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from magic_cube.api.auth import current_merchant
from magic_cube.api.context import get_engine, request_lang
from magic_cube.api.parsing import Blueprint
from magic_cube.api.responses import documents_errors
from magic_cube.api.schemas import JsonInteger, JsonNumber, LanguageHeadersSchema
from magic_cube.engine.forecasts import DEFAULT_RUNS, MAX_RUNS, MAX_SEED, TIME_BUDGET
from magic_cube.forecast import CONVERSION
from magic_cube.forecast.assumptions import LIMITS, MAX_MONEY

blp = Blueprint("forecast", __name__, url_prefix="/v1/merchant",
                description="For merchant backends: what an activity is likely to bring and "
                            "cost, from Monte Carlo runs of its rules. Authenticated by an API "
                            "key.")

MERCHANT: list[dict[str, list[str]]] = [{"apiKey": []}]


def _range(name: str) -> validate.Range:
    low, high = LIMITS[name]
    return validate.Range(low, high)


STEP_MEANINGS = {
    "act": "A visitor takes the first step (draws, starts, sends)",
    "again": "A lottery participant draws again while draws are left today",
    "return": "A participant comes back on a later day",
    "share": "A starter (or a lottery participant) shares the link",
    "friend": "A friend who opens the link helps, joins, claims or draws",
    "buy": "The initiator of a completed bargain buys",
}

# One named field per step (no free-form map): the document then says exactly which keys are
# allowed (`additionalProperties: false`), and an unknown step is a 422 `validation_error`.
ConversionSchema = Schema.from_dict({
    step: JsonNumber(validate=validate.Range(0, 1), metadata={
        "description": f"{STEP_MEANINGS.get(step, step)} (default {default:g})"})
    for step, default in CONVERSION.items()}, name="ForecastConversion")


class ForecastRequestSchema(Schema):
    """The assumptions; each one left out takes its default (docs/forecast.md)."""

    visitors_per_day = JsonInteger(validate=_range("visitors_per_day"), metadata={
        "description": "People who open the activity on their own each day", "example": 2000})
    days = JsonInteger(validate=_range("days"), metadata={
        "description": "Days to forecast; default: what is left of the activity (live), or "
                       "its planned length, else 7"})
    friends = JsonNumber(validate=_range("friends"), metadata={
        "description": "Friends a share brings, on average", "example": 2.5})
    friend_delay_hours = JsonNumber(validate=_range("friend_delay_hours"), metadata={
        "description": "Mean hours before a friend opens a shared link"})
    new_share = JsonNumber(validate=_range("new_share"), metadata={
        "description": "Share (0..1) of people never seen before on the platform"})
    conversion = fields.Nested(ConversionSchema, metadata={
        "description": "The chance (0..1) of each step of the behaviour model; a step left "
                       "out keeps its default", "example": {"act": 0.4, "share": 0.3}})
    costs = fields.Dict(keys=fields.String(), values=JsonInteger(
        validate=validate.Range(0, MAX_MONEY)), metadata={
            "description": "What one item handed out costs (prize or product name → smallest "
                           "currency unit, fen)", "example": {"tea set": 8800}})
    unit_cost = JsonInteger(validate=_range("unit_cost"), metadata={
        "description": "The cost of an item not named in `costs` (fen)"})
    gift_amount = JsonInteger(validate=_range("gift_amount"), metadata={
        "description": "The amount of a money gift pack (fen); default: the config's "
                       "`max_amount`"})
    runs = JsonInteger(load_default=DEFAULT_RUNS, validate=validate.Range(1, MAX_RUNS),
                       metadata={"description": "Runs wanted; as many are done as finish "
                                                f"within {TIME_BUDGET:g} seconds"})
    seed = fields.String(load_default="0", validate=validate.Length(max=MAX_SEED), metadata={
        "description": "The same seed (and assumptions) gives the same forecast"})


class QuantilesSchema(Schema):
    p10 = fields.Raw(required=True, metadata={"description": "A number, or `never`"})
    p50 = fields.Raw(required=True)
    p90 = fields.Raw(required=True)


class StockOutSchema(QuantilesSchema):
    share_of_runs = fields.Float(required=True, metadata={
        "description": "Share of runs in which the stock runs out"})


class RoomsSchema(Schema):
    started = fields.Nested(QuantilesSchema, required=True)
    completed = fields.Nested(QuantilesSchema, required=True)
    completion_share = fields.Float(required=True, allow_none=True)


class NoteSchema(Schema):
    code = fields.String(required=True, metadata={"example": "stock_out_hours"})
    values = fields.Dict(required=True)
    message = fields.String(required=True, metadata={"description": "In the request's language"})


class DaySchema(Schema):
    day = fields.Integer(required=True)
    participations = fields.Nested(QuantilesSchema, required=True, metadata={
        "description": "Participations so far at the end of the day"})
    stock_left = fields.Dict(keys=fields.String(), values=fields.Nested(QuantilesSchema),
                             required=True, metadata={"description": "Per stock, at the end "
                                                                     "of the day"})


def quantiles(description: str) -> fields.Nested:
    return fields.Nested(QuantilesSchema, required=True, metadata={"description": description})


class ForecastSchema(Schema):
    activity_id = fields.String(required=True)
    status = fields.String(required=True)
    template = fields.String(required=True)
    kind = fields.String(required=True)
    from_state = fields.Boolean(required=True, metadata={
        "description": "True for a live or paused activity: forecast from now and its current "
                       "state over the time left"})
    starts_at = fields.String(required=True, metadata={
        "format": "date-time", "description": "The first simulated moment"})
    ends_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    timezone = fields.String(required=True)
    runs = fields.Integer(required=True, metadata={"description": "Runs done"})
    runs_asked = fields.Integer(required=True)
    seed = fields.String(required=True)
    currency = fields.String(required=True, metadata={"example": "CNY"})
    participations = quantiles("Accepted participation actions")
    participants = quantiles("Distinct people who acted")
    first_time = quantiles("Participants never seen before on the platform")
    first_time_mean = fields.Float(required=True)
    completions = quantiles("The template's completion events")
    cost = quantiles("prize_cost + given_away (smallest currency unit)")
    prize_cost = quantiles("Items handed out, at their costs")
    given_away = quantiles("Discounts and money handed out")
    stock_out = fields.Dict(keys=fields.String(), values=fields.Nested(StockOutSchema),
                            required=True, metadata={
                                "description": "Per stock: hours after `starts_at` at which "
                                               "it runs out, or `never`"})
    rooms = fields.Nested(RoomsSchema, required=True)
    awarded = fields.Dict(keys=fields.String(), values=fields.Nested(QuantilesSchema),
                          required=True, metadata={"description": "Units handed out per item"})
    warnings = fields.List(fields.String(), required=True, metadata={
        "description": "In the request's language"})
    notes = fields.List(fields.Nested(NoteSchema), required=True, metadata={
        "description": "The warnings with a stable code and their values"})
    daily = fields.List(fields.Nested(DaySchema), required=True)
    assumptions = fields.Dict(required=True, metadata={"description": "What was assumed"})


@blp.before_request
def require_merchant() -> None:
    current_merchant()  # 401 `unauthorized` before any body is read


@blp.route("/activities/<activity_id>/forecast")
class Forecast(MethodView):
    @blp.doc(security=MERCHANT)
    @blp.arguments(ForecastRequestSchema())
    @blp.arguments(LanguageHeadersSchema(), location="headers", arg_name="headers")
    @blp.response(200, ForecastSchema)
    @documents_errors(blp, "unauthorized", "activity_not_found", "invalid_json",
                      "payload_too_large", "validation_error", "invalid_config",
                      "invalid_activity", "forecast_unavailable", "forecast_too_large")
    def post(self, body: dict[str, Any], activity_id: str, headers: dict[str, Any]) -> Any:
        """Forecast an activity: P10/P50/P90 of what it brings and costs"""
        runs, seed = body.pop("runs"), body.pop("seed")
        budget = current_app.config.get("FORECAST_TIME_BUDGET", TIME_BUDGET)
        result = get_engine().forecast(current_merchant(), activity_id, body, runs=runs,
                                       seed=seed, lang=request_lang(), time_budget=budget)
        return result.summary(request_lang())
