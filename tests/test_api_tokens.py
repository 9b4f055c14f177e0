"""Participant tokens a merchant signs itself: correctly signed but malformed payloads are
`401 invalid_token`, never a crash, and the limits of `POST /v1/merchant/participant-tokens`
hold for them too (both stores, like every test_api_* module)."""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest
from itsdangerous import URLSafeSerializer
from itsdangerous.encoding import base64_encode
from test_api_errors import assert_error_body

ACTIVITIES = "/v1/merchant/activities"
LATER = int(time.time()) + 10 * 365 * 86400  # past the test clock, whatever it says


def signer(shop) -> URLSafeSerializer:
    """What a merchant's backend signs with (docs/api.md, "Participant tokens")."""
    return URLSafeSerializer(shop.merchant.participant_secret, salt="magic-cube.participant")


def sign_raw(shop, text: bytes) -> str:
    """A token whose payload is exactly `text` (JSON or not), correctly signed."""
    serializer = signer(shop)
    return serializer.make_signer(serializer.salt).sign(base64_encode(text)).decode()


def sign(shop, payload: dict) -> str:
    """`payload` as ASCII JSON (a lone surrogate as its `\\ud800` escape), signed."""
    return sign_raw(shop, json.dumps(payload).encode())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_refused(client, shop, lottery: str, token: str) -> None:
    """401 invalid_token on an action and on a poll, and nothing logged."""
    r = client.post(f"/v1/activities/{lottery}/actions/draw", headers=bearer(token))
    assert_error_body(r, 401, "invalid_token")
    r = client.get(f"/v1/activities/{lottery}/me", headers=bearer(token))
    assert_error_body(r, 401, "invalid_token")
    r = client.get(f"{ACTIVITIES}/{lottery}/actions", headers=shop.headers)
    assert r.get_json()["items"] == []


@pytest.mark.parametrize("text", [
    b"not json",
    b"\xff\xfe not even UTF-8",
    b'["amy", 4102444800]',
    b'"amy"',
    b'{"p": "amy", "exp": ' + b"9" * 5000 + b"}",  # beyond Python's int digits limit
    b'{"p": "amy", "exp": ' + b"9" * 1000 + b"}",  # an int, far beyond 64 bits
    b'{"p": "amy", "exp": 1e400}',
], ids=["text", "not-utf8", "array", "string", "exp-5000-digits", "exp-1000-digits",
        "exp-infinite"])
def test_a_signed_payload_that_is_not_a_token_is_401(client, shop, text):
    lottery = shop.live("lottery")["id"]
    assert_refused(client, shop, lottery, sign_raw(shop, text))


@pytest.mark.parametrize("payload", [
    {"p": "\ud800", "exp": LATER},
    {"p": "amy\udfff", "exp": LATER},
    {"p": "amy", "exp": LATER, "n": "\ud83d"},
    {"p": "amy", "exp": str(LATER)},
    {"p": "amy", "exp": True},
    {"p": "amy", "exp": LATER + 0.5},
    {"p": "amy", "exp": 2**63},
    {"p": "amy", "exp": -1},
    {"p": "amy"},
    {"exp": LATER},
    {"p": 42, "exp": LATER},
    {"p": "amy", "exp": LATER, "n": 7},
], ids=["lone-surrogate", "trailing-surrogate", "surrogate-in-name", "exp-string", "exp-bool",
        "exp-float", "exp-beyond-64-bits", "exp-negative", "no-exp", "no-p", "p-number",
        "n-number"])
def test_a_signed_token_with_a_bad_claim_is_401(client, shop, payload):
    lottery = shop.live("lottery")["id"]
    assert_refused(client, shop, lottery, sign(shop, payload))


@pytest.mark.parametrize("participant", [
    "", "a" * 129, "a" * 2000, "a\x00b", "a\x01b", "tab\there", "a\x7f", "a\x85b", "\x1b[31m",
], ids=["empty", "129", "2000", "nul", "soh", "tab", "del", "c1", "escape"])
def test_a_self_signed_participant_id_follows_the_endpoints_rule(client, shop, participant):
    lottery = shop.live("lottery")["id"]
    assert_refused(client, shop, lottery, sign(shop, {"p": participant, "exp": LATER}))
    r = client.post("/v1/merchant/participant-tokens", json={"participant": participant},
                    headers=shop.headers)
    if "\x00" in participant:  # not text: the body itself is refused
        assert_error_body(r, 400, "invalid_json")
    else:
        assert_error_body(r, 422, "validation_error")
        assert "participant" in r.get_json()["errors"]


@pytest.mark.parametrize("name", ["n" * 65, "a\x00", "bell\x07"])
def test_a_self_signed_display_name_follows_the_endpoints_rule(client, shop, name):
    lottery = shop.live("lottery")["id"]
    assert_refused(client, shop, lottery, sign(shop, {"p": "amy", "exp": LATER, "n": name}))
    r = client.post("/v1/merchant/participant-tokens",
                    json={"participant": "amy", "display_name": name}, headers=shop.headers)
    if "\x00" in name:
        assert_error_body(r, 400, "invalid_json")
    else:
        assert_error_body(r, 422, "validation_error")
        assert "display_name" in r.get_json()["errors"]


def test_the_longest_ids_and_names_and_any_script_are_accepted(client, shop):
    lottery = shop.live("lottery")["id"]
    longest = "u" * 127 + "\u4e2d"
    token = sign(shop, {"p": longest, "exp": LATER, "n": "\u5f20" * 64})
    r = client.post(f"/v1/activities/{lottery}/actions/draw", headers=bearer(token))
    assert r.status_code == 200, r.get_json()
    log = client.get(f"{ACTIVITIES}/{lottery}/actions", headers=shop.headers).get_json()
    assert log["items"][0]["participant"] == longest
    # Without `n`, or with `"n": null`, the participant simply has no display name.
    token = sign(shop, {"p": "bob", "exp": LATER, "n": None})
    assert client.get(f"/v1/activities/{lottery}/me", headers=bearer(token)).status_code == 200


def test_a_compressed_self_signed_token_is_read_like_any_other(client, shop):
    lottery = shop.live("lottery")["id"]
    token = signer(shop).dumps({"p": "amy", "exp": LATER, "n": "A" * 60, "pad": "x" * 500})
    assert token.startswith(".")  # itsdangerous compressed it
    assert client.get(f"/v1/activities/{lottery}/me", headers=bearer(token)).status_code == 200


def test_an_expired_self_signed_token_is_still_token_expired(client, shop):
    lottery = shop.live("lottery")["id"]
    token = sign(shop, {"p": "amy", "exp": 1})
    r = client.get(f"/v1/activities/{lottery}/me", headers=bearer(token))
    assert_error_body(r, 401, "token_expired")



def test_a_token_read_before_still_expires_and_its_forgery_is_still_refused(client, shop, clock):
    # Tokens that passed are kept per process (a phone polls with the same one): the expiry
    # is checked on every request all the same, and a changed signature is checked afresh.
    lottery = shop.live("lottery")["id"]
    r = client.post("/v1/merchant/participant-tokens", json={"participant": "amy", "ttl": 60},
                    headers=shop.headers)
    token = r.get_json()["token"]
    for _ in range(3):
        assert client.get(f"/v1/activities/{lottery}/me", headers=bearer(token)).status_code == 200
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert_error_body(client.get(f"/v1/activities/{lottery}/me", headers=bearer(forged)), 401,
                      "invalid_token")
    clock.now += 61
    assert_error_body(client.get(f"/v1/activities/{lottery}/me", headers=bearer(token)), 401,
                      "token_expired")


@pytest.mark.parametrize("ttl", [1.5, "86400", True, [60]], ids=["fraction", "text", "bool",
                                                                  "list"])
def test_a_token_ttl_that_is_not_a_whole_number_is_422(client, shop, ttl):
    r = client.post("/v1/merchant/participant-tokens", json={"participant": "u1", "ttl": ttl},
                    headers=shop.headers)
    errors = assert_error_body(r, 422, "validation_error")["errors"]
    assert errors["ttl"][0]["code"] == "type"


def test_a_token_ttl_with_a_zero_fraction_is_a_whole_number(client, shop, clock):
    r = client.post("/v1/merchant/participant-tokens", json={"participant": "u1", "ttl": 60.0},
                    headers=shop.headers)
    assert r.status_code == 200, r.get_json()
    expires = datetime.fromisoformat(r.get_json()["expires_at"].replace("Z", "+00:00"))
    assert expires.timestamp() == clock.now + 60
