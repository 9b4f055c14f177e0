"""Abuse limits on the participant endpoints, counted with the `limits` library.

Two keys per request: the participant (per activity) and the client IP. A participant is
counted only once their token is verified (an HMAC over the merchant's secret, which the engine
keeps per activity): an unverified id would let anyone spend another shopper's budget, and
random ids would make keys without end. A request without a valid token is counted by its
client address alone. Counters live in this process by default (api/counters.py) or in Redis
(`rate_limit_storage=redis://…`) when several app processes must share them.

Each limit counts per endpoint (an action, a heartbeat, a share; the activity's, the room's
and the participant's own view). The limits are parsed once and checked by one request hook
of the limited blueprints: a poll answered 304 is the most frequent request there is, and a
general-purpose extension (limits declared per route, parsed and filtered on every request)
cost it more than the poll itself.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import cast

from flask import Blueprint, Flask, Request, Response, g
from limits import parse_many
from limits.errors import StorageError
from limits.storage import MovingWindowSupport, Storage, storage_from_string
from werkzeug.exceptions import TooManyRequests

from magic_cube.api.auth import bearer, current_participant
from magic_cube.api.context import current_request
from magic_cube.api.counters import storage_uri
from magic_cube.errors import MagicCubeError

PREFIX = "magic-cube"
log = logging.getLogger(__name__)



def participant_key() -> str:
    """`p:activity:participant` for a verified participant token, else `ip:address`. Worked
    out once per request."""
    state = g._get_current_object()  # (one look through the proxy, not one per use)
    key = state.get("limit_key")
    if key is None:
        key = state.limit_key = _verified_key(current_request())
    return key


def _verified_key(req: Request) -> str:
    activity = (req.view_args or {}).get("activity_id")
    if "HTTP_AUTHORIZATION" in req.environ and bearer() and isinstance(activity, str):
        try:
            participant = current_participant(activity)  # kept for the view: checked once
        except MagicCubeError:  # forged, expired, another merchant's, no such activity
            pass
        else:
            return verified_key(activity, participant.id)
    return ip_key(req)


def ip_key(req: Request) -> str:
    # ProxyFix (trusted_proxies) has already put the client's address here.
    return address_key(req.remote_addr)


def verified_key(activity_id: str, participant_id: str) -> str:
    """The key a participant whose token checks out is counted by."""
    return f"p:{activity_id}:{participant_id}"


def address_key(address: str | None) -> str:
    """The key a client is counted by at `address` (the environ's `REMOTE_ADDR`)."""
    return f"ip:{address or '127.0.0.1'}"


@dataclass(frozen=True)
class Limit:
    """One parsed limit: so many requests per so many seconds, and the tail of its counters'
    keys (as the `limits` library spells them: `…/5/1/second`)."""

    amount: int
    seconds: int
    tail: str

    @classmethod
    def parse(cls, text: str) -> list[Limit]:
        return [cls(item.amount, item.get_expiry(),
                    f"{item.amount}/{item.multiples}/{item.GRANULARITY.name}")
                for item in parse_many(text)]


# (limit, the key of its counter for this request)
Counted = tuple[Limit, str]
# What a request's counting left for its headers: (limit, key, its window as counted —
# (start, used) — or None to read it, refused)
Taken = tuple[Limit, str, tuple[float, int] | None, bool]
# The environ key where the front (api/front.py) leaves what it counted for the request
# (a `Taken`, or None: counted nothing), when it hands the request on to Flask.
COUNTED = "magic_cube.rate_limit"
NOT_COUNTED = object()


@dataclass
class Limits:
    """The participant endpoints' limits: polls (GET) and actions (POST) per verified
    participant, every request per IP. `enabled` false counts nothing. Moving windows, counted
    straight in the storage: a 304 poll pays for no more than its own counters."""

    storage: Storage
    window: MovingWindowSupport  # the same storage, as what counts moving windows
    polls: list[Limit]
    actions: list[Limit]
    ip: list[Limit]
    enabled: bool = True

    def counted(self) -> list[Counted]:
        """The limits this request counts against, the shortest windows first (the first is
        the one the headers describe)."""
        req = current_request()
        return self.counted_for(participant_key(), ip_key(req), req.endpoint or "", req.method)

    def counted_for(self, key: str, ip: str, endpoint: str, method: str) -> list[Counted]:
        """`counted` for a request by `key` (`participant_key`'s) from `ip` (`ip_key`'s) to
        `endpoint` with `method`."""
        # Each endpoint counts on its own: a shopper's draws, heartbeats and shares, or the
        # polls of a page watching the activity, its room and itself, do not add up.
        out: list[Counted] = []
        if key.startswith("p:"):
            if method == "GET":
                head = f"LIMITER/{PREFIX}/{key}/{endpoint}:polls/"
                out += [(limit, head + limit.tail) for limit in self.polls]
            elif method == "POST":
                head = f"LIMITER/{PREFIX}/{key}/{endpoint}:actions/"
                out += [(limit, head + limit.tail) for limit in self.actions]
        head = f"LIMITER/{PREFIX}/{key if key.startswith('ip:') else ip}/{endpoint}:ip/"
        out += [(limit, head + limit.tail) for limit in self.ip]
        if len(out) > 1:
            out.sort(key=lambda found: found[0].seconds)  # stable: the participant's first
        return out

    def check(self) -> None:
        """The request hook: count the request, or refuse it with 429 rate_limited. A request
        the front (api/front.py) has counted already (`COUNTED` in its environ) is not
        counted again."""
        req = current_request()
        found = req.environ.get(COUNTED, NOT_COUNTED)
        state = self.take(self.counted()) if found is NOT_COUNTED else found
        g.rate_limit = state
        if state is not None and state[3]:
            raise TooManyRequests()

    def take(self, counted: list[Counted]) -> Taken | None:
        """Count one request against each of `counted`, stopping at the first that refuses:
        what the headers describe (the first limit, or the one that refused), or None when
        nothing was counted. A storage that cannot be reached (Redis down) lets requests
        through, loudly: the shop stays open without its abuse limits rather than closing."""
        taken: Taken | None = None
        # Our own counters count and tell the window in one call; others, two.
        counted_window = getattr(self.window, "acquire_counted", None)
        try:
            for n, (limit, key) in enumerate(counted):
                if n == 0 and counted_window is not None:
                    acquired, start, used = counted_window(key, limit.amount, limit.seconds)
                    taken = (limit, key, (start, used), not acquired)
                else:
                    acquired = self.window.acquire_entry(key, limit.amount, limit.seconds)
                    if n == 0 or not acquired:
                        taken = (limit, key, None, not acquired)
                if not acquired:
                    break
        except StorageError as exc:
            log.warning("rate limits not counted: their storage failed: %s", exc)
            return None
        return taken

    def headers(self, response: Response) -> Response:
        """The after-request hook: `header_values` on every counted answer."""
        found = g.get("rate_limit")
        if found is not None:
            for name, value in self.header_values(found):
                if name == "Retry-After":
                    response.headers[name] = value
                else:
                    response.headers.add(name, value)
        return response

    def header_values(self, taken: Taken) -> list[tuple[str, str]]:
        """X-RateLimit-* for what `take` counted; Retry-After only on our own refusal (a
        template's own 429, `help_limit`, is an answer for today that no wait changes), in
        whole seconds and at least one: a client retrying at once would be refused again."""
        limit, key, window, refused = taken
        if window is None:
            try:
                window = self.window.get_moving_window(key, limit.amount, limit.seconds)
            except StorageError:
                return []
        start, used = window
        reset_at = int(start + limit.seconds + 1)
        out = [("X-RateLimit-Limit", str(limit.amount)),
               ("X-RateLimit-Remaining", str(max(0, limit.amount - used))),
               ("X-RateLimit-Reset", str(reset_at))]
        if refused:
            out.append(("Retry-After", str(max(1, int(reset_at - time.time())))))
        return out

    def keys(self) -> set[str]:
        """The counters' keys, where the storage can list them (this process's)."""
        listed = getattr(self.storage, "keys", None)
        return set(listed()) if listed is not None else set()


def init_limits(app: Flask, *blueprints: Blueprint) -> Limits:
    """Limit each of `blueprints`. One storage per app, so that apps (and test apps) never
    share counters by accident; a limit turned off adds no hook at all."""
    settings = app.extensions["magic_cube"].settings
    storage = storage_from_string(storage_uri(settings.rate_limit_storage), wrap_exceptions=True)
    if not isinstance(storage, MovingWindowSupport):
        raise ValueError("rate_limit_storage must count moving windows (memory:// or redis://)")
    limits = Limits(
        storage=cast(Storage, storage), window=storage,
        polls=Limit.parse(settings.rate_limit_polls),
        actions=Limit.parse(settings.rate_limit_actions),
        ip=Limit.parse(settings.rate_limit_ip),
        enabled=bool(settings.rate_limit_enabled))
    app.extensions["magic_cube_limits"] = limits
    if limits.enabled:
        for blueprint in blueprints:
            app.before_request_funcs.setdefault(blueprint.name, []).append(limits.check)
            app.after_request_funcs.setdefault(blueprint.name, []).append(limits.headers)
    return limits
