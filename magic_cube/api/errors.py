"""The one error handler: every failure, ours or Flask's, becomes the same JSON body

    {"error": code, "message": str, "status": int, "errors": {...}}

with a stable machine `code` (clients switch on it) and `errors` only when there are details,
keyed by field path. Engine errors carry their own code and status; HTTP errors raised by
Flask/Werkzeug (unknown route, wrong method, oversized body) and marshmallow validation are
mapped here; anything else is logged and answered as `internal_error`, never a traceback.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, has_request_context, jsonify
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from magic_cube import metrics
from magic_cube.api.context import request_lang
from magic_cube.api.field_messages import translated
from magic_cube.api.times import iso_times
from magic_cube.catalog import TemplateNotFound
from magic_cube.engine.errors import EngineError
from magic_cube.engine.lifecycle import OUT_OF_RANGE
from magic_cube.errors import MagicCubeError
from magic_cube.i18n import N_, gettext


class ApiError(EngineError):
    """An error found by the HTTP layer itself (before the engine is asked)."""


class InvalidJson(ApiError):
    code, status, message = "invalid_json", 400, N_("The request body must be a JSON object")


class ValidationFailed(ApiError):
    code, status, message = "validation_error", 422, N_("The request is not valid")


class PayloadTooLarge(ApiError):
    code, status, message = "payload_too_large", 413, N_("The request body is too large")


class RouteNotFound(ApiError):
    code, status, message = "not_found", 404, N_("No such endpoint")


class MethodNotAllowed(ApiError):
    code, status = "method_not_allowed", 405
    message = N_("This endpoint does not accept that method")


class BadRequest(ApiError):
    code, status, message = "bad_request", 400, N_("The request could not be understood")


class InvalidWait(ApiError):
    code, status, message = "invalid_wait", 422, N_("wait must be a number of seconds from 0 to 25")


class RateLimited(ApiError):
    code, status, message = "rate_limited", 429, N_("Too many requests; retry after the time given")


class InternalError(ApiError):
    code, status, message = "internal_error", 500, N_("The server failed to handle the request")


class Unavailable(ApiError):
    code, status, message = "unavailable", 503, N_("The service cannot reach its database")


NUL_IN_QUERY = N_("Text may not contain NUL characters")  # a query parameter's field error


# Codes this module produces on its own, beyond the engine's (docs/api.md lists them all; a test
# checks). status -> the error raised for an HTTP exception with that status.
HTTP_ERRORS: dict[int, type[ApiError]] = {
    400: BadRequest, 404: RouteNotFound, 405: MethodNotAllowed, 413: PayloadTooLarge,
    422: ValidationFailed, 429: RateLimited, 500: InternalError, 503: Unavailable,
}
HANDLER_CODES: dict[str, int] = {
    cls.code: cls.status
    for cls in (InvalidJson, ValidationFailed, PayloadTooLarge, RouteNotFound, MethodNotAllowed,
                BadRequest, InvalidWait, RateLimited, InternalError, Unavailable)
}
HANDLER_CODES.update({"template_not_found": 404,
                      "template_mismatch": 500, "conflict": 409})

# marshmallow's default messages -> a stable code per field error.
_MESSAGE_CODES = (
    ("Missing data for required field", "required"),
    ("Unknown field", "unknown_field"),
    ("Field may not be null", "null"),
    ("Not a valid", "type"),
    ("Invalid input type", "type"),
    ("Must be greater", "range"),
    ("Must be less", "range"),
    ("Must be one of", "enum"),
    (OUT_OF_RANGE, "out_of_range"),
    ("Length must be", "length"),
    ("Shorter than", "length"),
    ("Longer than", "length"),
)


def field_errors(messages: Any, prefix: str = "") -> dict[str, list[dict[str, str]]]:
    """marshmallow's nested messages flattened to `{"a.b.0": [{"code", "message"}]}` — the shape
    the engine uses for config errors, so a client renders both the same way."""
    out: dict[str, list[dict[str, str]]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = "" if key == "_schema" else str(key)
            path = ".".join(p for p in (prefix, name) if p)
            for sub, entries in field_errors(value, path).items():
                out.setdefault(sub, []).extend(entries)
    elif isinstance(messages, list | tuple):
        for item in messages:
            if isinstance(item, dict | list | tuple):
                for sub, entries in field_errors(item, prefix).items():
                    out.setdefault(sub, []).extend(entries)
            else:
                out.setdefault(prefix, []).append(_entry(str(item)))
    else:
        out.setdefault(prefix, []).append(_entry(str(messages)))
    return out


def _entry(message: str) -> dict[str, str]:
    code = next((c for start, c in _MESSAGE_CODES if message.startswith(start)), "invalid")
    return {"code": code, "message": message}


def _validation_error(exc: HTTPException) -> EngineError | None:
    """webargs/flask-smorest validation failures carry `data["messages"]` keyed by location."""
    data = getattr(exc, "data", None)
    if not isinstance(data, dict) or "messages" not in data:
        return None
    messages = data["messages"]
    # Strip the location level ({"json": {...}, "query": {...}}): a field name is enough.
    if isinstance(messages, dict) and set(messages) <= {"json", "query", "headers", "view_args",
                                                         "path", "form", "files", "cookies"}:
        merged: dict[str, Any] = {}
        for value in messages.values():
            if isinstance(value, dict):
                merged.update(value)
            else:
                merged.setdefault("_schema", value)
        messages = merged
    if exc.code == 400:  # webargs' own "Invalid JSON body."
        return InvalidJson()
    return ValidationFailed(errors=field_errors(messages))


def as_api_error(exc: BaseException) -> EngineError:
    """The `EngineError` that describes `exc` to a client."""
    if isinstance(exc, EngineError):
        return exc
    if isinstance(exc, TemplateNotFound):
        return EngineError(str(exc), code="template_not_found", status=404)
    if isinstance(exc, HTTPException):
        found = _validation_error(exc)
        if found is not None:
            return found
        status = exc.code or 500
        cls = HTTP_ERRORS.get(status) or (BadRequest if status < 500 else InternalError)
        error = cls()
        error.status = status
        return error
    code = getattr(exc, "code", None)
    if isinstance(exc, MagicCubeError) and isinstance(code, str):
        # A deliberate error from a lower layer (the store's Conflict, a changed template).
        status = getattr(exc, "status", 500)
        message = str(exc) if status < 500 else InternalError.message
        if code == "template_mismatch":
            message = N_("The activity's template was changed on the server; an operator "
                         "must fix it")
        return EngineError(message, code=code, status=status)
    return InternalError()


def handle_error(exc: Exception) -> ResponseReturnValue:
    error = as_api_error(exc)
    metrics.record_refusal(error.code)
    if error.status >= 500:
        original = getattr(exc, "original_exception", None) or exc
        if not isinstance(original, HTTPException):
            current_app.logger.error("unhandled error: %s", original, exc_info=original)
    body = iso_times(error.body())  # a time in the details too (`redeemed_at`)
    lang = request_lang() if has_request_context() else "en"
    if lang != "en":  # our own words in the request's language, where the catalog has them
        words = {name: gettext(lang, word) for name, word in error.words.items()}
        body["message"] = gettext(lang, error.msgid, **error.values, **words) \
            if error.values or words else gettext(lang, body["message"])
        for details in body.get("errors", {}).values():  # `status`: "The activity is paused"
            for detail in details if isinstance(details, list) else ():
                if isinstance(detail, dict) and isinstance(detail.get("message"), str):
                    detail["message"] = translated(lang, detail["message"])
    response = jsonify(body)
    response.status_code = error.status
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="magic-cube"'
    if isinstance(exc, HTTPException) and exc.code == 405:
        for name, value in exc.get_headers():
            if name.lower() == "allow":
                response.headers["Allow"] = value
    response.headers["Cache-Control"] = "no-store"
    return response


def register_error_handler(app: Flask) -> None:
    # One handler for everything: HTTPException subclasses and any other Exception alike.
    app.register_error_handler(Exception, handle_error)
