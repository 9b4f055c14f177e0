"""Absolute addresses of shopper pages and share links, for the API, the console and QR codes:
on the `public_url` setting when it is set (behind a proxy or a CDN), else on the address the
request came to."""

from __future__ import annotations

from typing import Any

from flask import current_app, url_for


def public_url(endpoint: str, **values: Any) -> str:
    base = current_app.extensions["magic_cube"].settings.public_url
    if base:
        return str(base).rstrip("/") + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)


def shopper_url(activity_id: str, room_id: str | None = None) -> str:
    """The shopper page of an activity, or of one of its rooms."""
    if room_id:
        return public_url("shopper.room_page", activity_id=activity_id, room_id=room_id)
    return public_url("shopper.activity_page", activity_id=activity_id)


def share_url(code: str) -> str:
    """A share link: counts an open, then leads to the page with the code as `via`."""
    return public_url("shopper.join", code=code)
