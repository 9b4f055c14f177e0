"""Helpers shared by the blueprints: documenting error responses, raw JSON responses."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, jsonify
from flask.json.provider import DefaultJSONProvider

from magic_cube.api.codes import status_of
from magic_cube.api.schemas import ErrorSchema

# Statuses a template's own refusal codes use (docs/templates.md: `errors`).
REFUSAL_STATUSES = (403, 409, 422, 429)
REFUSAL_NOTE = "or a refusal by the template's rules, with the template's own code (its `errors`)"
# What any endpoint answers to a body it cannot take (api/parsing.py, `check_body`).
BODY_CODES = ("invalid_json", "payload_too_large", "validation_error")


def doc_only(decorator: Callable) -> Callable:
    """`decorator`, one of flask-smorest's that only document (`doc`, `alt_response`, or
    `response` on a view that always returns a Response), adding its documentation to the
    function without wrapping it: each wrapper would cost a call and an `ensure_sync` on every
    request, and an operation documents up to a dozen error statuses."""

    def apply(func: Callable) -> Callable:
        func._apidoc = decorator(func)._apidoc  # type: ignore[attr-defined]
        return func

    return apply


def documents_errors(blp: Any, *codes: str, refusals: bool = False) -> Callable:
    """Document the error responses an operation can give, one entry per status listing the
    codes, all with the one error body (documentation only: no wrapper). Every operation
    refuses a body it cannot take (`BODY_CODES`)."""
    by_status: dict[int, list[str]] = defaultdict(list)
    for code in dict.fromkeys((*codes, *BODY_CODES)):
        by_status[status_of(code)].append(code)
    if refusals:
        for status in REFUSAL_STATUSES:
            by_status.setdefault(status, [])

    def decorator(func: Callable) -> Callable:
        for status, found in sorted(by_status.items()):
            listed = ", ".join(f"`{c}`" for c in found)
            if refusals and status in REFUSAL_STATUSES:
                description = (f"{listed} {REFUSAL_NOTE}" if listed
                               else REFUSAL_NOTE.removeprefix("or "))
            else:
                description = listed
            func = doc_only(blp.alt_response(status, schema=ErrorSchema,
                                             description=description))(func)
        return func

    return decorator


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response passed through as is (flask-smorest does not re-serialise a Response):
    the text `jsonify` would give, written by an encoder the app keeps rather than one made
    for each answer (every action is answered here)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    encoder = kept_encoder(app)
    if encoder is None:
        response = jsonify(body)  # indented, or another provider's own rules
        response.status_code = status
        response.headers.update(headers or {})
        return response
    return app.response_class(f"{encoder.encode(body)}\n", status, headers,
                              mimetype=app.json.mimetype)


def kept_encoder(app: Flask) -> json.JSONEncoder | None:
    """The encoder that writes what `jsonify` writes, kept by `app`; None when `jsonify` indents
    (debug) or the app has a JSON provider of its own, whose rules only `jsonify` knows."""
    provider = app.json
    if type(provider) is not DefaultJSONProvider or provider.compact is False \
            or (provider.compact is None and app.debug):
        return None
    encoder: json.JSONEncoder | None = app.extensions.get(_ENCODER)
    if encoder is None:
        encoder = app.extensions[_ENCODER] = json.JSONEncoder(
            default=provider.default, ensure_ascii=provider.ensure_ascii,
            sort_keys=provider.sort_keys, separators=(",", ":"))
    return encoder


_ENCODER = "magic_cube.json_encoder"  # the app's, for `json_response`
