"""Merchant accounts in the console: sign-up, login, logout and `login_required`.

The engine keeps the accounts: it hashes passwords, checks them, and throttles failed logins
per email and client address (`engine.accounts`); this module turns that into pages and a
session.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext

from magic_cube.console import reveal
from magic_cube.console.context import FieldErrors, add_error, get_engine
from magic_cube.engine import EmailTaken, LockedOut, Merchant

bp = Blueprint("auth", __name__)

MIN_PASSWORD = 8
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        merchant_id = session.get("merchant_id")
        merchant = get_engine().get_merchant(merchant_id) if merchant_id else None
        if merchant is None:
            session.pop("merchant_id", None)
            target = request.full_path if request.method == "GET" else None
            return redirect(url_for("console.auth.login", next=target))
        g.merchant = merchant
        return view(*args, **kwargs)

    return wrapped


def normal_email(value: str) -> str:
    return (value or "").strip().lower()


def safe_next(target: str | None) -> str:
    """Only a console path: a login link must not send a merchant to another site."""
    if target and target.startswith("/console/") and not target.startswith("//") \
            and "\\" not in target:
        return target
    return url_for("console.activities.index")


def start_session(merchant: Merchant) -> None:
    language = session.get("lang")
    session.clear()  # a fresh session on login: no fixation
    if language:
        session["lang"] = language
    session["merchant_id"] = merchant.id


def lock_message(until: int) -> str:
    minutes = max(1, -(-(until - get_engine().now()) // 60))
    return ngettext("Too many failed logins. Try again in %(num)d minute.",
                    "Too many failed logins. Try again in %(num)d minutes.", minutes)


@bp.route("/login", methods=["GET", "POST"])
def login():
    errors: FieldErrors = {}
    form_error = None
    email = ""
    status = 200
    headers: dict[str, str] = {}
    if request.method == "POST":
        email = normal_email(request.form.get("email", ""))
        password = request.form.get("password", "")
        if not email:
            add_error(errors, "email", "required", _("Enter your email address"))
        if not password:
            add_error(errors, "password", "required", _("Enter your password"))
        if not errors:
            try:
                merchant = get_engine().log_in(email, password, request.remote_addr)
            except LockedOut as exc:
                form_error = lock_message(exc.until)
                status = 429
                headers["Retry-After"] = str(max(1, exc.until - get_engine().now()))
            else:
                if merchant is not None:
                    start_session(merchant)
                    return redirect(safe_next(request.form.get("next")))
                form_error = _("The email or password is not right")
                status = 401
        else:
            status = 422
    return render_template("console/login.html", errors=errors, form_error=form_error,
                           email=email, next=request.values.get("next", "")), status, headers


@bp.route("/logout", methods=["POST"])
def logout():
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    flash(_("You are logged out."), "success")
    return redirect(url_for("console.auth.login"))


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    errors: FieldErrors = {}
    values = {"name": "", "email": ""}
    if request.method == "POST":
        values = {"name": request.form.get("name", "").strip(),
                  "email": normal_email(request.form.get("email", ""))}
        password = request.form.get("password", "")
        if not values["name"]:
            add_error(errors, "name", "required", _("Enter your shop's name"))
        elif len(values["name"]) > 100:
            add_error(errors, "name", "too_long", _("At most 100 characters"))
        if not EMAIL.match(values["email"]) or len(values["email"]) > 254:
            add_error(errors, "email", "invalid", _("Enter a valid email address"))
        if len(password) < MIN_PASSWORD:
            add_error(errors, "password", "too_short",
                      _("This password is too short: use %(num)d characters or more",
                        num=MIN_PASSWORD))
        elif len(password) > 200:
            add_error(errors, "password", "too_long", _("At most 200 characters"))
        engine = get_engine()
        if "email" not in errors and engine.email_taken(values["email"]):
            add_error(errors, "email", "taken", _("An account with this email already exists"))
        if not errors:
            try:
                merchant, api_key = engine.sign_up(values["name"], values["email"], password)
            except EmailTaken:  # the same email signed up a moment ago
                add_error(errors, "email", "taken",
                          _("An account with this email already exists"))
            else:
                start_session(merchant)
                reveal.keep(api_key, merchant.id)  # sealed, for the welcome page only
                return redirect(url_for("console.auth.welcome"), 303)
    return render_template("console/signup.html", errors=errors, values=values), \
        (422 if errors else 200)


@bp.route("/welcome")
@login_required
def welcome():
    """After signing up: the first API key (once) and what to do next."""
    response = make_response(render_template(
        "console/welcome.html", api_key=reveal.take(g.merchant.id)))
    response.headers["Cache-Control"] = "no-store"
    return response
