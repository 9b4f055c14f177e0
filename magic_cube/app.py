"""The Flask application factory (flaskr style).

`create_app()` loads the settings, opens the store (a relative SQLite path lives under the
app's instance folder), applies migrations, discovers the template catalog once and builds the
one `Engine` the API uses (`app.extensions["magic_cube"]`).

Tests pass `create_app({"SETTINGS": {...}, "CLOCK": callable})`: `SETTINGS` overrides
settings, `CLOCK` (zero arguments, epoch seconds) replaces the engine's clock, `CATALOG` (a
discovered `Catalog`) spares a test suite discovering the templates for every app; any other
key is Flask config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from magic_cube import console
from magic_cube.api import init_api, participants
from magic_cube.api.limits import init_limits
from magic_cube.catalog import Catalog
from magic_cube.engine import Engine
from magic_cube.settings import Settings
from magic_cube.store import Store, open_store


def database_url(url: str, instance_path: str) -> str:
    """`url` with a relative SQLite path resolved against the instance folder.

    The default, `sqlite:///magic-cube.db`, is `instance/magic-cube.db` in a checkout.
    """
    if not url.startswith("sqlite:") and "://" in url:
        return url  # PostgreSQL and friends
    path = url.removeprefix("sqlite:///").removeprefix("sqlite://")
    if path == ":memory:" or Path(path).is_absolute():
        return url
    return "sqlite:///" + str(Path(instance_path) / path)


def open_app_store(settings: Settings, instance_path: str) -> Store:
    url = database_url(settings.database_url, instance_path)
    options: dict[str, Any] = {}
    if url.startswith("sqlite:"):
        options = {"busy_timeout_ms": settings.sqlite_busy_timeout_ms,
                   "synchronous": settings.sqlite_synchronous}
    return open_store(url, **options)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    config = dict(test_config or {})
    settings = Settings.load(config.pop("SETTINGS", None))
    clock = config.pop("CLOCK", None)
    catalog = config.pop("CATALOG", None)
    if catalog is None:
        catalog = Catalog.discover()

    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(
        MAX_CONTENT_LENGTH=int(settings.max_body_bytes),
        API_TITLE="magic-cube",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
    )
    app.config.from_mapping(config)
    app.json.ensure_ascii = False  # Chinese titles and messages as UTF-8, not \u escapes

    store = open_app_store(settings, app.instance_path)
    store.migrate()
    engine = Engine(store, catalog, settings,
                    **({"clock": clock} if clock is not None else {}))
    app.extensions["magic_cube"] = engine

    if settings.trusted_proxies:
        # Behind a reverse proxy the client is in X-Forwarded-For, not the socket address.
        n = int(settings.trusted_proxies)
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    init_api(app)
    init_limits(app, participants.blp)
    console.init_app(app)
    return app
