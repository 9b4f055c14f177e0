"""The JSON API for mini-programs and merchant backends (flask-smorest, OpenAPI 3).

`init_api(app)` registers the blueprints — participants, merchant, events, templates, health —
the one error handler and the offline `/docs` page on an app whose engine is already built.
"""

from __future__ import annotations

import flask_smorest
from flask import Flask, current_app, request
from werkzeug.exceptions import NotFound

from magic_cube.api import (
    blocks,
    campaigns,
    catalog,
    events,
    forecast,
    merchant,
    meta,
    participants,
    sharing,
)
from magic_cube.api.errors import NUL_IN_QUERY, ValidationFailed, register_error_handler
from magic_cube.api.parsing import Blueprint
from magic_cube.api.schemas import ErrorSchema


class Api(flask_smorest.Api):
    # Documents our error body for every status flask-smorest describes by default.
    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        register_error_handler(self._app)


def _refuse_nul_in_url() -> None:
    # A NUL in a path or query cannot name anything we store (PostgreSQL text refuses it).
    # Read from the environ, as werkzeug builds `path` and `query_string` from it: the path
    # comes decoded, the query as sent (`%00`, or a raw NUL from a lax client).
    environ = request.environ
    if "\x00" in environ.get("PATH_INFO", ""):
        raise NotFound()  # the API's JSON not_found, the console's or a page's own 404
    query = environ.get("QUERY_STRING", "")
    if "%00" in query or "\x00" in query:
        _refuse_nul_in_query()


def _refuse_nul_in_query() -> None:
    """422 `validation_error` keyed by each query parameter holding a NUL, on the API's
    routes; elsewhere (the console, the shopper pages) such a URL names nothing: 404."""
    found = sorted({name for name, value in request.args.items(multi=True)
                    if "\x00" in name or "\x00" in value})
    if not found or not isinstance(current_app.blueprints.get(request.blueprint or ""),
                                   Blueprint):
        raise NotFound()
    raise ValidationFailed(errors={name.replace("\x00", "\\0"): [
        {"code": "invalid", "message": NUL_IN_QUERY}] for name in found})


def init_api(app: Flask) -> Api:
    api = Api(app)
    api.spec.components.security_scheme("participantToken", {
        "type": "http", "scheme": "bearer",
        "description": "A participant token signed with the merchant's participant secret "
                       "(POST /v1/merchant/participant-tokens, or signed by your backend)"})
    api.spec.components.security_scheme("apiKey", {
        "type": "http", "scheme": "bearer", "bearerFormat": "mck_…",
        "description": "The merchant's API key"})
    app.before_request(_refuse_nul_in_url)
    api.register_blueprint(participants.blp)
    api.register_blueprint(sharing.blp)
    api.register_blueprint(merchant.blp)
    api.register_blueprint(events.blp)
    api.register_blueprint(forecast.blp)
    api.register_blueprint(campaigns.blp)
    api.register_blueprint(blocks.blp)
    api.register_blueprint(catalog.blp)
    api.register_blueprint(meta.blp)
    app.register_blueprint(meta.docs)
    return api
