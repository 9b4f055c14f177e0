"""Merchants, their API keys and the participant tokens they issue.

API keys are shown once and stored only as a SHA-256 hash. Participant tokens are signed by
itsdangerous with the merchant's own secret, so a merchant backend can mint them itself
(docs/api.md gives the format) and one merchant's tokens mean nothing to another's activities.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

from magic_cube.engine.errors import InvalidToken, TokenExpired, Unauthorized
from magic_cube.store.records import Merchant

TOKEN_SALT = "magic-cube.participant"
KEY_PREFIX = "mck_"


@dataclass(frozen=True)
class Participant:
    """An authenticated shopper: the merchant's own user id and an optional display name."""

    id: str
    display_name: str = ""


def new_id(prefix: str) -> str:
    """`prefix_` + milliseconds (hex) + randomness: unguessable, and sorted by creation time
    so that listings page by id in the order things were made."""
    return f"{prefix}_{time.time_ns() // 1_000_000:011x}{secrets.token_hex(6)}"


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def token_serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=TOKEN_SALT)


def sign_participant_token(secret: str, participant_id: str, expires_at: int,
                           display_name: str = "") -> str:
    payload = {"p": participant_id, "exp": expires_at}
    if display_name:
        payload["n"] = display_name
    return token_serializer(secret).dumps(payload)


def read_participant_token(secret: str, token: str, now: int) -> Participant:
    try:
        payload = token_serializer(secret).loads(token)
    except BadSignature as exc:
        raise InvalidToken() from exc
    if (not isinstance(payload, dict) or not isinstance(payload.get("p"), str)
            or not payload["p"] or not isinstance(payload.get("exp"), int)
            or "\x00" in payload["p"] or "\x00" in str(payload.get("n", ""))):
        raise InvalidToken()
    if payload["exp"] <= now:
        raise TokenExpired()
    name = payload.get("n", "")
    return Participant(payload["p"], name if isinstance(name, str) else "")


class IdentityMixin:
    """Merchant accounts, API keys and participant tokens (part of `Engine`)."""

    def create_merchant(self, name: str, email: str | None = None,
                        password_hash: str | None = None) -> tuple[Merchant, str]:
        """A new merchant and its first API key (the only time the key is shown)."""
        now = self.now()
        merchant = Merchant(id=new_id("m"), name=name, email=email, password_hash=password_hash,
                            participant_secret=secrets.token_urlsafe(32), created_at=now,
                            webhook_secret=secrets.token_urlsafe(24))
        with self.store.transaction() as tx:
            tx.insert_merchant(merchant)
            key = self._new_key(tx, merchant.id, now)
        return merchant, key

    def _new_key(self, tx, merchant_id: str, now: int) -> str:
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        tx.insert_api_key(new_id("key"), merchant_id, hash_key(key), key[:8], now)
        return key

    def create_api_key(self, merchant: Merchant) -> str:
        with self.store.transaction() as tx:
            return self._new_key(tx, merchant.id, self.now())

    def revoke_api_key(self, merchant: Merchant, key_id: str) -> bool:
        with self.store.transaction() as tx:
            return tx.revoke_api_key(merchant.id, key_id, self.now())

    def merchant_for_key(self, api_key: str | None) -> Merchant:
        if not api_key or not api_key.startswith(KEY_PREFIX):
            raise Unauthorized()
        with self.store.transaction(write=False) as tx:
            merchant = tx.merchant_for_key_hash(hash_key(api_key))
        if merchant is None:
            raise Unauthorized("The API key is unknown or revoked")
        return merchant

    def get_merchant(self, merchant_id: str) -> Merchant | None:
        with self.store.transaction(write=False) as tx:
            return tx.get_merchant(merchant_id)

    def participant_token(self, merchant: Merchant, participant_id: str, display_name: str = "",
                          ttl: int | None = None) -> tuple[str, int]:
        """A signed token for one of the merchant's shoppers, and when it expires."""
        expires_at = self.now() + int(ttl or self.settings.participant_token_ttl)
        return (sign_participant_token(merchant.participant_secret, participant_id, expires_at,
                                       display_name), expires_at)

    def authenticate_participant(self, activity_id: str, token: str | None) -> Participant:
        """The participant a token names, checked against the activity's merchant's secret."""
        if not token:
            raise InvalidToken("A participant token is required")
        return read_participant_token(self._participant_secret(activity_id), token, self.now())

    def _participant_secret(self, activity_id: str) -> str:
        # An activity never changes merchant and a merchant's secret never changes, so the
        # answer is kept: every participant request needs it, and it would cost a transaction.
        secret = self._secrets.get(activity_id)
        if secret is None:
            with self.store.transaction(write=False) as tx:
                activity = self._activity(tx, activity_id)
                secret = tx.get_merchant(activity.merchant_id).participant_secret
            if len(self._secrets) >= 100_000:
                self._secrets.clear()
            self._secrets[activity_id] = secret
        return secret
