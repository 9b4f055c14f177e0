"""The shopper's side: a phone page for every activity and room, served at `/s/…`."""

from __future__ import annotations

from flask import Flask

from magic_cube.shopper.pages import bp


def init_app(app: Flask) -> None:
    """Mount the shopper pages on `app` (whose engine is at `app.extensions["magic_cube"]`)."""
    if "shopper" not in app.blueprints:
        app.register_blueprint(bp)
