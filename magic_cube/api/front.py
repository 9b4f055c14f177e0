"""The participant API's commonest requests, answered in front of Flask.

`GET /v1/activities/<id>` (the public view), `…/me` and `…/rooms/<room>` are what every phone
watching an activity holds, and a broadcast answers hundreds of them at once; with
`POST …/heartbeat`, the "still here" every open page sends, they are most of a festival's
requests, and `POST …/actions/<action>` (a draw, a help, a join) is what the festival is for.
Flask's request context, URL routing, hooks and response objects cost as much as a poll's
answer, and half again as much as an action's engine call. `Front`, a WSGI middleware, answers
the plain requests itself:

- a GET of one of the views with no body and no query but a valid `wait`;
- a heartbeat with a token, no body and no query;
- an action with a token, no query, and no body or one with a Content-Length, which it reads
  and loads through the route's own schemas (body and headers) before anything else is done.

It makes the same calls as the routes (the token checked as `api/auth.py` checks it, an
action's challenge as `api/challenge.py` does), counts the same rate limits with the same keys,
and sends the same status, headers and body bytes; the metrics record each request under its
route's name.

Everything else goes to Flask unchanged: another path or method, any other query, a body the
front does not take. So does a request the front took but cannot answer, with what the front
did left in its environ for the route: what it counted (a refusal is a 429 from the limiter's
hook, counted once), the body it read (`wsgi.input` again, and the parsed body: a body the
schemas refuse is the route's to refuse), and the exception a call raised (the engine's, a
challenge's), which the route raises instead of calling again, so that a held poll is never
held twice, a heartbeat never credited twice, a challenge never counted twice, and an error's
answer is the API's own. A token that does not check out is the route's to refuse, as is a
room, `me`, heartbeat or action request without one. The routes (api/participants.py) stay the
reference: they document the operations, and tests compare the front's answers with theirs.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from json import JSONEncoder
from typing import TYPE_CHECKING

from flask import Flask
from werkzeug.http import HTTP_STATUS_CODES

from magic_cube.api.auth import credential_of
from magic_cube.api.limits import COUNTED, Limits, Taken, address_key, verified_key
from magic_cube.api.parsing import (
    BODY,
    bodiless,
    loaded_body,
    loaded_headers,
    parse_body,
    read_sized_body,
    sized,
)
from magic_cube.api.participants import (
    ACTION_BODY,
    ACTION_HEADERS,
    FRONT_FAILED,
    HEARTBEAT_HEADERS,
    POLL_HEADERS,
    Action,
    ActivityView,
    Heartbeat,
    MeView,
    RoomView,
    action_answer,
    blp,
    encoded,
    held,
    participant_act,
)
from magic_cube.api.responses import kept_encoder
from magic_cube.api.schemas import number_text
from magic_cube.engine import Participant, ViewResponse
from magic_cube.errors import MagicCubeError
from magic_cube.i18n import negotiate

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# The environ key under which the metrics find the route a request was answered for.
ENDPOINT_KEY = "magic_cube.endpoint"
PUBLIC, ME, ROOM, HEARTBEAT, ACTION = (
    f"{blp.name}.{view.__name__}" for view in (ActivityView, MeView, RoomView, Heartbeat, Action))

# What the front takes: the routes' paths, with ids of the characters ids are made of (others
# match nothing, or something Flask decodes first), and a query of `wait` alone, in plain digits.
_ID = "([A-Za-z0-9_-]{1,100})"
_PATH = re.compile(rf"/v1/activities/{_ID}(/me|/rooms/{_ID})?")
_WAIT = re.compile(r"wait=([0-9.eE-]{1,32})")
_POST = re.compile(rf"/v1/activities/{_ID}/(?:heartbeat|actions/{_ID})")


@functools.cache
def _status(code: int) -> str:
    """The status line werkzeug would send (`200 OK`, `409 CONFLICT`, `304 NOT MODIFIED`)."""
    return f"{code} {HTTP_STATUS_CODES.get(code, 'unknown').upper()}"


class Front:
    """The WSGI middleware (see the module's docstring) in front of `flask_app`'s own
    `wsgi_app`, which is `app`."""

    def __init__(self, app: WSGIApplication, flask_app: Flask, limits: Limits) -> None:
        self.app = app
        self.flask_app = flask_app
        self.engine = flask_app.extensions["magic_cube"]
        self.limits = limits if limits.enabled else None
        self.challenges = flask_app.extensions["magic_cube_challenges"]
        # What the heartbeat's and actions' routes answer with (None in debug, where it
        # indents: the routes answer every heartbeat and action then).
        self.encoder = kept_encoder(flask_app)

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if method == "POST":
            found = _POST.fullmatch(environ.get("PATH_INFO", ""))
            encoder = self.encoder
            if found is None or environ.get("QUERY_STRING") or encoder is None:
                return self.app(environ, start_response)
            activity_id, action = found.group(1, 2)
            if action is not None:
                if not (sized(environ) or bodiless(environ)):
                    return self.app(environ, start_response)  # chunked, or a bad length
                return self._act(activity_id, action, encoder, environ, start_response)
            if not bodiless(environ):
                return self.app(environ, start_response)  # a body: the route checks it
            return self._beat(activity_id, encoder, environ, start_response)
        if method != "GET" or not bodiless(environ):
            return self.app(environ, start_response)
        found = _PATH.fullmatch(environ.get("PATH_INFO", ""))
        if found is None:
            return self.app(environ, start_response)
        wait = 0.0
        query = environ.get("QUERY_STRING", "")
        if query:
            asked = _WAIT.fullmatch(query)
            number = number_text(asked.group(1)) if asked else None
            if number is None or not 0 <= number <= 25:
                return self.app(environ, start_response)  # the route's 422, or another query
            wait = number
        activity_id, tail, room_id = found.group(1, 2, 3)
        return self._answer(activity_id, tail, room_id, wait, environ, start_response)

    def _counted(self, activity_id: str, endpoint: str, method: str, environ: WSGIEnvironment
                 ) -> tuple[Participant | None, Taken | None] | None:
        """(whom the token names, what was counted) for a request the front may answer; None
        when the route is to answer it, with what was counted left in the environ."""
        ip = address_key(environ.get("REMOTE_ADDR"))
        taken: Taken | None = None
        try:
            participant = self._participant(activity_id, environ)
            if self.limits is not None:
                # As the limiter's hook keys it (api/limits.py, `participant_key`): a
                # participant whose token checks out by their own key, anyone else by address.
                key = ip if participant is None else verified_key(activity_id, participant.id)
                taken = self.limits.take(self.limits.counted_for(key, ip, endpoint, method))
        except Exception:  # (a store out of reach): nothing counted; the route meets it too
            return None
        if (taken is not None and taken[3]) or (endpoint != PUBLIC and participant is None):
            # Refused (the limiter's hook answers it, uncounted), or the route refuses the
            # token (or its absence).
            environ[COUNTED] = taken
            return None
        return participant, taken

    def _answer(self, activity_id: str, tail: str | None, room_id: str | None, wait: float,
                environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        endpoint = PUBLIC if tail is None else ME if room_id is None else ROOM
        counted = self._counted(activity_id, endpoint, "GET", environ)
        if counted is None:
            return self.app(environ, start_response)
        participant, taken = counted
        try:
            view = held(wait, self._view(activity_id, room_id, participant, endpoint, wait,
                                         environ))
            body = b"" if view.body is None else encoded(view, self.flask_app.json)
        except Exception as exc:
            return self._failed(exc, taken, environ, start_response)
        headers: list[tuple[str, str]] = []
        if view.body is not None:
            headers += [("Content-Type", "application/json"),
                        ("Content-Length", str(len(body)))]
        headers += [("ETag", view.etag), *POLL_HEADERS.items()]
        return self._send(view.status, headers, body, taken, endpoint, environ, start_response)

    def _beat(self, activity_id: str, encoder: JSONEncoder, environ: WSGIEnvironment,
              start_response: StartResponse) -> Iterable[bytes]:
        counted = self._counted(activity_id, HEARTBEAT, "POST", environ)
        if counted is None:
            return self.app(environ, start_response)
        participant, taken = counted
        try:
            body = f"{encoder.encode(self.engine.heartbeat(activity_id, participant))}\n"
        except Exception as exc:
            return self._failed(exc, taken, environ, start_response)
        data = body.encode()
        headers = [*HEARTBEAT_HEADERS.items(), ("Content-Type", "application/json"),
                   ("Content-Length", str(len(data)))]
        return self._send(200, headers, data, taken, HEARTBEAT, environ, start_response)

    def _act(self, activity_id: str, action: str, encoder: JSONEncoder,
             environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        counted = self._counted(activity_id, ACTION, "POST", environ)
        if counted is None:
            return self.app(environ, start_response)
        participant, taken = counted
        assert participant is not None  # (`_counted` hands a request without one on)
        try:
            # As the route's hooks and the route read them: the body (left in the environ for
            # the route, should it answer after all), loaded with the headers through the
            # route's schemas; then the route's calls.
            raw = b"" if bodiless(environ) else read_sized_body(
                environ, self.flask_app.config["MAX_CONTENT_LENGTH"])
            body = environ[BODY] = parse_body(raw)
            outcome = participant_act(
                self.engine, self.challenges, activity_id,
                action, participant, loaded_body(ACTION_BODY, body),
                loaded_headers(ACTION_HEADERS, environ), environ.get("REMOTE_ADDR") or "",
                negotiate(environ.get("HTTP_ACCEPT_LANGUAGE")))
        except Exception as exc:
            return self._failed(exc, taken, environ, start_response)
        status, answer, extra = action_answer(outcome, self.engine.template_of(activity_id),
                                              action)
        data = f"{encoder.encode(answer)}\n".encode()
        return self._send(status, [*extra.items(), ("Content-Type", "application/json"),
                                   ("Content-Length", str(len(data)))],
                          data, taken, ACTION, environ, start_response)

    def _failed(self, exc: Exception, taken: Taken | None, environ: WSGIEnvironment,
                start_response: StartResponse) -> Iterable[bytes]:
        """The route's answer to a request whose call (the engine's, a challenge's) raised `exc`
        here: the route raises it as its own, having counted what the front counted."""
        environ[COUNTED] = taken
        environ[FRONT_FAILED] = exc
        return self.app(environ, start_response)

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes,
              taken: Taken | None, endpoint: str, environ: WSGIEnvironment,
              start_response: StartResponse) -> Iterable[bytes]:
        if taken is not None and self.limits is not None:
            headers += self.limits.header_values(taken)
        environ[ENDPOINT_KEY] = endpoint
        start_response(_status(status), headers)
        return [body] if body else []

    def _participant(self, activity_id: str, environ: WSGIEnvironment) -> Participant | None:
        """Whom the request's token names, if it checks out (api/limits.py, `_verified_key`)."""
        credential = credential_of(environ.get("HTTP_AUTHORIZATION", ""))
        if credential is None:
            return None
        try:
            participant: Participant = self.engine.authenticate_participant(activity_id,
                                                                            credential)
        except MagicCubeError:  # forged, expired, another merchant's, no such activity
            return None
        return participant

    def _view(self, activity_id: str, room_id: str | None, participant: Participant | None,
              endpoint: str, wait: float, environ: WSGIEnvironment
              ) -> Callable[[], ViewResponse]:
        """The engine call the endpoint's route makes."""
        engine, etag = self.engine, environ.get("HTTP_IF_NONE_MATCH")
        if endpoint == PUBLIC:
            lang = negotiate(environ.get("HTTP_ACCEPT_LANGUAGE"))
            return lambda: engine.public_view(activity_id, if_none_match=etag, wait=wait,
                                              lang=lang)
        if endpoint == ME:
            return lambda: engine.me_view(activity_id, participant, if_none_match=etag,
                                          wait=wait)
        return lambda: engine.room_view(activity_id, room_id, participant, if_none_match=etag,
                                        wait=wait)
