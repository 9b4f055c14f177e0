"""The merchant's settings: API keys (created and shown once, listed by prefix, revoked) and
the webhook endpoint with the secret its deliveries are signed with."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _

from magic_cube.console import reveal
from magic_cube.console.auth import login_required
from magic_cube.console.context import (
    FieldErrors,
    add_error,
    current_merchant,
    get_engine,
    merchant_timezone,
)

bp = Blueprint("settings", __name__)

MIN_SECRET = 16


def page(errors: FieldErrors | None = None, webhook: dict[str, str] | None = None,
         status: int = 200):
    merchant = current_merchant()
    keys = get_engine().list_api_keys(merchant)
    if webhook is None:
        webhook = {"webhook_url": merchant.webhook_url or "",
                   "webhook_secret": merchant.webhook_secret or ""}
    return render_template("console/settings.html", keys=keys, errors=errors or {},
                           webhook=webhook, merchant=merchant,
                           tz=merchant_timezone() if keys else None), status


@bp.route("/settings")
@login_required
def show():
    return page()


@bp.route("/settings/keys", methods=["POST"])
@login_required
def create_key():
    merchant = current_merchant()
    # Shown once on the next page (a reload of it makes no second key); the store keeps its hash.
    reveal.keep(get_engine().create_api_key(merchant), merchant.id)
    return redirect(url_for("console.settings.new_key"), 303)


@bp.route("/settings/keys/new")
@login_required
def new_key():
    api_key = reveal.take(current_merchant().id)
    if api_key is None:
        flash(_("A new API key is shown only once, on the page after it is created. It is in "
                "the list below by its first characters; if you did not copy it, revoke it and "
                "create another."), "warning")
        return redirect(url_for("console.settings.show"))
    response = make_response(render_template("console/api_key.html", api_key=api_key))
    response.headers["Cache-Control"] = "no-store"
    return response


def active_key(key_id: str) -> dict[str, Any] | None:
    return next((k for k in get_engine().list_api_keys(current_merchant())
                 if k["id"] == key_id and not k["revoked_at"]), None)


@bp.route("/settings/keys/<key_id>/revoke")
@login_required
def confirm_revoke(key_id: str):
    """Revoking cannot be undone and stops the backend that uses the key: say so, ask again."""
    key = active_key(key_id)
    if key is None:
        flash(_("No such active API key."), "error")
        return redirect(url_for("console.settings.show"))
    return render_template("console/confirm_revoke.html", key=key, tz=merchant_timezone())


@bp.route("/settings/keys/<key_id>/revoke", methods=["POST"])
@login_required
def revoke_key(key_id: str):
    if request.form.get("confirm") != "yes":
        return redirect(url_for("console.settings.confirm_revoke", key_id=key_id))
    if get_engine().revoke_api_key(current_merchant(), key_id):
        flash(_("The API key is revoked."), "success")
    else:
        flash(_("No such active API key."), "error")
    return redirect(url_for("console.settings.show"))


def valid_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and len(url) <= 2000


@bp.route("/settings/webhook", methods=["POST"])
@login_required
def save_webhook():
    merchant = current_merchant()
    url = request.form.get("webhook_url", "").strip()
    secret = request.form.get("webhook_secret", "").strip()
    if request.form.get("generate"):
        secret = secrets.token_urlsafe(24)
    errors: FieldErrors = {}
    if url and not valid_url(url):
        add_error(errors, "webhook_url", "invalid",
                  _("Enter a full http:// or https:// address"))
    if not url and len(secret) < MIN_SECRET:
        # No address: no webhooks are sent, so no secret is needed to turn them off.
        secret = ""
    elif len(secret) < MIN_SECRET:
        add_error(errors, "webhook_secret", "too_short",
                  _("At least %(num)d characters", num=MIN_SECRET))
    elif len(secret) > 200:
        add_error(errors, "webhook_secret", "too_long", _("At most 200 characters"))
    if errors:
        return page(errors, {"webhook_url": url, "webhook_secret": secret}, status=422)
    get_engine().set_webhook(merchant, url or None, secret)
    flash(_("Webhook settings saved."), "success")
    return redirect(url_for("console.settings.show"))
