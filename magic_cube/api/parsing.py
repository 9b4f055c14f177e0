"""Request bodies: strict JSON objects, read once, within the size limit.

webargs only reads a body sent as `application/json` and lets anything else fall through as
"missing", which would silently ignore a body a client meant. Here any non-empty body must be a
JSON object (whatever the Content-Type; some mini-program SDKs send text/plain): otherwise 400
`invalid_json`. An empty body counts as `{}`. Werkzeug enforces MAX_CONTENT_LENGTH while the body
is read, so an oversized body is a 413 before any parsing or any write; `Request` makes that
hold for a body sent without a Content-Length (chunked) too.

This is the one place every JSON body of the API is parsed, so text no store can hold is refused
here, for every field at once: a NUL (PostgreSQL text cannot hold it) and a lone UTF-16
surrogate (`"\\ud800"`: valid JSON escapes, but not Unicode text, so neither UTF-8 nor any
database can store it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import IO, Any, cast

import flask
import flask_smorest
from marshmallow import Schema, ValidationError
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream, get_input_stream

from magic_cube.api.errors import InvalidJson, ValidationFailed, field_errors


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
    if b"\\u" in raw:  # both come only from escapes: raw UTF-8 has neither
        _check_text(value)
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_text(value: Any) -> None:
    """Refuse NULs and lone surrogates in any key or string, at any depth (iteratively: a body
    nested as deep as json.loads allows must not overflow the stack here)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                # PostgreSQL text cannot hold NUL; refuse it alike on every store.
                raise InvalidJson("Text in the request may not contain NUL characters")
            if _SURROGATE.search(item):
                raise InvalidJson("Text in the request must be Unicode: a \\ud800-\\udfff "
                                  "escape must be half of a surrogate pair")


class CappedStream(LimitedStream):
    """A body without a length, read up to `limit` bytes: one byte more is a 413. (werkzeug's
    own stream for it stops quietly at the limit, and the cut body would be read as a shorter
    one: invalid JSON at best, a different request at worst.)"""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        super().__init__(stream, limit + 1, is_max=True)

    def readinto(self, b: Any) -> int | None:
        size = super().readinto(b)
        if self.tell() >= self.limit:  # limit + 1 bytes came: more than allowed
            raise RequestEntityTooLarge()
        return size


class Request(flask.Request):
    """Flask's request, whose body stream refuses a chunked body over `max_content_length`
    (413) the way werkzeug refuses a Content-Length over it."""

    @cached_property
    def stream(self) -> IO[bytes]:
        if self.shallow:
            raise RuntimeError("A shallow request may not read its body")
        limit = self.max_content_length
        if (limit is not None and self.content_length is None
                and "wsgi.input_terminated" in self.environ):  # chunked: the server ends it
            return cast(IO[bytes], CappedStream(self.environ["wsgi.input"], limit))
        return get_input_stream(self.environ, max_content_length=limit)


class JsonBodyParser(FlaskParser):
    def _raw_load_json(self, req: flask.Request) -> Any:
        return parse_body(req.get_data(cache=True))


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint with our body parser."""

    ARGUMENTS_PARSER = JsonBodyParser()


# The hottest routes (a participant's action) read their arguments here rather than through
# flask-smorest's `arguments` wrappers (which they keep, documentation only): the same schemas,
# the same errors, without webargs' machinery around two small loads.

def load_body(schema: Schema) -> dict[str, Any]:
    """The request's JSON body loaded through `schema`, as `blp.arguments(schema)` does."""
    return _load(schema, parse_body(flask.request.get_data(cache=True)))


def load_headers(schema: Schema) -> dict[str, Any]:
    """The headers `schema` declares, loaded through it, as `blp.arguments(schema,
    location="headers")` does (other headers are ignored)."""
    environ = flask.request.environ
    present = {name: environ[key] for name, key in _header_keys(schema) if key in environ}
    return _load(schema, present) if present else {}


def _load(schema: Schema, data: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return schema.load(data)
    except ValidationError as exc:  # what the wrappers' 422 becomes (errors.as_api_error)
        raise ValidationFailed(errors=field_errors(exc.messages)) from exc


_HEADER_KEYS: dict[type, list[tuple[str, str]]] = {}


def _header_keys(schema: Schema) -> list[tuple[str, str]]:
    """(header name, WSGI environ key) of each field of `schema`."""
    keys = _HEADER_KEYS.get(type(schema))
    if keys is None:
        keys = _HEADER_KEYS[type(schema)] = [
            (name, "HTTP_" + name.upper().replace("-", "_"))
            for name in (f.data_key or f.name for f in schema.fields.values()) if name]
    return keys
