"""Abuse limits on the participant endpoints (Flask-Limiter).

Two keys per request: the participant (per activity) and the client IP. A participant is
counted only once their token is verified (an HMAC over the merchant's secret, which the engine
keeps per activity): an unverified id would let anyone spend another shopper's budget, and
random ids would make keys without end. A request without a valid token is counted by its
client address alone. Counters live in this process by default (api/counters.py) or in Redis
(`rate_limit_storage=redis://…`) when several app processes must share them.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import Blueprint, Flask, Response, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from magic_cube.api.auth import bearer, current_participant
from magic_cube.api.counters import storage_uri
from magic_cube.errors import MagicCubeError


def participant_key() -> str:
    """`p:activity:participant` for a verified participant token, else `ip:address`. Worked
    out once per request (the limiter asks for each limit)."""
    key = g.get("limit_key")
    if key is None:
        key = g.limit_key = _verified_key()
    return key


def _verified_key() -> str:
    activity = (request.view_args or {}).get("activity_id")
    if bearer() and isinstance(activity, str):
        try:
            participant = current_participant(activity)  # kept for the view: checked once
        except MagicCubeError:  # forged, expired, another merchant's, no such activity
            pass
        else:
            return f"p:{activity}:{participant.id}"
    return f"ip:{get_remote_address()}"


def ip_key() -> str:
    return f"ip:{get_remote_address()}"


def retry_after_only_when_refused(response: Response) -> Response:
    """Flask-Limiter sends `Retry-After` with every response it counts; the header tells a
    client to wait, so only a refusal for being busy (429 rate_limited, or 503) may carry it —
    not a template's own 429 (`help_limit`: no wait brings that help back today). The limiter
    rounds the wait down, to 0 within the window's last second; a client that retries at once
    is refused again, so the wait is at least a second."""
    if response.status_code == 503:
        return response
    if response.status_code != 429 or not _rate_limited(response):
        response.headers.pop("Retry-After", None)
    elif (wait := response.headers.get("Retry-After", "")).isdigit() and int(wait) < 1:
        response.headers["Retry-After"] = "1"
    return response


def _rate_limited(response: Response) -> bool:
    body = response.get_json(silent=True) if response.is_json else None
    return isinstance(body, dict) and body.get("error") == "rate_limited"


def init_limits(app: Flask, *blueprints: Blueprint) -> Limiter:
    """Limit each of `blueprints`: polls (GET) and actions (POST) per participant, everything
    per IP.

    One limiter per app, so that apps (and test apps) never share counters by accident."""
    settings = app.extensions["magic_cube"].settings
    limiter = Limiter(get_remote_address, app=app,
                      storage_uri=storage_uri(settings.rate_limit_storage), headers_enabled=True,
                      strategy="moving-window",
                      key_prefix="magic-cube", enabled=bool(settings.rate_limit_enabled))
    _hooks_on(app, limiter, [blueprint.name for blueprint in blueprints])
    # Without a valid token (a public poll, a forged one) only the IP limit applies.
    anonymous = lambda: participant_key().startswith("ip:")  # noqa: E731
    for blueprint in blueprints:
        limiter.limit(settings.rate_limit_polls, key_func=participant_key, methods=["GET"],
                      scope="polls", exempt_when=anonymous)(blueprint)
        limiter.limit(settings.rate_limit_actions, key_func=participant_key, methods=["POST"],
                      scope="actions", exempt_when=anonymous)(blueprint)
        limiter.limit(settings.rate_limit_ip, key_func=ip_key, scope="ip")(blueprint)
    return limiter


def _hooks_on(app: Flask, limiter: Limiter, names: list[str]) -> None:
    """Run the limiter's request hooks only for the blueprints it limits, not for every
    request of the app: on a route it does not limit (the console, the merchant API, the
    probes) they find nothing to count, at the cost of a 304 poll's own work. A limiter turned
    off has nothing to run at all."""
    hooks: tuple[dict[Any, list[Any]], ...] = (
        app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs)
    owned = [[f for f in found.get(None, []) if _owner(f) is limiter] for found in hooks]
    for found, mine in zip(hooks, owned, strict=True):
        found[None] = [f for f in found.get(None, []) if f not in mine]
    if not limiter.enabled:
        return
    # Ours comes before the limiter's own after hook, so that it runs after it (Flask runs
    # after_request functions in reverse order): it drops the limiter's Retry-After.
    owned[1].insert(0, retry_after_only_when_refused)
    for name in names:
        for found, mine in zip(hooks, owned, strict=True):
            found.setdefault(name, []).extend(mine)


def _owner(hook: Any) -> Any:
    """The object a hook belongs to: a bound method's, or a partial's first argument."""
    if isinstance(hook, partial):
        return hook.args[0] if hook.args else None
    return getattr(hook, "__self__", None)
