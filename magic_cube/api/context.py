"""What every endpoint needs from the request context: the engine and the client's language."""

from __future__ import annotations

from flask import current_app, request

from magic_cube.engine import Engine
from magic_cube.i18n import negotiate

LANGUAGES = ("en", "zh")


def get_engine() -> Engine:
    """The app's one engine (built by `create_app`)."""
    return current_app.extensions["magic_cube"]


def request_lang() -> str:
    """`zh` or `en` from `Accept-Language` (`negotiate`); `en` by default."""
    return negotiate(request.headers.get("Accept-Language"))
