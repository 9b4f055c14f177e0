"""The Flask application factory (flaskr style).

`create_app()` loads the settings, opens the store (a relative SQLite path lives under the
app's instance folder), applies migrations, discovers the template catalog once and builds the
one `Engine` the API uses (`app.extensions["magic_cube"]`).

Tests pass `create_app({"SETTINGS": {...}, "CLOCK": callable})`: `SETTINGS` overrides
settings, `CLOCK` (zero arguments, epoch seconds) replaces the engine's clock, `CATALOG` (a
discovered `Catalog`) spares a test suite discovering the templates for every app; any other
key is Flask config.

Every request gets an id (`X-Request-Id`, see magic_cube/logs.py) and is measured
(magic_cube/metrics.py) by `Measured`, a WSGI middleware around the whole app, so that it sees
every answer, those a limit or a malformed URL gives too.

The request path is kept lean (docs/operations.md, "The request path"): per-request work is
done once per process where it can be, and the participant API's commonest requests (plain
polls, heartbeats and actions) are answered in front of Flask (api/front.py).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FunctionType, MethodType
from typing import TYPE_CHECKING, Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from flask.logging import default_handler
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from magic_cube import console, media, metrics, shopper
from magic_cube.api import init_api, ops, participants, sharing
from magic_cube.api.challenge import init_challenges
from magic_cube.api.front import ENDPOINT_KEY, Front
from magic_cube.api.limits import init_limits
from magic_cube.api.parsing import Request, check_bodies
from magic_cube.api.schemas import MAX_INT64
from magic_cube.catalog import Catalog
from magic_cube.engine import Engine
from magic_cube.logs import LOG_FORMATS, REQUEST_ID, request_id_for, use_json
from magic_cube.settings import Settings
from magic_cube.store import Store, open_store

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


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


def instance_secret(instance_path: str) -> str:
    """The session key kept in the instance folder: made once, readable by its owner only
    (0600), and read by every process, so that all workers of a server sign sessions alike."""
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        os.makedirs(instance_path, exist_ok=True)
        draft = path.with_name(f".secret_key.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            # A hard link appears whole, and never replaces the key a process made first.
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(draft)
    key = path.read_text(encoding="utf-8").strip()
    if not key:
        raise RuntimeError(f"{path} is empty: delete it (a new key is made) or fill it")
    return key


class Int64Converter(IntegerConverter):
    """`<int:…>` in a route, limited to the stores' 64-bit integers: a larger number names
    nothing and matches no route (404) instead of overflowing a query. ASCII digits only
    (werkzeug's `\\d+` also matches other scripts' digits, which int() reads)."""

    regex = r"[0-9]+"

    def __init__(self, map: Any, fixed_digits: int = 0, min: int | None = None,
                 max: int | None = MAX_INT64, signed: bool = False) -> None:
        super().__init__(map, fixed_digits, min, max, signed)


class App(Flask):
    """Flask, remembering `ensure_sync` per function: Flask asks it for every hook and view of
    every request (flask-smorest once more per decorator), and its answer, an inspection of
    the function (a method's, of its function), never changes for a function. Its requests
    hold a chunked body to the size limit too (api/parsing.py)."""

    request_class = Request
    _SYNC_CACHE_SIZE = 4096  # far above the app's functions: never grows with requests

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        if type(func) is MethodType:
            # A bound method (a class-based view's, new for every request; a hook's) is sync
            # when its function is: asked of the function, once.
            function = func.__func__
            if self._sync.get(function) is function or self.ensure_sync(function) is function:
                return func
            return super().ensure_sync(func)
        if type(func) is not FunctionType:
            return super().ensure_sync(func)
        found = self._sync.get(func)
        if found is None:
            found = super().ensure_sync(func)
            if len(self._sync) < self._SYNC_CACHE_SIZE:
                self._sync[func] = found
        return found


class Measured:
    """The WSGI middleware that gives every request its id — the client's `X-Request-Id` when
    sane, else a new one; echoed in the answer and kept in `REQUEST_ID` for log lines — and
    counts and times it by route. Outside Flask, it sees every answer, and it spares the three
    request hooks Flask would dispatch for it on every request."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        request_id = request_id_for(environ.get("HTTP_X_REQUEST_ID"))
        token = REQUEST_ID.set(request_id)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers.append(("X-Request-Id", request_id))
            metrics.record_request(_endpoint(environ), environ.get("REQUEST_METHOD", "").upper(),
                                   int(status[:3]), time.perf_counter() - started)
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, start)
        finally:
            REQUEST_ID.reset(token)


def _endpoint(environ: WSGIEnvironment) -> str | None:
    """The name of the route the request matched (None: none): the one the front
    answered for, or, while Flask still holds the request, its rule's: werkzeug keeps the
    request in the environ (`werkzeug.request`) until the context ends, after the answer has
    started."""
    front = environ.get(ENDPOINT_KEY)
    if front is not None:
        return front
    rule = getattr(environ.get("werkzeug.request"), "url_rule", None)
    return rule.endpoint if rule is not None else None


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    config = dict(test_config or {})
    settings = Settings.load(config.pop("SETTINGS", None))
    clock = config.pop("CLOCK", None)
    catalog = config.pop("CATALOG", None)
    if catalog is None:
        catalog = Catalog.served(settings.template_dirs)

    app = App(__name__, instance_relative_config=True)
    app.config.from_mapping(
        MAX_CONTENT_LENGTH=int(settings.max_body_bytes),
        API_TITLE="magic-cube",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
    )
    app.config.from_mapping(config)
    if isinstance(app.json, DefaultJSONProvider):
        app.json.ensure_ascii = False  # Chinese titles and messages as UTF-8, not \u escapes
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = settings.secret_key or instance_secret(app.instance_path)
    if settings.log_format not in LOG_FORMATS:
        raise ValueError(f"log_format must be one of {', '.join(LOG_FORMATS)}")
    if settings.log_format == "json":
        use_json()
        app.logger.removeHandler(default_handler)  # its lines go to the root's JSON handler
    app.url_map.converters["int"] = Int64Converter  # before any route is added

    store = open_app_store(settings, app.instance_path)
    store.migrate()
    engine = Engine(store, catalog, settings,
                    **({"clock": clock} if clock is not None else {}))
    app.extensions["magic_cube"] = engine
    engine.core.keep_templates()  # what activities already pinned stays theirs (engine/core.py)
    for problem in catalog.problems:  # a template that does not load is left out, loudly
        app.logger.error("template not loaded: %s", problem)

    api = init_api(app)
    api.register_blueprint(ops.blp)
    app.register_blueprint(ops.metrics_bp)
    limits = init_limits(app, participants.blp, sharing.blp)
    # The middlewares, innermost first: the front, in front of Flask (api/front.py), the
    # client's address from a trusted proxy's header (which the front's limits count by), the
    # request id and metrics around everything.
    init_challenges(app, limits.storage if limits.enabled else None)
    app.wsgi_app = Front(app.wsgi_app, app, limits)  # type: ignore[method-assign]
    if settings.trusted_proxies:
        # Behind a reverse proxy the client is in X-Forwarded-For, not the socket address.
        n = int(settings.trusted_proxies)
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    app.wsgi_app = Measured(app.wsgi_app)  # type: ignore[method-assign]
    check_bodies(app)  # after the API's other hooks: a key or a limit refuses before the body
    console.init_app(app)
    shopper.init_app(app)
    media.init_app(app)  # /media/…: uploaded images
    return app
