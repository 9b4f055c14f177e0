"""Merchants: their accounts and console logins, API keys, webhook settings, and the
participant tokens they issue.

API keys are shown once and stored only as a SHA-256 hash. Participant tokens are signed by
itsdangerous with the merchant's own secret, so a merchant backend can mint them itself
(docs/api.md gives the format) and one merchant's tokens mean nothing to another's activities.
Console passwords are hashed with werkzeug (scrypt). After `MAX_FAILURES` failed logins for
one email the email is locked for `LOCK_SECONDS`: the count lives in the database, so the lock
holds across processes and restarts.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.security import check_password_hash, generate_password_hash

from magic_cube.engine.core import Core, new_id
from magic_cube.engine.errors import InvalidToken, TokenExpired, Unauthorized
from magic_cube.errors import MagicCubeError
from magic_cube.store import Conflict, Tx
from magic_cube.store.records import Merchant

TOKEN_SALT = "magic-cube.participant"
KEY_PREFIX = "mck_"
MAX_FAILURES = 5
LOCK_SECONDS = 15 * 60
# Checked when the email is unknown, so that a wrong email takes as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not a password")


@dataclass(frozen=True)
class Participant:
    """An authenticated shopper: the merchant's own user id and an optional display name."""

    id: str
    display_name: str = ""


class LockedOut(MagicCubeError):
    """Too many failed logins for an email: refused, without checking the password, until
    `until`."""

    def __init__(self, until: int) -> None:
        super().__init__(until)
        self.until = until


class EmailTaken(MagicCubeError):
    """A merchant account with this email exists already."""


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def token_serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=TOKEN_SALT)


def sign_participant_token(secret: str, participant_id: str, expires_at: int,
                           display_name: str = "") -> str:
    payload: dict[str, Any] = {"p": participant_id, "exp": expires_at}
    if display_name:
        payload["n"] = display_name
    return str(token_serializer(secret).dumps(payload))


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


class Accounts:
    def __init__(self, core: Core) -> None:
        self.core = core

    # merchants -----------------------------------------------------------------------------

    def create_merchant(self, name: str, email: str | None = None,
                        password_hash: str | None = None) -> tuple[Merchant, str]:
        """A new merchant and its first API key (the only time the key is shown)."""
        now = self.core.now()
        merchant = Merchant(id=new_id("m"), name=name, email=email, password_hash=password_hash,
                            participant_secret=secrets.token_urlsafe(32), created_at=now,
                            webhook_secret=secrets.token_urlsafe(24))
        with self.core.store.transaction() as tx:
            tx.insert_merchant(merchant)
            key = self._new_key(tx, merchant.id, now)
        return merchant, key

    def sign_up(self, name: str, email: str, password: str) -> tuple[Merchant, str]:
        """A console account (and its first API key); `EmailTaken` if the email has one."""
        try:
            return self.create_merchant(name, email, generate_password_hash(password))
        except Conflict as exc:  # the same email signed up a moment ago
            raise EmailTaken(email) from exc

    def email_taken(self, email: str) -> bool:
        with self.core.store.transaction(write=False) as tx:
            return tx.get_merchant_by_email(email) is not None

    def merchant_by_email(self, email: str) -> Merchant | None:
        with self.core.store.transaction(write=False) as tx:
            return tx.get_merchant_by_email(email)

    def get_merchant(self, merchant_id: str) -> Merchant | None:
        with self.core.store.transaction(write=False) as tx:
            return tx.get_merchant(merchant_id)

    def log_in(self, email: str, password: str) -> Merchant | None:
        """The merchant when the password is right; None when not (and the failure counts);
        `LockedOut` while the email is locked (the password is not even checked)."""
        now = self.core.now()
        with self.core.store.transaction(write=False) as tx:
            failures = tx.get_login_failures(email)
            merchant = tx.get_merchant_by_email(email)
        if failures is not None and failures[2] is not None and failures[2] > now:
            raise LockedOut(failures[2])
        stored = merchant.password_hash if merchant is not None else None
        if check_password_hash(stored or _DUMMY_HASH, password) and stored is not None:
            if failures is not None:
                with self.core.store.transaction() as tx:
                    tx.clear_login_failures(email)
            return merchant
        with self.core.store.transaction() as tx:
            _count, locked_until = tx.add_login_failure(
                email, now, now - LOCK_SECONDS, MAX_FAILURES, now + LOCK_SECONDS)
        if locked_until is not None and locked_until > now:
            raise LockedOut(locked_until)
        return None

    def set_webhook(self, merchant: Merchant, url: str | None, secret: str) -> None:
        """Where the merchant's events are delivered, and the secret that signs them."""
        with self.core.store.transaction() as tx:
            tx.update_merchant(merchant.id, webhook_url=url, webhook_secret=secret)

    # API keys ------------------------------------------------------------------------------

    def _new_key(self, tx: Tx, merchant_id: str, now: int) -> str:
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        tx.insert_api_key(new_id("key"), merchant_id, hash_key(key), key[:8], now)
        return key

    def create_api_key(self, merchant: Merchant) -> str:
        with self.core.store.transaction() as tx:
            return self._new_key(tx, merchant.id, self.core.now())

    def revoke_api_key(self, merchant: Merchant, key_id: str) -> bool:
        with self.core.store.transaction() as tx:
            return tx.revoke_api_key(merchant.id, key_id, self.core.now())

    def list_api_keys(self, merchant: Merchant) -> list[dict[str, Any]]:
        """The merchant's keys by prefix (id, prefix, created_at, revoked_at), oldest first."""
        with self.core.store.transaction(write=False) as tx:
            return tx.list_api_keys(merchant.id)

    def merchant_for_key(self, api_key: str | None) -> Merchant:
        if not api_key or not api_key.startswith(KEY_PREFIX):
            raise Unauthorized()
        with self.core.store.transaction(write=False) as tx:
            merchant = tx.merchant_for_key_hash(hash_key(api_key))
        if merchant is None:
            raise Unauthorized("The API key is unknown or revoked")
        return merchant

    # participant tokens --------------------------------------------------------------------

    def participant_token(self, merchant: Merchant, participant_id: str, display_name: str = "",
                          ttl: int | None = None) -> tuple[str, int]:
        """A signed token for one of the merchant's shoppers, and when it expires."""
        expires_at = self.core.now() + int(ttl or self.core.settings.participant_token_ttl)
        return (sign_participant_token(merchant.participant_secret, participant_id, expires_at,
                                       display_name), expires_at)

    def authenticate_participant(self, activity_id: str, token: str | None) -> Participant:
        """The participant a token names, checked against the activity's merchant's secret."""
        if not token:
            raise InvalidToken("A participant token is required")
        return read_participant_token(self._participant_secret(activity_id), token,
                                      self.core.now())

    def _participant_secret(self, activity_id: str) -> str:
        # An activity never changes merchant and a merchant's secret never changes, so the
        # answer is kept: every participant request needs it, and it would cost a transaction.
        cache = self.core.secrets
        secret = cache.get(activity_id)
        if secret is None:
            with self.core.store.transaction(write=False) as tx:
                activity = self.core.activity(tx, activity_id)
                merchant = tx.get_merchant(activity.merchant_id)
            assert merchant is not None  # an activity's merchant is never deleted
            secret = merchant.participant_secret
            if len(cache) >= 100_000:
                cache.clear()
            cache[activity_id] = secret
        return secret
