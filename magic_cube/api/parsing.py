"""Request bodies: strict JSON objects, read once, within the size limit.

webargs only reads a body sent as `application/json` and lets anything else fall through as
"missing", which would silently ignore a body a client meant. Here any non-empty body must be a
JSON object (whatever the Content-Type; some mini-program SDKs send text/plain): otherwise 400
`invalid_json`. An empty body counts as `{}`. Werkzeug enforces MAX_CONTENT_LENGTH while the body
is read, so an oversized body is a 413 before any parsing or any write.
"""

from __future__ import annotations

import json
from typing import Any

import flask
import flask_smorest
from webargs.flaskparser import FlaskParser

from magic_cube.api.errors import InvalidJson


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_body(raw: bytes) -> dict[str, Any]:
    """The body as a dict; `{}` when empty; `InvalidJson` otherwise."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw.decode("utf-8-sig"), parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidJson("The request body is not valid JSON") from exc
    if not isinstance(value, dict):
        raise InvalidJson("The request body must be a JSON object")
    if "\\u0000" in raw.decode("utf-8-sig"):
        # PostgreSQL text cannot hold NUL; refuse it alike on every store.
        raise InvalidJson("Text in the request may not contain NUL characters")
    return value


class JsonBodyParser(FlaskParser):
    def _raw_load_json(self, req: flask.Request) -> Any:
        return parse_body(req.get_data(cache=True))


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint with our body parser."""

    ARGUMENTS_PARSER = JsonBodyParser()
