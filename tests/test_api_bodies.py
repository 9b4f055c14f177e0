"""Every endpoint applies the same body rules, those that take no body too: a body sent is within
`max_body_bytes` (413) and a JSON object (400 `invalid_json`) with no field the endpoint does
not take (422 `unknown_field`), and a refused body changes nothing. No body, an empty one or
`{}` is no body at all (both stores, like every test_api_* module)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from test_api_campaigns import create_campaign, operator
from test_api_errors import LIMIT, assert_error_body, post_chunked

ACTIVITIES = "/v1/merchant/activities"

BAD_BODIES = [
    (b"x" * 5_000_000, 413, "payload_too_large"),
    (b"{", 400, "invalid_json"),
    (b"[]", 400, "invalid_json"),
    (b"\x00", 400, "invalid_json"),
    (b'{"note": "\\ud800"}', 400, "invalid_json"),
    (b'{"reason": "typo"}', 422, "validation_error"),
]


def refuses_every_bad_body(client: Any, url: str,
                           headers: dict[str, str] | Callable[[int], dict[str, str]],
                           method: str = "POST") -> None:
    """Each bad body gets its error; `headers` may be made anew for each request (a
    participant's own, so that no rate limit counts them all)."""
    made = headers if callable(headers) else lambda _: headers
    for i, (raw, status, code) in enumerate(BAD_BODIES):
        r = client.open(url, method=method, data=raw, headers=made(i),
                        content_type="application/json")
        body = assert_error_body(r, status, code)
        if code == "validation_error":
            assert body["errors"] == {"reason": [{"code": "unknown_field",
                                                  "message": "Unknown field."}]}
    if method == "POST":
        r = post_chunked(client, url, b"{}" + b" " * LIMIT, made(len(BAD_BODIES)))
        assert_error_body(r, 413, "payload_too_large")


def status_of(shop: Any, activity_id: str) -> str:
    return shop.client.get(f"{ACTIVITIES}/{activity_id}", headers=shop.headers).get_json()[
        "status"]


@pytest.mark.parametrize("verb, before, after", [
    ("pause", "live", "paused"), ("resume", "paused", "live"), ("end", "live", "ended"),
    ("archive", "draft", "archived"),
])
def test_a_lifecycle_change_with_a_body_is_refused_and_changes_nothing(client, shop, verb,
                                                                      before, after):
    activity = shop.create("lottery")["id"]
    if before != "draft":
        shop.publish(activity)
    if before == "paused":
        shop.lifecycle(activity, "pause")
    url = f"{ACTIVITIES}/{activity}/{verb}"
    refuses_every_bad_body(client, url, shop.headers)
    assert status_of(shop, activity) == before
    r = client.post(url, data=b"{}", headers=shop.headers, content_type="application/json")
    assert r.status_code == 200 and r.get_json()["status"] == after


def test_duplicate_with_a_body_is_refused_and_makes_no_draft(client, shop):
    activity = shop.create("lottery")["id"]
    url = f"{ACTIVITIES}/{activity}/duplicate"
    refuses_every_bad_body(client, url, shop.headers)
    assert len(client.get(ACTIVITIES, headers=shop.headers).get_json()["items"]) == 1
    r = client.post(url, data=b"  ", headers=shop.headers, content_type="text/plain")
    assert r.status_code == 201


def test_a_heartbeat_with_a_body_is_refused(client, shop):
    lottery = shop.live("lottery")["id"]
    url = f"/v1/activities/{lottery}/heartbeat"
    refuses_every_bad_body(client, url, lambda i: shop.as_(f"amy{i}"))
    assert client.post(url, headers=shop.as_("amy")).status_code == 200


def test_a_redelivery_with_a_body_is_refused_before_anything_else(client, shop, configs):
    sure_win = {**configs["lottery"], "prizes": [
        {"name": "Coupon", "type": "coupon", "stock": 5, "odds": 10000}]}
    lottery = shop.live("lottery", sure_win)["id"]
    assert shop.act(lottery, "draw", "amy").status_code == 200
    event = client.get(f"{ACTIVITIES}/{lottery}/events", headers=shop.headers).get_json()[
        "items"][0]
    url = f"{ACTIVITIES}/{lottery}/events/{event['id']}/redeliver"
    refuses_every_bad_body(client, url, shop.headers)
    # `{}` is no body: the endpoint answers as it does without one
    r = client.post(url, json={}, headers=shop.headers)
    assert_error_body(r, 409, "event_pending")


def test_accepting_an_invitation_with_a_body_is_refused_and_joins_nothing(client, shop):
    mall = operator(shop)
    campaign = create_campaign(mall)["id"]
    code = client.post(f"/v1/merchant/campaigns/{campaign}/invites",
                       headers=mall.headers).get_json()["code"]
    url = f"/v1/merchant/campaign-invites/{code}"
    refuses_every_bad_body(client, url, shop.headers)
    assert client.get(url, headers=shop.headers).get_json()["accepted"] is False
    assert client.post(url, headers=shop.headers).status_code == 200


def test_a_poll_or_a_listing_with_a_body_is_refused(client, shop):
    lottery = shop.live("lottery")["id"]
    refuses_every_bad_body(client, f"/v1/activities/{lottery}", {}, method="GET")
    refuses_every_bad_body(client, ACTIVITIES, shop.headers, method="GET")
    assert client.get(f"/v1/activities/{lottery}", data=b"{}").status_code == 200


def test_a_body_is_read_only_after_the_api_key_is_checked(client, shop):
    lottery = shop.live("lottery")["id"]
    r = client.post(f"{ACTIVITIES}/{lottery}/pause", data=b"{",
                    headers={"Authorization": "Bearer mck_unknown"})
    assert_error_body(r, 401, "unauthorized")
