"""An activity's public view, answered in front of Flask.

`GET /v1/activities/<id>` is what every phone watching an activity holds, and a broadcast
answers hundreds of them at once. Their answer is cheap (the activity's version read, compared
with `If-None-Match`, or a body serialised once for all of them), and Flask's request context,
URL routing, hooks and response objects cost more than it. `PublicPolls`, a WSGI middleware,
answers the plain requests itself: a GET of that path, with no token, no body, and no query but
a valid `wait`. It makes the same engine call as the route, counts the same rate limits with
the same keys, and sends the same status, headers and body bytes; the metrics record it under
the route's name.

Everything else goes to Flask unchanged: another path or method, a token (its participant is
counted by their own key), any other query, a body. So does a request the door took but cannot
answer, with what the door did left in its environ for the route: what it counted (a refusal
is a 429 from the limiter's hook, counted once), and the engine's exception, which the route
raises instead of calling the engine again, so that a held poll is never held twice and an
error's answer is the API's own. The route (api/participants.py, `ActivityView`) stays the
reference: it documents the operation, and tests compare the door's answers with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from flask import Flask

from magic_cube.api.limits import COUNTED, Limits, Taken
from magic_cube.api.participants import (
    DOOR_FAILED,
    POLL_HEADERS,
    ActivityView,
    blp,
    encoded,
    held,
)
from magic_cube.api.schemas import number_text
from magic_cube.i18n import negotiate

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# The environ key under which the metrics find the route a request was answered for.
ENDPOINT_KEY = "magic_cube.endpoint"
ENDPOINT = f"{blp.name}.{ActivityView.__name__}"

# What the door takes: the route's path, with an id of the characters ids are made of (others
# match nothing, or something Flask decodes first), and a query of `wait` alone, in plain digits.
_PATH = re.compile(r"/v1/activities/([A-Za-z0-9_-]{1,100})")
_WAIT = re.compile(r"wait=([0-9.eE-]{1,32})")
_STATUS = {200: "200 OK", 304: "304 NOT MODIFIED"}  # werkzeug's spelling


class PublicPolls:
    """The WSGI middleware (see the module's docstring) in front of `flask_app`'s own
    `wsgi_app`, which is `app`."""

    def __init__(self, app: WSGIApplication, flask_app: Flask, limits: Limits) -> None:
        self.app = app
        self.flask_app = flask_app
        self.engine = flask_app.extensions["magic_cube"]
        self.limits = limits if limits.enabled else None

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "GET":
            return self.app(environ, start_response)
        found = _PATH.fullmatch(environ.get("PATH_INFO", ""))
        if found is None or "HTTP_AUTHORIZATION" in environ \
                or environ.get("CONTENT_LENGTH", "") not in ("", "0") \
                or "HTTP_TRANSFER_ENCODING" in environ:
            return self.app(environ, start_response)
        wait = 0.0
        query = environ.get("QUERY_STRING", "")
        if query:
            asked = _WAIT.fullmatch(query)
            number = number_text(asked.group(1)) if asked else None
            if number is None or not 0 <= number <= 25:
                return self.app(environ, start_response)  # the route's 422, or another query
            wait = number
        return self._answer(found.group(1), wait, environ, start_response)

    def _answer(self, activity_id: str, wait: float, environ: WSGIEnvironment,
                start_response: StartResponse) -> Iterable[bytes]:
        taken: Taken | None = None
        if self.limits is not None:
            ip = f"ip:{environ.get('REMOTE_ADDR') or '127.0.0.1'}"
            taken = self.limits.take(self.limits.counted_for(ip, ip, ENDPOINT, "GET"))
            if taken is not None and taken[3]:
                environ[COUNTED] = taken  # refused: the limiter's hook answers it, uncounted
                return self.app(environ, start_response)
        engine = self.engine
        try:
            view = held(wait, lambda: engine.public_view(
                activity_id, if_none_match=environ.get("HTTP_IF_NONE_MATCH"), wait=wait,
                lang=negotiate(environ.get("HTTP_ACCEPT_LANGUAGE"))))
            body = b"" if view.body is None else encoded(view, self.flask_app.json)
        except Exception as exc:  # the route answers it as its own, from what the door did
            environ[COUNTED] = taken
            environ[DOOR_FAILED] = exc
            return self.app(environ, start_response)
        headers: list[tuple[str, str]] = []
        if view.body is not None:
            headers += [("Content-Type", "application/json"),
                        ("Content-Length", str(len(body)))]
        headers += [("ETag", view.etag), *POLL_HEADERS.items()]
        if taken is not None and self.limits is not None:
            headers += self.limits.header_values(taken)
        environ[ENDPOINT_KEY] = ENDPOINT
        start_response(_STATUS[view.status], headers)
        return [body] if body else []

