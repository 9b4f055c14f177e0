"""Who is calling: a merchant backend (API key) or a shopper's mini-program (participant token).

Both come as `Authorization: Bearer <credential>`; API keys start with `mck_`. Checking them is
the engine's job (keys are stored hashed; tokens are signed with the merchant's secret), so this
module only extracts them from the request.
"""

from __future__ import annotations

from flask import g, request

from magic_cube.api.context import get_engine
from magic_cube.engine import Merchant, Participant


def bearer() -> str | None:
    """The credential of this request's `Authorization: Bearer <credential>`, or None."""
    return credential_of(request.environ.get("HTTP_AUTHORIZATION", ""))  # (headers.get's)


def credential_of(header: str) -> str | None:
    """The credential of an `Authorization` header's `Bearer <credential>`, or None."""
    scheme, _, credential = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credential.strip() or None


def current_merchant() -> Merchant:
    """The merchant whose API key signs this request (401 `unauthorized` otherwise)."""
    merchant = g.get("merchant")
    if merchant is None:
        merchant = g.merchant = get_engine().merchant_for_key(bearer())
    return merchant


def current_participant(activity_id: str) -> Participant:
    """The participant named by this request's token, checked against the activity's merchant
    (401 `invalid_token` / `token_expired`; 404 `activity_not_found` for an unknown activity)."""
    # (activity, participant) once checked in this request (by the rate limit first): a
    # request has one token
    state = g._get_current_object()
    checked = state.get("verified_participant")
    if checked is not None and checked[0] == activity_id:
        return checked[1]
    participant = get_engine().authenticate_participant(activity_id, bearer())
    state.verified_participant = (activity_id, participant)
    return participant
