"""What every endpoint needs from the request context: the engine and the client's language."""

from __future__ import annotations

from typing import Any, cast

from flask import Request, current_app, request

from magic_cube.engine import Engine
from magic_cube.i18n import negotiate

LANGUAGES = ("en", "zh")


def current_request() -> Request:
    """The request itself: each use of Flask's `request` proxy looks it up again, which the
    hottest paths (an action, a poll) do once."""
    return cast(Any, request)._get_current_object()


def get_engine() -> Engine:
    """The app's one engine (built by `create_app`)."""
    return current_app.extensions["magic_cube"]


def request_lang() -> str:
    """`zh` or `en` from `Accept-Language` (`negotiate`); `en` by default."""
    return negotiate(request.headers.get("Accept-Language"))
