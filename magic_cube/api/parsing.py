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

The same rules hold for every endpoint, those that take no body too (`check_body`, a hook of
the API's blueprints): a body sent to one is read and must be a JSON object with no fields, so
that neither 5 MB nor `{` nor a mistyped field is silently ignored.
"""

from __future__ import annotations

import copy
import io
import json
import re
from collections.abc import Callable, Mapping
from typing import IO, Any, cast

import flask
import flask_smorest
from marshmallow import Schema, ValidationError
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream, get_input_stream

from magic_cube.api.context import current_request
from magic_cube.api.errors import InvalidJson, ValidationFailed, field_errors
from magic_cube.i18n import N_


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_no_constants)  # (json.loads makes one per call)


def parse_body(raw: bytes) -> dict[str, Any]:
    """The body as a dict; `{}` when empty; `InvalidJson` otherwise."""
    if raw == b"{}" or not raw.strip():  # (what most actions send)
        return {}
    try:
        value = _DECODER.decode(raw.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidJson(N_("The request body is not valid JSON")) from exc
    if not isinstance(value, dict):
        raise InvalidJson(N_("The request body must be a JSON object"))
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH and _too_deep(value):
        raise InvalidJson(TOO_DEEP)
    if b"\\u" in raw:  # both come only from escapes: raw UTF-8 has neither
        _check_text(value)
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")

# No body of ours nests deeper than a few levels; one nested deeper than this is refused as a
# whole, before the schemas, a config's validation or a deep copy recurse through it (Python's
# stack runs out near a thousand levels: a 500 where the client erred).
MAX_DEPTH = 64
TOO_DEEP = N_("The request body is nested too deeply (at most 64 levels of objects and lists)")


def _too_deep(value: Any) -> bool:
    """Whether `value` has objects or lists nested more than `MAX_DEPTH` deep (iteratively)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, dict | list):
                if depth >= MAX_DEPTH:
                    return True
                stack.append((child, depth + 1))
    return False


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
                raise InvalidJson(N_("Text in the request may not contain NUL characters"))
            if _SURROGATE.search(item):
                raise InvalidJson(N_("Text in the request must be Unicode: a \\ud800-\\udfff "
                                     "escape must be half of a surrogate pair"))


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


BODY = "magic_cube.body"  # the environ key of the parsed body: parsed once per request


def body_of(request: flask.Request) -> dict[str, Any]:
    """`request`'s body as a JSON object (`parse_body`), parsed once however often asked."""
    body = request.environ.get(BODY)
    if body is None:
        body = request.environ[BODY] = parse_body(_raw_body(request))
    return body


def _raw_body(request: flask.Request) -> bytes:
    """The body's bytes. One with a Content-Length (what clients send an action with) is read
    by `read_sized_body`; any other (chunked, no length) goes through werkzeug's stream
    (`Request`)."""
    environ = request.environ
    if not sized(environ) or "stream" in request.__dict__:
        return cast(bytes, request.get_data(cache=True))
    return read_sized_body(environ, request.max_content_length)


def bodiless(environ: Mapping[str, Any]) -> bool:
    """Whether the request comes without a body (no length, or 0, and no Transfer-Encoding)."""
    return environ.get("CONTENT_LENGTH", "") in ("", "0") \
        and "HTTP_TRANSFER_ENCODING" not in environ


def sized(environ: Mapping[str, Any]) -> bool:
    """Whether the request's body comes with a Content-Length (and no Transfer-Encoding)."""
    length = environ.get("CONTENT_LENGTH", "")
    return length.isascii() and length.isdigit() and "HTTP_TRANSFER_ENCODING" not in environ


def read_sized_body(environ: dict[str, Any], limit: int | None) -> bytes:
    """The bytes of a `sized` body, read straight from the server's stream as werkzeug's
    would be — over `limit` a 413; broken off, or cut short where the server does not end
    the stream itself, a 400 — and left readable (what was read of it) for anything that
    reads the body again."""
    size = int(environ["CONTENT_LENGTH"])
    if limit is not None and size > limit:
        raise RequestEntityTooLarge()
    data = b""
    try:
        data = environ["wsgi.input"].read(size) if size else b""
    except (OSError, ValueError) as exc:  # the client went away mid-body
        raise ClientDisconnected() from exc
    finally:
        environ["wsgi.input"] = io.BytesIO(data)
    if len(data) < size and "wsgi.input_terminated" not in environ:
        raise ClientDisconnected()
    return cast(bytes, data)


class JsonBodyParser(FlaskParser):
    def _raw_load_json(self, req: flask.Request) -> Any:
        return body_of(req)


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint with our body parser, whose routes never merge slashes:
    werkzeug would answer `/v1/activities//ID` with an HTML redirect to `/v1/activities/ID`
    (and `/v1/activities//me` to the activity `me`); an empty segment names nothing, so it is
    the JSON `404 not_found` of any unknown path."""

    ARGUMENTS_PARSER = JsonBodyParser()

    def add_url_rule(self, rule: str, *args: Any, **options: Any) -> None:
        options.setdefault("merge_slashes", False)
        super().add_url_rule(rule, *args, **options)


# The hottest routes (a participant's action) read their arguments here rather than through
# flask-smorest's `arguments` wrappers (which they keep, documentation only): the same schemas,
# the same errors, without webargs' machinery around two small loads.

def load_body(schema: Schema) -> dict[str, Any]:
    """The request's JSON body loaded through `schema`, as `blp.arguments(schema)` does."""
    return loaded_body(schema, body_of(current_request()))


def loaded_body(schema: Schema, body: dict[str, Any]) -> dict[str, Any]:
    """`body` (parsed by `parse_body`) loaded through `schema`, as `load_body` loads it."""
    if body:
        return _load(schema, body)
    # An empty body (most actions send `{}`) loads to the schema's defaults, the same every
    # time: loaded once per schema, each answer with containers of its own.
    empty = _LOADED_EMPTY.get(type(schema))
    if empty is None:
        empty = _LOADED_EMPTY[type(schema)] = _load(schema, {})
    return {k: copy.deepcopy(v) if isinstance(v, dict | list) else v for k, v in empty.items()}


_LOADED_EMPTY: dict[type, dict[str, Any]] = {}


def load_headers(schema: Schema) -> dict[str, Any]:
    """The headers `schema` declares, loaded through it, as `blp.arguments(schema,
    location="headers")` does (other headers are ignored)."""
    return loaded_headers(schema, flask.request.environ)


def loaded_headers(schema: Schema, environ: Mapping[str, Any]) -> dict[str, Any]:
    """`load_headers` of the request whose WSGI environ is `environ`."""
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


# Every endpoint's body ---------------------------------------------------------------------

NO_FIELDS = Schema()  # what an endpoint that takes no body accepts: `{}` (or nothing)


def check_body() -> None:
    """A body sent to any endpoint of the API is within the size limit (413) and a JSON object
    (400 `invalid_json`); one sent to an endpoint that takes none has no fields (422
    `unknown_field`, as an unknown field of any body). Run last of the blueprint's hooks, so
    that a wrong key or a rate limit refuses a request before its body is read. A request
    without a body (every poll) costs a look at two headers."""
    request = current_request()
    if bodiless(request.environ):
        return
    body = body_of(request)
    if body and not takes_body():
        _load(NO_FIELDS, body)


_TAKES_BODY: dict[tuple[Callable[..., Any], str], bool] = {}


def takes_body() -> bool:
    """Whether the endpoint reads a JSON body: its view declares one with flask-smorest's
    `arguments` (location `json`), which records it in the view's `_apidoc` (as `doc_only`
    keeps it). Worked out once per view and method."""
    request = flask.request
    view = flask.current_app.view_functions.get(request.endpoint or "")
    if view is None:
        return False
    found = _TAKES_BODY.get((view, request.method))
    if found is None:
        handler = getattr(getattr(view, "view_class", None), request.method.lower(), view)
        arguments = getattr(handler, "_apidoc", {}).get("arguments", {})
        found = any(p.get("in") == "json" for p in arguments.get("parameters", []))
        _TAKES_BODY[(view, request.method)] = found
    return found


def check_bodies(app: flask.Flask) -> None:
    """`check_body` for every request to a blueprint of the API (ours: not the console's
    forms, nor the shopper pages), after the hooks registered so far."""
    for name, blueprint in app.blueprints.items():
        if isinstance(blueprint, Blueprint):
            app.before_request_funcs.setdefault(name, []).append(check_body)
