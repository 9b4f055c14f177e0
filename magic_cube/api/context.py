"""What every endpoint needs from the request context: the engine and the client's language."""

from __future__ import annotations

from flask import current_app, request

from magic_cube.engine import Engine

LANGUAGES = ("en", "zh")


def get_engine() -> Engine:
    """The app's one engine (built by `create_app`)."""
    return current_app.extensions["magic_cube"]


def request_lang() -> str:
    """`zh` or `en` from `Accept-Language` (`zh-CN` counts as `zh`); `en` by default."""
    return request.accept_languages.best_match(LANGUAGES, default="en") or "en"
