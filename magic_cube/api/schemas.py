"""marshmallow schemas: what requests may hold and what responses hold.

They validate requests (422 `validation_error`, errors keyed by field) and serialise responses,
and flask-smorest turns them into `/openapi.json`, so the document cannot drift from what the
API does. Open-ended parts — a template's config, views and action results — are plain objects.
Timestamps are ISO 8601: with an offset in requests, UTC `Z` strings in responses.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate

from magic_cube.engine.accounts import CONTROL_CHARACTERS, MAX_DISPLAY_NAME, MAX_PARTICIPANT_ID
from magic_cube.engine.lifecycle import STATUSES

ID: dict[str, Any] = {"validate": validate.Length(min=1, max=128)}
# Text a participant is known by (ids, display names, nicknames): no control characters (C0,
# DEL, C1), as the engine requires; documented as a pattern so clients can check it first.
class WholeRegexp(validate.Regexp):
    """A Regexp the whole value must match: marshmallow's `match` lets `$` match before a
    final newline, so "name\n" passed `^[^…]*$`. The pattern stays as written for the
    OpenAPI document (a client's JavaScript reads `$` as the end)."""

    def __call__(self, value: Any) -> Any:
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


PLAIN_TEXT = WholeRegexp(f"^[^{CONTROL_CHARACTERS}]*$", error="No control characters")
# A participant id wherever a client names one (tokens, merchant actions, blocks, voids): the
# engine's rule (engine/accounts.py), so that an id one endpoint refuses none accepts.
PARTICIPANT_ID = [validate.Length(1, MAX_PARTICIPANT_ID), PLAIN_TEXT]
DISPLAY_NAME = [validate.Length(max=MAX_DISPLAY_NAME), PLAIN_TEXT]
# Sequence numbers and event ids are 64-bit signed integers in both stores: a cursor beyond
# that names nothing and cannot even be bound to a query (422, not a crash).
MAX_INT64 = 2**63 - 1
CURSOR = validate.Range(0, MAX_INT64)
DEVICE = r"^[A-Za-z0-9_-]{8,64}$"  # a device id as clients send it (`Magic-Cube-Device`)
# Numbers in query strings, headers and paths are ASCII digits: int() and float() would also
# take `1_0`, a fullwidth `１`, an Arabic-Indic `١`, and spaces, which no client means. A number
# may have a fraction and an exponent, as a JSON number may (`0.5`, `1e-3`).
INTEGER_TEXT = re.compile(r"-?[0-9]+")  # a sign, so that `-1` is out of range like `2**63`
NUMBER_TEXT = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")


def integer_text(text: str) -> int | None:
    """`text` as an integer when it is one in ASCII digits, else None."""
    if not INTEGER_TEXT.fullmatch(text):
        return None
    try:
        return int(text)
    except ValueError:  # more digits than Python reads (sys.get_int_max_str_digits)
        return None


def number_text(text: str) -> float | None:
    """`text` as a number when it is ASCII digits with an optional fraction and exponent (`25`,
    `0.5`, `1e-3`)."""
    return float(text) if NUMBER_TEXT.fullmatch(text) else None


class JsonInteger(fields.Integer):
    """An integer in a JSON body: a JSON number without a fraction (`2`, or `2.0`, which JSON
    Schema counts as an integer in configs and params too). Never a string, a boolean or
    `1.5`: marshmallow's own Integer reads `"86400"` and cuts `1.5` to 1."""

    def _validated(self, value: Any) -> int:
        if type(value) is float and value.is_integer():
            value = int(value)
        if type(value) is not int:  # a bool is an int to isinstance, not to a client
            raise self.make_error("invalid", input=value)
        return value


class JsonNumber(fields.Float):
    """A number in a JSON body: never a string or a boolean (marshmallow's Float reads
    `"2.5"`)."""

    def _validated(self, value: Any) -> float:
        if type(value) not in (int, float):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class StrictBoolean(fields.Boolean):
    """A JSON `true` or `false`, nothing else: marshmallow's Boolean also takes `"true"`,
    `1`, `"yes"` and `"off"`, and a client that sends one of those has a bug to hear of."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class QueryInteger(fields.Integer):
    """An integer in a query string: ASCII digits only (`integer_text`)."""

    def _validated(self, value: Any) -> int:
        number = integer_text(value) if isinstance(value, str) else None
        if number is None:
            raise self.make_error("invalid", input=value)
        return number


def timestamp(description: str, **kwargs) -> fields.String:
    """A response timestamp: ISO 8601 in UTC, or null."""
    return fields.String(allow_none=True, metadata={
        "format": "date-time", "example": "2026-11-11T02:00:00Z", "description": description},
        **kwargs)


def date_time(description: str, **kwargs) -> fields.AwareDateTime:
    """A request date-time: ISO 8601 with an offset (`2026-11-11T10:00:00+08:00`), or null.
    The years the engine supports are its rule (422 with the field's code `out_of_range`), as
    the end after the start is: a document can say a date-time's shape, not its range."""
    return fields.AwareDateTime(format="iso", allow_none=True, metadata={
        "description": description, "example": "2026-11-11T10:00:00+08:00"}, **kwargs)


# errors ---------------------------------------------------------------------------------------

class ErrorSchema(Schema):
    """The one error body of every failure."""

    error = fields.String(required=True, metadata={
        "description": "Stable machine code; clients switch on it", "example": "group_full"})
    message = fields.String(required=True, metadata={
        "description": "Human-readable, in the request's language where the source has one"})
    status = fields.Integer(required=True, metadata={"description": "The HTTP status again"})
    errors = fields.Dict(metadata={"description": "Details, keyed by field path "
                                                  "(`config.prizes.0.stock`), when there are any"})
    challenge = fields.Nested(lambda: ChallengeSchema(), metadata={
        "description": "With `challenge_required` only: the proof-of-work challenge to solve"})


class ChallengeSchema(Schema):
    """An ALTCHA challenge: find `number` from 0 to `maxnumber` whose SHA-256 of `salt` followed
    by the number in decimal is `challenge` (hex)."""

    algorithm = fields.String(required=True, metadata={"example": "SHA-256"})
    challenge = fields.String(required=True, metadata={"description": "The hash to match (hex)"})
    maxnumber = fields.Integer(required=True, metadata={"description": "Largest possible number"})
    salt = fields.String(required=True, metadata={
        "description": "Hashed as is, before the number; carries its expiry"})
    signature = fields.String(required=True, metadata={
        "description": "The server's signature: send it back unchanged"})


# shared ---------------------------------------------------------------------------------------

class I18nTextSchema(Schema):
    zh = fields.String()
    en = fields.String()


class ActionRequestSchema(Schema):
    """A participant action: `params` for the action, `room` for a room action."""

    params = fields.Dict(keys=fields.String(), load_default=dict, allow_none=True, metadata={
        "description": "The action's parameters (see the template's `params` schema); null "
                       "is the same as none, like `room` and `via`"})

    @post_load
    def no_params(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        if data.get("params") is None:  # one request, one hash: null and {} are the same
            data["params"] = {}
        return data
    room = fields.String(allow_none=True, load_default=None, validate=validate.Length(1, 128),
                         metadata={"description": "The room acted on, for `room: target` actions"})
    via = fields.String(allow_none=True, load_default=None, validate=validate.Length(1, 32),
                        metadata={"description": "The share code of the first link that brought "
                                                 "this participant to the activity; it makes "
                                                 "the sharer their inviter if this is their "
                                                 "first accepted action here"})


class ActionResultSchema(Schema):
    """An accepted action."""

    ok = fields.Boolean(required=True)
    action = fields.String(required=True)
    seq = fields.Integer(required=True, metadata={"description": "Position in the action log"})
    result = fields.Dict(required=True, metadata={"description": "The template's `result`"})
    events = fields.List(fields.String(), required=True, metadata={
        "description": "Types of the events the action emitted"})
    room = fields.String(required=True, allow_none=True, metadata={
        "description": "The room acted on or opened, if any"})


# headers (documented and read through schemas, so `/openapi.json` lists them) ----------------

class LanguageHeadersSchema(Schema):
    accept_language = fields.String(data_key="Accept-Language", metadata={
        "description": "`zh` or `en` (the default) for messages and titles", "example": "zh-CN"})


class ActionHeadersSchema(LanguageHeadersSchema):
    # Checked by the engine (400 `invalid_idempotency_key`), not here: documented only.
    idempotency_key = fields.String(data_key="Idempotency-Key", metadata={
        "description": "Makes a retry safe: the same key returns the first response (kept "
                       "24 h, per participant and activity). 1-255 visible ASCII characters",
        # What the engine checks (actions._KEY), so that the document promises no more.
        "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"})


class ParticipantActionHeadersSchema(ActionHeadersSchema):
    device = fields.String(data_key="Magic-Cube-Device", validate=validate.Regexp(DEVICE),
                           metadata={"description": (
                               "The phone's own stable random id (the JavaScript client keeps "
                               "one; a mini-program passes its own): limits per device count "
                               "it. 8-64 letters, digits, `_` or `-`")})
    # Checked by magic_cube.api.challenge (403 `challenge_invalid`), not here: documented only.
    challenge = fields.String(data_key="Magic-Cube-Challenge", metadata={"description": (
        "The solution to a `challenge_required` answer: base64 of the JSON "
        "`{algorithm, challenge, number, salt, signature}` (ALTCHA's payload). Each is "
        "spent once; a retry with the same Idempotency-Key may send it again")})


# participant side -----------------------------------------------------------------------------


class PublicTemplateSchema(Schema):
    id = fields.String(required=True)
    version = fields.String(required=True)
    kind = fields.String(required=True)
    title = fields.String(required=True)


class PublicActionSchema(Schema):
    name = fields.String(required=True)
    title = fields.String(required=True)
    room = fields.String(required=True, metadata={"description": "`none` or `target`"})
    params = fields.Dict(metadata={
        "description": "Only on an action that takes params: their JSON Schema as the template "
                       "declares it (`x-ui.label` in zh and en, `x-ui.widget: money` for fen)"})


class FairnessSchema(Schema):
    seed_commitment = fields.String(required=True, allow_none=True, metadata={
        "description": "sha256(seed), hex: published when the activity goes live"})
    seed = fields.String(required=True, allow_none=True, metadata={
        "description": "The seed itself, revealed once the activity has ended"})


class PublicActivitySchema(Schema):
    """What anyone may see of an activity."""

    id = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    template = fields.Nested(PublicTemplateSchema, required=True)
    timezone = fields.String(required=True)
    starts_at = timestamp("Scheduled start", required=True)
    ends_at = timestamp("Scheduled end", required=True)
    view = fields.Dict(required=True, metadata={"description": "The template's activity view"})
    actions = fields.List(fields.Nested(PublicActionSchema), required=True)
    fairness = fields.Nested(FairnessSchema, required=True)
    heartbeat_interval = fields.Integer(required=True, metadata={
        "description": "Seconds between heartbeats the client should send"})
    guests = fields.Boolean(required=True, metadata={
        "description": "Open to guests: a page may mint a guest token (POST …/guest)"})


class RoomViewSchema(Schema):
    id = fields.String(required=True)
    activity_id = fields.String(required=True)
    status = fields.String(required=True, metadata={
        "description": "`open`, `succeeded`, `failed` or `expired`"})
    view = fields.Dict(required=True, metadata={"description": "The template's room view"})


class OwnCodeSchema(Schema):
    code = fields.String(required=True, metadata={
        "description": "The redemption code (核销码) to show at the counter"})
    event = fields.String(required=True, metadata={"description": "The win or order it is for"})
    item = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": "e.g. `physical`, `coupon`"})
    amount = fields.Integer(allow_none=True, metadata={"description": "In fen, when it has one"})
    created_at = fields.String(required=True)
    redeemed_at = fields.String(allow_none=True)
    voided_at = fields.String(allow_none=True)
    shipped_at = fields.String(allow_none=True)
    carrier = fields.String(required=True)
    tracking = fields.String(required=True)


class MeViewSchema(Schema):
    activity_id = fields.String(required=True)
    participant = fields.String(required=True)
    view = fields.Dict(required=True, metadata={"description": "The template's `me` view"})
    rooms = fields.List(fields.String(), required=True, metadata={
        "description": "Rooms the participant belongs to, newest first"})
    codes = fields.List(fields.Nested(OwnCodeSchema), required=True, metadata={
        "description": "The participant's redemption codes, oldest first"})


class HeartbeatSchema(Schema):
    credited = fields.Integer(required=True, metadata={"description": "Seconds credited now"})
    interaction_seconds = fields.Integer(required=True)
    next_heartbeat = fields.Integer(required=True, metadata={
        "description": "Seconds until the next heartbeat"})


# merchant side --------------------------------------------------------------------------------

class ActivityCreateSchema(Schema):
    template_id = fields.String(required=True, **ID)
    template_version = fields.String(validate=validate.Length(1, 64), metadata={
        "description": "Pin this version; the latest when omitted"})
    title = fields.String(validate=[validate.Length(1, 200), PLAIN_TEXT])
    config = fields.Dict(keys=fields.String(), load_default=dict, metadata={
        "description": "The merchant's configuration (the template's config schema)"})
    timezone = fields.String(validate=validate.Length(1, 64), metadata={
        "description": "IANA time zone of day boundaries; Asia/Shanghai by default"})
    starts_at = date_time("When to go live once published; now when null")
    ends_at = date_time("When the activity ends by itself")
    guests = StrictBoolean(load_default=False, metadata={
        "description": "Open to guests: the shopper page lets anyone take part with a nickname "
                       "(for trying an activity out; off by default)"})


class ActivityPatchSchema(Schema):
    """Drafts change freely; published activities only their live-editable config fields."""

    title = fields.String(validate=[validate.Length(1, 200), PLAIN_TEXT])
    config = fields.Dict(keys=fields.String())
    timezone = fields.String(validate=validate.Length(1, 64))
    starts_at = date_time("Scheduled start")
    ends_at = date_time("Scheduled end")
    guests = StrictBoolean(metadata={"description": "Open to guests (may change at any time)"})


class PublishSchema(Schema):
    starts_at = date_time("Go live at this time instead of now", load_default=None)


class ActivityListQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    q = fields.String(validate=validate.Length(max=200), metadata={
        "description": "Search in titles"})
    cursor = fields.String(validate=validate.Length(max=128), metadata={
        "description": "`next_cursor` of the previous page"})
    limit = QueryInteger(load_default=50, validate=validate.Range(1, 200))


class PinnedTemplateSchema(Schema):
    id = fields.String(required=True)
    version = fields.String(required=True)
    hash = fields.String(required=True, metadata={"description": "sha256 of the template"})


class ActivitySchema(Schema):
    """The merchant's view of an activity."""

    id = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    template = fields.Nested(PinnedTemplateSchema, required=True)
    config = fields.Dict(required=True)
    timezone = fields.String(required=True)
    starts_at = timestamp("Scheduled start", required=True)
    ends_at = timestamp("Scheduled end", required=True)
    created_at = timestamp("Created", required=True)
    updated_at = timestamp("Last changed", required=True)
    published_at = timestamp("Published", required=True)
    ended_at = timestamp("Ended", required=True)
    seed_commitment = fields.String(required=True, allow_none=True)
    seed = fields.String(required=True, allow_none=True, metadata={
        "description": "Revealed once ended"})
    actions = fields.Integer(required=True, metadata={"description": "Actions logged so far"})
    guests = fields.Boolean(required=True, metadata={"description": "Open to guests"})
    shopper_url = fields.String(required=True, metadata={
        "description": "The shopper page of the activity: the link to publish or share"})


class ActivityPageSchema(Schema):
    items = fields.List(fields.Nested(ActivitySchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class StatsTotalsSchema(Schema):
    participations = fields.Integer(required=True)
    unique_participants = fields.Integer(required=True)
    first_time_participants = fields.Integer(required=True)
    interaction_seconds = fields.Integer(required=True)
    completions = fields.Integer(required=True)
    actions = fields.Integer(required=True)


class HourlyStatsSchema(Schema):
    hour = fields.String(required=True, metadata={
        "format": "date-time", "description": "Start of the hour, UTC"})
    participations = fields.Integer(required=True)
    participants = fields.Integer(required=True)
    new_participants = fields.Integer(required=True)
    first_time = fields.Integer(required=True)
    interaction_seconds = fields.Integer(required=True)
    completions = fields.Integer(required=True)
    actions = fields.Integer(required=True)


class GenerationSchema(Schema):
    generation = fields.Integer(required=True, metadata={
        "description": "0: came by themselves; n: invited by someone of generation n - 1"})
    participants = fields.Integer(required=True)


class TopSharerSchema(Schema):
    name = fields.String(required=True, metadata={"description": "Masked display name"})
    invited = fields.Integer(required=True)


class SharingStatsSchema(Schema):
    """Who brought whom: share links, their opens, and the participants they brought."""

    links = fields.Integer(required=True, metadata={"description": "Share links made"})
    link_opens = fields.Integer(required=True, metadata={"description": "Times links were opened"})
    sharers = fields.Integer(required=True, metadata={
        "description": "Participants who made a share link"})
    invited = fields.Integer(required=True, metadata={
        "description": "Participants whose first accepted action came through a share link"})
    invited_first_time = fields.Integer(required=True, metadata={
        "description": "Of those, first-time participants: new customers brought by sharing"})
    k_factor = fields.Float(required=True, metadata={
        "description": "Invited participants per participant who shared"})
    deepest_generation = fields.Integer(required=True)
    by_generation = fields.List(fields.Nested(GenerationSchema), required=True)
    top_sharers = fields.List(fields.Nested(TopSharerSchema), required=True)


class StatsSchema(Schema):
    activity_id = fields.String(required=True)
    totals = fields.Nested(StatsTotalsSchema, required=True)
    completions = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    events = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    hourly = fields.List(fields.Nested(HourlyStatsSchema), required=True)
    sharing = fields.Nested(SharingStatsSchema, required=True)


class ActionLogQuerySchema(Schema):
    after = QueryInteger(load_default=0, validate=CURSOR, metadata={
        "description": "Return actions after this sequence number (`next_cursor`)"})
    limit = QueryInteger(load_default=100, validate=validate.Range(1, 200))


class ActionLogEntrySchema(Schema):
    seq = fields.Integer(required=True)
    at = fields.String(required=True, metadata={"format": "date-time"})
    actor = fields.String(required=True, metadata={
        "description": "`participant`, `merchant`, `timer` or `void`"})
    participant = fields.String(required=True)
    action = fields.String(required=True)
    room = fields.String(required=True, allow_none=True)
    params = fields.Dict(required=True)
    result = fields.Dict(required=True)
    events = fields.List(fields.Dict(), required=True)
    random = fields.List(fields.Raw(), required=True, metadata={
        "description": "The random draws, for `magic-cube audit`"})
    first_time = fields.Boolean(required=True)


class ActionLogPageSchema(Schema):
    items = fields.List(fields.Nested(ActionLogEntrySchema), required=True)
    next_cursor = fields.Integer(required=True, allow_none=True)


class MerchantActionRequestSchema(ActionRequestSchema):
    participant = fields.String(required=True, validate=PARTICIPANT_ID, metadata={
        "description": "The participant the action is performed for"})


class TokenRequestSchema(Schema):
    participant = fields.String(required=True, validate=PARTICIPANT_ID,
                                metadata={"description": "Your own user id for the shopper"})
    display_name = fields.String(load_default="", validate=DISPLAY_NAME,
                                 metadata={"description": "Shown masked to other participants"})
    ttl = JsonInteger(allow_none=True, load_default=None,
                         validate=validate.Range(1, 366 * 86400),
                         metadata={"description": "Seconds the token is valid (default 7 days)"})


class TokenSchema(Schema):
    token = fields.String(required=True)
    expires_at = timestamp("When the token stops working", required=True)


# templates ------------------------------------------------------------------------------------

class TemplateQuerySchema(Schema):
    version = fields.String(validate=validate.Length(1, 64), metadata={
        "description": "A specific version; the latest when omitted"})


class TemplateActionSchema(Schema):
    name = fields.String(required=True)
    title = fields.Nested(I18nTextSchema, required=True)
    by = fields.String(required=True, metadata={
        "description": "`participant`, `merchant`, `timer` or `void`"})
    room = fields.String(required=True)
    params = fields.Dict(required=True, metadata={"description": "JSON Schema of `params`"})


class TemplateErrorSchema(Schema):
    status = fields.Integer(required=True)
    message = fields.Nested(I18nTextSchema, required=True)


class TemplateConfigSchema(Schema):
    schema = fields.Dict(required=True, metadata={"description": "JSON Schema of the config"})
    checks = fields.List(fields.Dict(), required=True)
    live_editable = fields.List(fields.String(), required=True)


class TemplateSchema(Schema):
    id = fields.String(required=True)
    version = fields.String(required=True)
    kind = fields.String(required=True)
    title = fields.Nested(I18nTextSchema, required=True)
    description = fields.Nested(I18nTextSchema, required=True)
    currency = fields.String(required=True)
    hash = fields.String(required=True)
    config = fields.Nested(TemplateConfigSchema, required=True)
    actions = fields.List(fields.Nested(TemplateActionSchema), required=True)
    errors = fields.Dict(keys=fields.String(), values=fields.Nested(TemplateErrorSchema),
                         required=True, metadata={"description": "The template's own error codes"})


class TemplateListSchema(Schema):
    items = fields.List(fields.Nested(TemplateSchema), required=True)


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"example": "ok"})


class ReadySchema(Schema):
    status = fields.String(required=True, metadata={"example": "ok"})
    checks = fields.Dict(keys=fields.String(), values=fields.String(), required=True, metadata={
        "description": "Each check (`database`, `migrations`) with `ok`",
        "example": {"database": "ok", "migrations": "ok"}})
