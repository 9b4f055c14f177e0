"""The merchant web console, mounted at `/console`.

`init_app(app)` registers the console blueprint (with one child blueprint per feature: auth,
activities, dashboard, events, settings), CSRF protection for every console form, Flask-Babel
(zh/en) and the session cookie's flags. Every page works without JavaScript: each button is a form.

The JSON API under `/v1` authenticates with bearer tokens, never cookies, so CSRF cannot
apply to it and its blueprints are exempted; the console's are not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask_babel import Babel
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from magic_cube.console import (
    abuse,
    activities,
    auth,
    calendar,
    campaigns,
    dashboard,
    events,
    forecast,
    fulfilment,
    live,
    settings_page,
    sharing,
    uploads,
)
from magic_cube.console.context import (
    LANGUAGES,
    format_time,
    i18n,
    input_time,
    lang,
    zone_name,
)
from magic_cube.i18n import negotiate

TRANSLATIONS = Path(__file__).resolve().parent / "translations"

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static", static_url_path="/static")
bp.register_blueprint(auth.bp)
bp.register_blueprint(activities.bp)
bp.register_blueprint(dashboard.bp)
bp.register_blueprint(events.bp)
bp.register_blueprint(fulfilment.bp)
bp.register_blueprint(sharing.bp)
bp.register_blueprint(forecast.bp)
bp.register_blueprint(live.bp)
bp.register_blueprint(calendar.bp)
bp.register_blueprint(settings_page.bp)
bp.register_blueprint(campaigns.bp)
bp.register_blueprint(uploads.bp)
bp.register_blueprint(abuse.bp)


def select_locale() -> str:
    """`?lang=` (remembered in the session), then the session, then Accept-Language."""
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        return asked
    if session.get("lang") in LANGUAGES:
        return session["lang"]
    return negotiate(request.headers.get("Accept-Language"))


@bp.before_request
def remember_language() -> None:
    asked = request.args.get("lang")
    if asked in LANGUAGES and session.get("lang") != asked:
        session["lang"] = asked


@bp.after_request
def security_headers(response):
    # Console pages hold a merchant's data: never framed, never cached by a shared cache.
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data: https:; style-src 'self' 'unsafe-inline'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'self'")
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def lang_url(code: str) -> str:
    """The current page in another language (a GET of the same path)."""
    args = request.args.to_dict()
    args["lang"] = code
    if request.endpoint and request.method == "GET":
        try:
            values: dict[str, Any] = {**(request.view_args or {}), **args}
            return url_for(request.endpoint, **values)
        except Exception:  # an endpoint whose arguments cannot be rebuilt: fall back to the path
            pass
    from urllib.parse import urlencode
    return f"{request.path}?{urlencode(args)}"


@bp.context_processor
def helpers() -> dict[str, Any]:
    zh = lang() == "zh"
    return {"lang": lang(), "i18n": i18n, "format_time": format_time, "zone": zone_name,
            "input_time": input_time, "lang_url": lang_url, "languages": LANGUAGES,
            # punctuation between words put together on a page: full-width in Chinese
            "colon": "：" if zh else ": ",
            "paren": (lambda text: f"（{text}）") if zh else (lambda text: f" ({text})")}


def _error_page(status: int, title: str, message: str):
    return render_template("console/error.html", status=status, title=title,
                           message=message), status


@bp.errorhandler(CSRFError)
def csrf_failed(exc: CSRFError):
    if request.endpoint == "console.auth.signup" and session.get("merchant_id"):
        # The welcome page reloaded (its form posted again after the new session began): the
        # account exists and is signed in, so go on rather than call the form expired.
        flash(_("You are signed up and signed in. Your first API key was shown once: if you "
                "did not copy it, create another in Settings."), "success")
        return redirect(url_for("console.activities.index"))
    return _error_page(400, _("The form has expired"),
                       _("The page was open too long or came from another site. Go back, "
                         "reload the page and try again."))


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    status = exc.code or 500
    if status == 404:
        return _error_page(404, _("Not found"), _("There is no such page or activity."))
    if status == 405:
        return _error_page(405, _("Not allowed"), _("This page does not accept that request."))
    return _error_page(status, _("Something went wrong"), _("The request could not be handled."))


@bp.errorhandler(Exception)
def unexpected_error(exc: Exception):
    # An HTML page for a person, never a traceback; the details go to the log.
    current_app.logger.error("console error: %s", exc, exc_info=exc)
    return _error_page(500, _("Something went wrong"), _("The request could not be handled."))


def _exempt_api(app: Flask, csrf: CSRFProtect) -> None:
    # The console's own child blueprints are registered as "console.<name>": never exempt.
    for name, blueprint in app.blueprints.items():
        if name != "console" and not name.startswith("console."):
            csrf.exempt(blueprint)


NO_SESSION = ("/v1/", "/healthz", "/readyz", "/metrics")


class ConsoleSessions(SecureCookieSessionInterface):
    """No sessions for the JSON API and the operators' probes: the API authenticates every
    request by a token or key, and polls and probes should not pay for a cookie."""

    def open_session(self, app: Flask, request: Any) -> Any:
        if request.path.startswith(NO_SESSION):
            return None  # Flask then uses a null session
        if app.secret_key and "HTTP_COOKIE" not in request.environ:
            # No cookie at all, nothing to verify: spares parsing cookies and building a
            # signing serializer (the answer Flask would give, an empty session).
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        if not session and not session.modified:
            # Nothing to set or delete (Flask's own rule), decided before reading the six
            # cookie settings Flask reads first.
            if session.accessed:
                response.vary.add("Cookie")
            return
        super().save_session(app, session, response)


def init_app(app: Flask) -> None:
    """Mount the console on `app` (whose engine is at `app.extensions["magic_cube"]`, and
    whose `SECRET_KEY` `create_app` has set: the setting, else the instance folder's key)."""
    if "console" in app.blueprints:
        return  # already mounted
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = not (app.debug or app.testing)
    app.session_interface = ConsoleSessions()

    directories = [d for d in app.config.get("BABEL_TRANSLATION_DIRECTORIES", "").split(";") if d]
    if str(TRANSLATIONS) not in directories:
        directories.append(str(TRANSLATIONS))
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = ";".join(directories)
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    if "babel" not in app.extensions:
        Babel(app, locale_selector=select_locale)

    app.register_blueprint(bp)

    csrf = app.extensions.get("csrf")
    if csrf is None:
        csrf = CSRFProtect()
        exempted = {"done": False}

        @app.before_request
        def exempt_api_once() -> None:
            # Registered before CSRFProtect's own hook, so that it runs first: blueprints
            # registered after init_app (the JSON API, if app.py mounts it later) are exempted
            # too. Flask refuses new blueprints once requests are served, so once is enough.
            if not exempted["done"]:
                _exempt_api(app, csrf)
                exempted["done"] = True
                # Then out of every later request's way (a new list: Flask may be iterating
                # over the old one).
                app.before_request_funcs[None] = [
                    f for f in app.before_request_funcs[None] if f is not exempt_api_once]

        csrf.init_app(app)
        _console_only(app)
    # The upload's larger body limit, a hook of the console's (not of every request): before
    # CSRF's, which reads the body.
    app.before_request_funcs.setdefault(bp.name, []).insert(0, uploads.allow_upload_body)
    _exempt_api(app, csrf)


def _console_only(app: Flask) -> None:
    """Run CSRF protection's hook for the console's blueprints only, not for every request:
    everything else is exempt (above), and the hook would work that out on every poll. Flask
    runs a blueprint's hooks for its children too (the upload is the console's child)."""
    hooks = app.before_request_funcs.setdefault(None, [])
    mine = [f for f in hooks if getattr(f, "__name__", "") == "csrf_protect"]
    app.before_request_funcs[None] = [f for f in hooks if f not in mine]
    console = app.before_request_funcs.setdefault(bp.name, [])
    console[:0] = mine  # first, as it was: no hook of the console acts on a forged request

