"""A new API key between the POST that makes it and the page that shows it once
(POST-redirect-GET, so that a reload never makes a second key).

The session cookie is signed but readable, so the key rides in it sealed: XORed with a keystream
of HMAC-SHA256 blocks under a key derived from the app's secret and a fresh nonce. The page that
shows it takes it out of the session, and it is gone after ten minutes unshown.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

from flask import current_app, session

SLOT = "new_api_key"
TTL = 600  # seconds from the POST to the page that shows the key


def _stream(nonce: bytes, size: int) -> bytes:
    secret = str(current_app.secret_key or "").encode()
    key = hmac.new(secret, b"magic-cube console api key", hashlib.sha256).digest()
    blocks = (hmac.new(key, nonce + i.to_bytes(4, "big"), hashlib.sha256).digest()
              for i in range(-(-size // 32)))
    return b"".join(blocks)[:size]


def keep(api_key: str, merchant_id: str) -> None:
    """Hold the key for the next page, sealed."""
    plain, nonce = api_key.encode(), secrets.token_bytes(16)
    sealed = bytes(a ^ b for a, b in zip(plain, _stream(nonce, len(plain)), strict=True))
    session[SLOT] = {"n": base64.urlsafe_b64encode(nonce).decode(),
                     "k": base64.urlsafe_b64encode(sealed).decode(),
                     "m": merchant_id, "at": int(time.time())}


def take(merchant_id: str) -> str | None:
    """The key kept for this merchant, once: `None` when shown already or too old."""
    held = session.pop(SLOT, None)
    if not isinstance(held, dict) or held.get("m") != merchant_id \
            or not isinstance(held.get("at"), int) or time.time() - held["at"] > TTL:
        return None
    try:
        nonce = base64.urlsafe_b64decode(held["n"])
        sealed = base64.urlsafe_b64decode(held["k"])
        return bytes(a ^ b for a, b in zip(sealed, _stream(nonce, len(sealed)),
                                           strict=True)).decode()
    except (KeyError, TypeError, ValueError):
        return None
