"""The participant-facing API: what a shopper's mini-program polls and does.

Polling is cheap by design: every view sends an `ETag`; `If-None-Match` with the current tag
answers 304 with no body, and `?wait=N` holds such a poll up to N seconds until something changes
(a change in this process wakes it at once). Actions take an optional `Idempotency-Key`: a retry
returns the first response with `Idempotent-Replayed: true`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from flask import Response, current_app, request
from flask.json.provider import JSONProvider
from flask.views import MethodView

from magic_cube import metrics
from magic_cube.api.auth import current_participant
from magic_cube.api.challenge import Challenges, challenges
from magic_cube.api.context import get_engine, request_lang
from magic_cube.api.errors import InvalidWait
from magic_cube.api.parsing import Blueprint, load_body, load_headers
from magic_cube.api.responses import doc_only, documents_errors, json_response
from magic_cube.api.schemas import (
    ActionRequestSchema,
    ActionResultSchema,
    ErrorSchema,
    HeartbeatSchema,
    MeViewSchema,
    ParticipantActionHeadersSchema,
    PublicActivitySchema,
    RoomViewSchema,
    number_text,
)
from magic_cube.api.times import iso_times
from magic_cube.engine import ActionOutcome, Engine, Participant, Refused, ViewResponse

blp = Blueprint("participants", __name__, url_prefix="/v1/activities",
                description="For shoppers' mini-programs: poll an activity, act on it, report "
                            "interaction time. Authenticated by a participant token.")

PARTICIPANT: list[dict[str, list[str]]] = [{"participantToken": []}]
TOKEN_ERRORS = ("invalid_token", "token_expired")
ETAG = {"ETag": {"description": "Send it back as If-None-Match", "schema": {"type": "string"}}}
POLL_HEADERS = {"Cache-Control": "no-cache"}
HEARTBEAT_HEADERS = {"Cache-Control": "no-store"}
# Where api/front.py, answering polls, heartbeats and actions in front of Flask, leaves the
# exception the engine raised for a request it then hands to the route.
FRONT_FAILED = "magic_cube.front_failed"
ERROR_SCHEMA = ErrorSchema()


# The poll arguments, read by hand: polls are the hottest path and a marshmallow load of the
# query and of every header would cost more than answering a 304.
ACCEPT_LANGUAGE = {"in": "header", "name": "Accept-Language", "required": False,
                   "description": "`zh` or `en` (the default) for messages and titles",
                   "schema": {"type": "string", "example": "zh-CN"}}
POLL_PARAMETERS = [
    {"in": "query", "name": "wait", "required": False,
     "description": "Seconds to hold a poll whose ETag still matches (0-25)",
     "schema": {"type": "number", "minimum": 0, "maximum": 25, "default": 0}},
    {"in": "header", "name": "If-None-Match", "required": False,
     "description": "The ETag of the view you have: 304 while it is still current",
     "schema": {"type": "string"}},
]


def raise_front_failure() -> None:
    """The exception the engine raised for this request in front of Flask
    (api/front.py), if it did: raised here, as the route's own, without asking the
    engine (or holding a poll) again."""
    failed = request.environ.get(FRONT_FAILED)
    if failed is not None:
        raise failed


def poll_arguments() -> tuple[float, str | None]:
    """(`wait`, `If-None-Match`) of this request; a bad `wait` is 422 `invalid_wait`. First,
    `raise_front_failure`."""
    raise_front_failure()
    environ = request.environ  # read directly: most polls have no query string to parse
    raw = request.args.get("wait") if environ.get("QUERY_STRING") else None
    wait = 0.0 if raw is None else number_text(raw)
    if wait is None or not 0 <= wait <= 25:
        raise InvalidWait(errors={"wait": [{"code": "range", "message": InvalidWait.message}]})
    return wait, environ.get("HTTP_IF_NONE_MATCH")


def answer_poll(wait: float, view: Callable[[], ViewResponse]) -> Response:
    """The poll's answer (see `held`)."""
    return poll_response(held(wait, view))


def held(wait: float, view: Callable[[], ViewResponse]) -> ViewResponse:
    """`view()`; one that may be held (`wait` > 0) is in the long-poll gauge while it is
    worked out."""
    if wait <= 0:
        return view()
    metrics.long_poll_started()
    try:
        return view()
    finally:
        metrics.long_poll_ended()


def poll_response(view: ViewResponse) -> Response:
    headers = {"ETag": view.etag, **POLL_HEADERS}
    if view.body is None:
        # (A mimetype spares werkzeug looking for a Content-Type by raising and catching a
        # KeyError; the header itself is left out of a 304 as an entity header.)
        return Response(status=304, headers=headers, mimetype="application/json")
    response = Response(encoded(view, current_app.json), status=200,
                        mimetype="application/json")
    response.headers.update(headers)
    return response


def encoded(view: ViewResponse, json: JSONProvider) -> bytes:
    """The view's body as its answer's bytes. Passed through as is: the engine's view is
    already the documented shape, and polls are too hot for a second serialisation through
    marshmallow. Serialised once per view: the engine hands every poll a broadcast wakes the
    same view."""
    if view.encoded is None:
        view.encoded = f"{json.dumps(iso_times(view.body))}\n".encode()
    return view.encoded


def action_response(outcome: ActionOutcome) -> Any:
    """An action's outcome as HTTP, for participants and merchants alike (`action_answer`),
    counted in the metrics by the template and action the route names (`activity_id`,
    `action`)."""
    route = request.view_args or {}
    status, body, headers = action_answer(outcome, get_engine().template_of(route["activity_id"]),
                                          route["action"])
    return json_response(body, status, headers)


def action_answer(outcome: ActionOutcome, template: str, action: str
                  ) -> tuple[int, Any, dict[str, str]]:
    """(status, body, headers) of an action's outcome: an accepted action through its schema
    (the route's), a refusal through the one error body's, with the status its code is
    declared with. A replayed outcome says so. Counted in the metrics."""
    headers = {"Cache-Control": "no-store"}
    result = "replayed" if outcome.replayed else "accepted" if outcome.ok else "refused"
    metrics.record_action(template, action, result)
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    if isinstance(outcome, Refused):
        metrics.record_refusal(outcome.code)
        return outcome.status, ERROR_SCHEMA.dump(outcome.body), headers
    # The body is ActionResultSchema's shape already (engine/outcomes.py): no dump needed.
    return 200, iso_times(outcome.body), headers


def participant_act(engine: Engine, checks: Challenges, activity_id: str, action: str,
                    participant: Participant, body: dict[str, Any], headers: dict[str, Any],
                    address: str, lang: str) -> ActionOutcome:
    """What the action route does with its loaded body and headers: the challenge checked
    (api/challenge.py), then the engine's action, by the participant on this device from
    this address."""
    participant = replace(participant, device=headers.get("device", ""), address=address)
    key = headers.get("idempotency_key")
    checks.check(activity_id, participant, headers.get("challenge"), key)
    return engine.act(activity_id, action, participant, params=body["params"],
                      room_id=body["room"], idempotency_key=key, lang=lang, via=body["via"])


class View(MethodView):
    """One instance serves every request (the views keep nothing on it): none made per poll."""

    init_every_request = False


# The polls document their answers without flask-smorest's wrappers (`doc_only`): they always
# return a Response, which `response` would pass through untouched.
NOT_MODIFIED = doc_only(blp.alt_response(
    304, description="Not modified: the ETag still matches", headers=ETAG))


@blp.route("/<activity_id>")
class ActivityView(View):
    @doc_only(blp.doc(security=[], parameters=[*POLL_PARAMETERS, ACCEPT_LANGUAGE]))
    @doc_only(blp.response(200, PublicActivitySchema, headers=ETAG))
    @NOT_MODIFIED
    @documents_errors(blp, "activity_not_found", "invalid_wait")
    def get(self, activity_id: str) -> Any:
        """The public view of an activity (no token needed)"""
        wait, etag = poll_arguments()
        return answer_poll(wait, lambda: get_engine().public_view(
            activity_id, if_none_match=etag, wait=wait, lang=request_lang()))


@blp.route("/<activity_id>/rooms/<room_id>")
class RoomView(View):
    @doc_only(blp.doc(security=PARTICIPANT, parameters=POLL_PARAMETERS))
    @doc_only(blp.response(200, RoomViewSchema, headers=ETAG))
    @NOT_MODIFIED
    @documents_errors(blp, "activity_not_found", "room_not_found", "invalid_wait", *TOKEN_ERRORS)
    def get(self, activity_id: str, room_id: str) -> Any:
        """A room (a bargain, a group, a gift pack) as this participant sees it"""
        wait, etag = poll_arguments()
        participant = current_participant(activity_id)
        return answer_poll(wait, lambda: get_engine().room_view(
            activity_id, room_id, participant, if_none_match=etag, wait=wait))


@blp.route("/<activity_id>/me")
class MeView(View):
    @doc_only(blp.doc(security=PARTICIPANT, parameters=POLL_PARAMETERS))
    @doc_only(blp.response(200, MeViewSchema, headers=ETAG))
    @NOT_MODIFIED
    @documents_errors(blp, "activity_not_found", "invalid_wait", *TOKEN_ERRORS)
    def get(self, activity_id: str) -> Any:
        """The participant's own state in the activity, and their rooms"""
        wait, etag = poll_arguments()
        participant = current_participant(activity_id)
        return answer_poll(wait, lambda: get_engine().me_view(
            activity_id, participant, if_none_match=etag, wait=wait))


ACTION_BODY = ActionRequestSchema()
ACTION_HEADERS = ParticipantActionHeadersSchema()


@blp.route("/<activity_id>/actions/<action>")
class Action(View):
    # The hottest route: its arguments are read by `load_body` / `load_headers` (the same
    # schemas and errors) and its answer is always a Response, so flask-smorest's wrappers
    # only document it.
    @doc_only(blp.doc(security=PARTICIPANT))
    @doc_only(blp.arguments(ACTION_BODY, required=False))
    @doc_only(blp.arguments(ACTION_HEADERS, location="headers", arg_name="headers"))
    @doc_only(blp.response(200, ActionResultSchema, headers={
        "Idempotent-Replayed": {"description": "`true` when this is the stored first response "
                                               "to a retried Idempotency-Key",
                                "schema": {"type": "string"}}}))
    @documents_errors(blp, "invalid_json", "payload_too_large", "validation_error",
                      "activity_not_found", "unknown_action", "room_not_found",
                      "activity_not_live", "invalid_idempotency_key", "idempotency_key_reused",
                      "idempotency_in_flight", "conflict", "invalid_params", "not_allowed",
                      "room_required", "room_closed", "room_full", "already_joined",
                      "limit_reached", "rule_error", "challenge_required", "challenge_invalid",
                      "challenge_reused", *TOKEN_ERRORS, refusals=True)
    def post(self, activity_id: str, action: str) -> Any:
        """Perform an action (`start`, `help`, `join`, `draw`, `send`, `claim` …)"""
        raise_front_failure()
        body, headers = load_body(ACTION_BODY), load_headers(ACTION_HEADERS)
        return action_response(participant_act(
            get_engine(), challenges(), activity_id, action, current_participant(activity_id),
            body, headers, request.remote_addr or "", request_lang()))


@blp.route("/<activity_id>/heartbeat")
class Heartbeat(View):
    # Half of a festival's requests: answered as an action is, the engine's body (already
    # HeartbeatSchema's shape) passed through without flask-smorest's wrapper and a dump.
    @doc_only(blp.doc(security=PARTICIPANT))
    @doc_only(blp.response(200, HeartbeatSchema))
    @documents_errors(blp, "activity_not_found", "conflict", "participant_blocked",
                      *TOKEN_ERRORS)
    def post(self, activity_id: str) -> Any:
        """Report that the participant is still interacting (credited on the server clock)"""
        raise_front_failure()
        participant = current_participant(activity_id)
        return json_response(get_engine().heartbeat(activity_id, participant), 200,
                             HEARTBEAT_HEADERS)
