"""The JSON API for mini-programs and merchant backends (flask-smorest, OpenAPI 3).

`init_api(app)` registers the blueprints — participants, merchant, events, templates, health —
the one error handler and the offline `/docs` page on an app whose engine is already built.
"""

from __future__ import annotations

import flask_smorest
from flask import Flask, request

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
from magic_cube.api.errors import RouteNotFound, register_error_handler
from magic_cube.api.schemas import ErrorSchema


class Api(flask_smorest.Api):
    # Documents our error body for every status flask-smorest describes by default.
    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        register_error_handler(self._app)


def _refuse_nul_in_url() -> None:
    # A NUL in a path or query cannot name anything we store (PostgreSQL text refuses it).
    # Read from the environ, as werkzeug builds `path` and `query_string` from it.
    environ = request.environ
    if "\x00" in environ.get("PATH_INFO", "") or "\x00" in environ.get("QUERY_STRING", ""):
        raise RouteNotFound()


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
