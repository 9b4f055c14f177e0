"""Webhook delivery from the outbox: in order per activity, at least once, signed.

Every accepted action writes its events to the outbox in its own transaction. For each
activity whose merchant has a `webhook_url`, the worker POSTs them one at a time, oldest first:
only the oldest event of an activity that is neither delivered nor dead may be in flight, and
the next waits until it is delivered or dead. Activities are independent of each other.

Claiming is a short write transaction that counts the attempt and leases the event
(`next_attempt_at = now + webhook_lease`); the HTTP call happens after it commits, with no
transaction open; a second short transaction records the outcome. A worker that dies between
the two loses nothing: when the lease ends, the event is due again and any worker sends it
again (at-least-once: receivers de-duplicate on `Magic-Cube-Event-Id`).

A 2xx answer within `webhook_timeout` is a delivery. Anything else — another status, a
redirect, a timeout, a refused connection — is a failed attempt, retried after a random wait
up to `webhook_backoff_base × 2^(attempts−1)` seconds, at most `webhook_backoff_cap` ("full
jitter", so that a receiver coming back is not hit by every retry at once), until
`webhook_max_attempts` attempts have failed; then the event is dead and the activity's next
event goes. A dead (or delivered) event is sent again with `Engine.redeliver_event`.

The engine does the claiming and recording (`engine.claim_events`, `engine.record_attempts`):
this module only decides what to send, sends it, and works out the next attempt.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import requests

from magic_cube import __version__, metrics
from magic_cube.engine import Attempt, ClaimedEvent, Engine

__all__ = ["Deliverer", "Outcome", "backoff", "payload", "sign", "verify"]

log = logging.getLogger(__name__)

USER_AGENT = f"magic-cube-webhooks/{__version__}"
ERROR_CHARS = 300  # of a receiver's answer kept in `last_error`
DRAIN_CHARS = 64 * 1024  # most of a 2xx answer read, to keep its connection


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def payload(event: Mapping[str, Any]) -> bytes:
    """The request body: compact UTF-8 JSON. It is signed as these exact bytes."""
    body = {"id": event["id"], "type": event["type"], "activity_id": event["activity_id"],
            "seq": event["seq"], "data": event["data"], "created_at": iso(event["created_at"])}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `Magic-Cube-Signature` header: `t=<unix time>,v1=<hex HMAC-SHA256>` over
    `"<t>." + body` with the merchant's webhook secret."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, now: int, tolerance: int = 300) -> bool:
    """What a receiver does (docs/api.md): recompute the HMAC over the raw body, compare in
    constant time, and refuse a timestamp more than `tolerance` seconds from its own clock."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).rsplit("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def backoff(attempts: int, base: float, cap: float, rng: random.Random) -> int:
    """Seconds to wait after `attempts` failed attempts: full jitter, uniform in
    [0, min(cap, base × 2^(attempts−1))], at least one second."""
    ceiling = min(float(cap), float(base) * 2 ** max(0, min(attempts - 1, 62)))
    return max(1, round(rng.uniform(0, ceiling)))


@dataclass
class Outcome:
    event_id: int
    activity_id: str
    ok: bool
    error: str | None = None


def new_session() -> requests.Session:
    session = requests.Session()
    # Receivers of different merchants share this session: never carry one's cookies to another.
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    session.headers["User-Agent"] = USER_AGENT
    return session


class Deliverer:
    """Delivers due outbox events for one worker: a `requests.Session` (connection reuse) and
    a small thread pool, so that one slow receiver does not hold up the others."""

    def __init__(self, engine: Engine, session: requests.Session | None = None,
                 rng: random.Random | None = None) -> None:
        self.engine = engine
        self.settings = engine.settings
        self.session = session or new_session()
        self.rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        if float(self.settings.webhook_lease) <= 2 * float(self.settings.webhook_timeout):
            log.warning("webhook_lease (%s s) should be well above webhook_timeout (%s s): a "
                        "slow delivery may outlast its lease and be sent twice",
                        self.settings.webhook_lease, self.settings.webhook_timeout)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self.session.close()

    def _map(self, func: Any, items: list[Any]) -> list[Any]:
        if len(items) <= 1:
            return [func(i) for i in items]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max(1, int(self.settings.webhook_concurrency)),
                                            thread_name_prefix="magic-cube-webhook")
        return list(self._pool.map(func, items))

    def run(self, now: Callable[[], int], limit: int,
            stopping: Callable[[], bool] = lambda: False) -> dict[str, int]:
        """Deliver up to `limit` due events. `now()` gives the time (the engine's clock, or a
        fixed time in tests). Returns counts: delivered, failed (to be retried), dead."""
        counts = {"delivered": 0, "failed": 0, "dead": 0}
        handled = 0
        batch_size = max(1, int(self.settings.webhook_concurrency))
        while handled < limit and not stopping():
            batch = self.engine.claim_events(now(), int(self.settings.webhook_lease),
                                             min(batch_size, limit - handled))
            if not batch:
                break
            handled += len(batch)
            outcomes = self._map(lambda e: self.send(e, now()), batch)
            finished = now()
            attempts = [self._attempt(event, outcome, finished)
                        for event, outcome in zip(batch, outcomes, strict=True)]
            self.engine.record_attempts(attempts, finished)
            for attempt in attempts:
                result = "delivered" if attempt.delivered else "dead" if attempt.dead else "failed"
                counts[result] += 1
                metrics.record_webhook_delivery(result)
        return counts

    def send(self, event: ClaimedEvent, now: int) -> Outcome:
        """One attempt: POST the event to its merchant's webhook_url."""
        body = payload(event)
        headers = {"Content-Type": "application/json",
                   "Magic-Cube-Event-Id": str(event["id"]),
                   "Magic-Cube-Event": event["type"]}
        secret = event.get("webhook_secret")
        if secret:
            headers["Magic-Cube-Signature"] = sign(secret, int(now), body)
        timeout = float(self.settings.webhook_timeout)
        started = time.monotonic()
        try:
            with self.session.post(event["webhook_url"], data=body, headers=headers,
                                   timeout=(timeout, timeout), allow_redirects=False,
                                   stream=True) as response:
                if 200 <= response.status_code < 300:
                    _drain(response)
                    return Outcome(event["id"], event["activity_id"], True)
                text = next(response.iter_content(ERROR_CHARS), b"")
                answer = text.decode("utf-8", "replace").strip()
                error = f"HTTP {response.status_code}" + (f": {answer}" if answer else "")
        except requests.Timeout:
            error = f"timeout after {timeout:g} s"
        except requests.ConnectionError as exc:
            error = f"connection error: {_reason(exc)}"
        except requests.RequestException as exc:
            error = f"request error: {_reason(exc)}"
        except Exception as exc:  # a bug must not strand the rest of the batch under lease
            log.exception("webhook event %s: unexpected error", event["id"])
            error = f"error: {type(exc).__name__}: {exc}"
        finally:
            self._check_lease(event, time.monotonic() - started)
        return Outcome(event["id"], event["activity_id"], False, error[:ERROR_CHARS])

    def _check_lease(self, event: ClaimedEvent, elapsed: float) -> None:
        # `webhook_timeout` bounds each network wait, not the whole request: a receiver that
        # trickles its answer can outlast the lease, and another worker may send it again.
        if elapsed > int(self.settings.webhook_lease):
            log.warning("webhook event %s took %.0f s, more than webhook_lease (%s s): it may "
                        "have been sent twice", event["id"], elapsed, self.settings.webhook_lease)

    def _attempt(self, event: ClaimedEvent, outcome: Outcome, now: int) -> Attempt:
        """What to record of one attempt: delivered, or when to retry, or dead."""
        if outcome.ok:
            log.info("webhook event %s (%s, activity %s) delivered", event["id"],
                     event["type"], event["activity_id"])
            return Attempt(event["id"], delivered=True)
        attempts = event["attempts"]
        dead = attempts >= int(self.settings.webhook_max_attempts)
        with self._rng_lock:
            wait = backoff(attempts, self.settings.webhook_backoff_base,
                           self.settings.webhook_backoff_cap, self.rng)
        if dead:
            log.warning("webhook event %s (%s, activity %s) is dead after %d attempts: %s",
                        event["id"], event["type"], event["activity_id"], attempts,
                        outcome.error)
        else:
            log.info("webhook event %s (activity %s) attempt %d failed (%s); retry in %d s",
                     event["id"], event["activity_id"], attempts, outcome.error, wait)
        return Attempt(event["id"], delivered=False, next_attempt_at=now + wait,
                       error=outcome.error or "failed", dead=dead)


def _drain(response: requests.Response) -> None:
    """Read a short answer to its end, so that its connection goes back to the session's pool
    for the next delivery (closing it unread would reset it); a long one is cut off."""
    read = 0
    for chunk in response.iter_content(DRAIN_CHARS):
        read += len(chunk)
        if read >= DRAIN_CHARS:
            return


def _reason(exc: Exception) -> str:
    """The innermost cause of a requests error, without the long urllib3 wrapping."""
    inner: BaseException = exc
    while inner.__cause__ is not None or inner.__context__ is not None:
        nxt = inner.__cause__ or inner.__context__
        if nxt is None or nxt is inner:
            break
        inner = nxt
    return str(inner) or type(inner).__name__
