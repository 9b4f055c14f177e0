"""What every endpoint needs from the request context: the engine and the client's language."""

from __future__ import annotations

from functools import lru_cache

from flask import current_app, request
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from magic_cube.engine import Engine

LANGUAGES = ("en", "zh")


def get_engine() -> Engine:
    """The app's one engine (built by `create_app`)."""
    return current_app.extensions["magic_cube"]


def request_lang() -> str:
    """`zh` or `en` from `Accept-Language` (`zh-CN` counts as `zh`); `en` by default."""
    return language_of(request.headers.get("Accept-Language"))


@lru_cache(maxsize=512)
def language_of(header: str | None) -> str:
    """The language an `Accept-Language` header asks for, worked out once per header: clients
    send a handful of distinct headers, and parsing one costs more than a 304 poll's own
    work."""
    accepted = parse_accept_header(header, LanguageAccept)
    return accepted.best_match(LANGUAGES, default="en") or "en"
