"""Merchants: their accounts and console logins, API keys, webhook settings, and the
participant tokens they issue.

API keys are shown once and stored only as a SHA-256 hash. Participant tokens are signed by
itsdangerous with the merchant's own secret, so a merchant backend can mint them itself
(docs/api.md gives the format) and one merchant's tokens mean nothing to another's activities.
Console passwords are hashed with werkzeug (scrypt). Failed logins are throttled per account
*and* client address, so that whoever knows a merchant's email cannot keep the merchant out:
`MAX_FAILURES` failures for one email from one address within `LOCK_SECONDS` lock that email
for that address only, for `LOCK_SECONDS`. `MAX_ACCOUNT_FAILURES` failures for the email from
all addresses together (a guess spread over many addresses) lock it for every address that has
failed meanwhile; an address that has not failed may still try. The counts live in the
database, so they hold across processes and restarts.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from itsdangerous import BadData, URLSafeSerializer
from werkzeug.security import check_password_hash, generate_password_hash

from magic_cube.engine.core import Core, new_id
from magic_cube.engine.errors import (
    ActivityNotFound,
    EngineError,
    GuestsNotAllowed,
    InvalidNickname,
    InvalidToken,
    TokenExpired,
    Unauthorized,
)
from magic_cube.errors import MagicCubeError
from magic_cube.store import Conflict, Tx
from magic_cube.store.records import Merchant

TOKEN_SALT = "magic-cube.participant"
KEY_PREFIX = "mck_"
MAX_FAILURES = 5  # per email and client address
MAX_ACCOUNT_FAILURES = 50  # per email, from every address together
LOCK_SECONDS = 15 * 60
ACCOUNT = ""  # the address of the row that counts an email's failures from every address
# Participant ids and display names: the one rule for every way one comes in (a token signed
# here or by the merchant, a merchant action, a block, a void); no control characters (C0,
# DEL, C1) and no lone surrogates. The API's schemas check the same (api/schemas.py).
MAX_PARTICIPANT_ID = 128
MAX_DISPLAY_NAME = 64
CONTROL_CHARACTERS = r"\u0000-\u001f\u007f-\u009f"  # a regex character range
_NOT_TEXT = re.compile(f"[{CONTROL_CHARACTERS}\\ud800-\\udfff]")
MAX_EXP = 2**63 - 1
# Checked when the email is unknown, so that a wrong email takes as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not a password")


@dataclass(frozen=True)
class Participant:
    """An authenticated shopper: the merchant's own user id and an optional display name."""

    id: str
    display_name: str = ""
    # Where the request came from, for limits per device and per address (docs/templates.md,
    # "Limits"): the client's own stable device id (`Magic-Cube-Device`) and its IP address.
    device: str = ""
    address: str = ""


class LockedOut(MagicCubeError):
    """Too many failed logins for an email from this address (or from many): refused, without
    checking the password, until `until`."""

    def __init__(self, until: int) -> None:
        super().__init__(until)
        self.until = until


class EmailTaken(MagicCubeError):
    """A merchant account with this email exists already."""


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


# Verified tokens kept per process (`_token_payload`): some 300 bytes each.
TOKENS_KEPT = 20_000


@lru_cache(maxsize=1024)
def token_serializer(secret: str) -> URLSafeSerializer:
    # One per merchant secret, kept: every participant request reads a token.
    return URLSafeSerializer(secret, salt=TOKEN_SALT)


def sign_participant_token(secret: str, participant_id: str, expires_at: int,
                           display_name: str = "") -> str:
    payload: dict[str, Any] = {"p": participant_id, "exp": expires_at}
    if display_name:
        payload["n"] = display_name
    return str(token_serializer(secret).dumps(payload))


def participant_text_error(value: str, most: int, least: int = 1) -> str | None:
    """Why `value` cannot be a participant id or display name (None: it can)."""
    if not least <= len(value) <= most:
        return f"{least} to {most} characters"
    if _NOT_TEXT.search(value):
        return "No control characters"
    return None


def check_participant_text(*checks: tuple[str, str, int, int]) -> None:
    """422 `validation_error`, keyed by field, for each `(field, value, most, least)` whose
    value is not a participant id or display name of `least` to `most` characters."""
    errors = {}
    for field, value, most, least in checks:
        why = participant_text_error(value, most, least)
        if why is not None:
            errors[field] = [{"code": "invalid", "message": why}]
    if errors:
        raise EngineError("The participant id or display name is not valid", errors=errors,
                          code="validation_error", status=422)


def read_participant_token(secret: str, token: str, now: int) -> Participant:
    """The participant a token names: `InvalidToken` unless it is signed with `secret` and
    its payload is well formed (the same limits as the tokens we sign), `TokenExpired` once
    past its `exp`."""
    participant, name, expires = _token_payload(secret, token)
    if expires <= now:
        raise TokenExpired()
    return Participant(participant, name)


@lru_cache(maxsize=TOKENS_KEPT)
def _token_payload(secret: str, token: str) -> tuple[str, str, int]:
    """(participant, display name, expiry) of a token signed with `secret`, else InvalidToken.
    Kept for the tokens that pass: a phone sends the same token with every poll, and checking
    its signature again (about 27 µs) cost more than a poll answered 304. A refused token is
    not kept, so made-up tokens cannot crowd out real ones; keyed by the secret too, so a
    merchant's new secret checks every token afresh."""
    try:
        payload = token_serializer(secret).loads(token)
    except BadData as exc:  # a forged signature, or a signed payload that is not JSON
        raise InvalidToken() from exc
    if not isinstance(payload, dict):
        raise InvalidToken()
    participant, expires, name = payload.get("p"), payload.get("exp"), payload.get("n")
    name = "" if name is None else name
    if (not isinstance(participant, str)
            or participant_text_error(participant, MAX_PARTICIPANT_ID) is not None
            or not isinstance(name, str)
            or participant_text_error(name, MAX_DISPLAY_NAME, 0) is not None
            or type(expires) is not int or not 0 <= expires <= MAX_EXP):
        raise InvalidToken()
    return participant, name, expires


def client_address(remote_addr: str | None) -> str:
    """The address failed logins are counted under: an IPv4 address as is, an IPv6 one by its
    /64 (one subscriber usually holds a whole /64, so single addresses would not hold)."""
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return (remote_addr or "unknown")[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


Failures = tuple[int, int, int | None]  # (failures, last failure time, locked until)


def locked_until(mine: Failures | None, account: Failures | None, now: int) -> int | None:
    """Until when a client address may not try an email: its own lock (`mine`), else the
    email's lock (`account`) if this address has failed within the window."""
    if mine is not None and mine[2] is not None and mine[2] > now:
        return mine[2]
    if (account is not None and account[2] is not None and account[2] > now
            and mine is not None and mine[1] > now - LOCK_SECONDS):
        return account[2]
    return None


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

    def log_in(self, email: str, password: str, address: str | None = None) -> Merchant | None:
        """The merchant when the password is right; None when not (and the failure counts);
        `LockedOut` while the email is locked for this client address (`request.remote_addr`;
        the password is then not even checked)."""
        now = self.core.now()
        address = client_address(address)
        with self.core.store.transaction(write=False) as tx:
            mine = tx.get_login_failures(email, address)
            account = tx.get_login_failures(email, ACCOUNT)
            merchant = tx.get_merchant_by_email(email)
        until = locked_until(mine, account, now)
        if until is not None:
            raise LockedOut(until)
        stored = merchant.password_hash if merchant is not None else None
        if check_password_hash(stored or _DUMMY_HASH, password) and stored is not None:
            if mine is not None:
                with self.core.store.transaction() as tx:
                    tx.clear_login_failures(email, address)
            return merchant
        with self.core.store.transaction() as tx:
            mine_count, mine_until = tx.add_login_failure(
                email, now, now - LOCK_SECONDS, MAX_FAILURES, now + LOCK_SECONDS, address)
            _count, account_until = tx.add_login_failure(
                email, now, now - LOCK_SECONDS, MAX_ACCOUNT_FAILURES, now + LOCK_SECONDS,
                ACCOUNT)
        until = locked_until((mine_count, now, mine_until), (0, now, account_until), now)
        if until is not None:
            raise LockedOut(until)
        return None

    def purge_login_failures(self, now: int) -> int:
        """Forget failed logins that no longer count or lock anything."""
        with self.core.store.transaction() as tx:
            return tx.purge_login_failures(now - LOCK_SECONDS, now)

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
        """A signed token for one of the merchant's shoppers, and when it expires. The id and
        name must be ones `read_participant_token` accepts (`validation_error` otherwise)."""
        check_participant_text(("participant", participant_id, MAX_PARTICIPANT_ID, 1),
                               ("display_name", display_name, MAX_DISPLAY_NAME, 0))
        expires_at = self.core.now() + int(ttl or self.core.settings.participant_token_ttl)
        return (sign_participant_token(merchant.participant_secret, participant_id, expires_at,
                                       display_name), expires_at)

    def authenticate_participant(self, activity_id: str, token: str | None) -> Participant:
        """The participant a token names, checked against the activity's merchant's secret."""
        if not token:
            raise InvalidToken(InvalidToken.missing)
        return read_participant_token(self._participant_secret(activity_id), token,
                                      self.core.now())

    def guest_token(self, activity_id: str, nickname: Any) -> dict[str, Any]:
        """A token for a guest with a nickname, on an activity its merchant opened to guests
        (for trying an activity out; a real shop hands its shoppers their own tokens)."""
        name = nickname.strip() if isinstance(nickname, str) else ""
        if not 1 <= len(name) <= 20 or any(ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c)
                                           <= 0xDFFF for c in name):
            raise InvalidNickname(errors={"nickname": [{"code": "invalid",
                                                        "message": InvalidNickname.message}]})
        with self.core.store.transaction(write=False) as tx:
            activity = self.core.activity(tx, activity_id)
            merchant = tx.get_merchant(activity.merchant_id)
        if activity.unpublished or merchant is None:
            raise ActivityNotFound()
        if not activity.guests:
            raise GuestsNotAllowed()
        participant = f"guest_{secrets.token_hex(8)}"
        token, expires_at = self.participant_token(merchant, participant, name)
        return {"token": token, "participant": participant, "expires_at": expires_at}

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
