"""Blocklists, anomaly flags and voids over HTTP, on SQLite and PostgreSQL: a refused block
changes nothing, a never-winning participant never wins, a void returns the prizes to stock and
voids the codes (replay and invariants agree), the flags find scripted abuse."""

from __future__ import annotations

from typing import Any

import pytest
from engine_helpers import invariants
from stores import store_url

from magic_cube.app import create_app

ODDS_HIGH = {"prizes": [{"name": "Mug", "type": "physical", "stock": 100000, "odds": 9000}],
             "draws_per_day": 100, "draws_total": 1000, "extra_draws_max": 5}
DEVICE = "pool-device-0001"


@pytest.fixture
def app(tmp_path, clock, catalog, store_kind):
    """conftest's app without rate limits: a bot's thousands of draws come in one second of
    the test's clock (the limits themselves are tests/test_rate_limits.py's)."""
    url, cleanup = store_url(store_kind, tmp_path)
    app = create_app({"CATALOG": catalog, "TESTING": True, "CLOCK": clock, "SETTINGS": {
        "database_url": url, "long_poll_interval": 0.1, "rate_limit_enabled": False}})
    yield app
    app.extensions["magic_cube"].store.close()
    cleanup()


def block(shop: Any, aid: str, kind: str, value: str, outcome: str) -> Any:
    return shop.client.post(f"/v1/merchant/activities/{aid}/blocks", headers=shop.headers,
                            json={"kind": kind, "value": value, "outcome": outcome})


def draw(shop: Any, aid: str, who: str, device: str | None = None) -> Any:
    return shop.act(aid, "draw", who, headers={"Magic-Cube-Device": device} if device else None)


def me(shop: Any, aid: str, who: str) -> dict[str, Any]:
    r = shop.client.get(f"/v1/activities/{aid}/me", headers=shop.as_(who))
    assert r.status_code == 200
    return r.get_json()


def public(shop: Any, aid: str) -> dict[str, Any]:
    return shop.client.get(f"/v1/activities/{aid}").get_json()


def test_never_winning_participants_never_win_over_thousands_of_draws(shop, engine):
    aid = shop.live("lottery", ODDS_HIGH)["id"]
    assert block(shop, aid, "participant", "wool", "never_wins").status_code == 201
    assert block(shop, aid, "device", DEVICE, "never_wins").status_code == 201
    hits = 0
    for i in range(20):  # 20 accounts on the blocked device, and the blocked account itself
        who = "wool" if i == 0 else f"sock{i}"
        for _ in range(100):
            r = draw(shop, aid, who, DEVICE if i else None)
            assert r.status_code == 200, r.get_json()
            hits += r.get_json()["result"]["hit"]
    assert hits == 0  # at 90 % odds, 2000 honest draws would win about 1800 times
    honest = sum(draw(shop, aid, "honest").get_json()["result"]["hit"] for _ in range(50))
    assert honest > 25
    stock = public(shop, aid)["view"]["stock_left"]
    assert stock == [100000 - honest]
    assert invariants(engine, aid) == []


def test_a_refused_participant_gets_403_and_changes_nothing(shop, engine):
    aid = shop.live("lottery", ODDS_HIGH)["id"]
    assert draw(shop, aid, "bot").status_code == 200
    assert block(shop, aid, "participant", "bot", "refused").status_code == 201
    before_me, before = me(shop, aid, "bot"), public(shop, aid)
    log = shop.client.get(f"/v1/merchant/activities/{aid}/actions", headers=shop.headers)
    for lang in ("en", "zh"):
        r = shop.act(aid, "draw", "bot", headers={"Accept-Language": lang})
        assert r.status_code == 403 and r.get_json()["error"] == "participant_blocked"
    assert "不能" in r.get_json()["message"]
    assert me(shop, aid, "bot") == before_me
    assert public(shop, aid)["view"] == before["view"]
    again = shop.client.get(f"/v1/merchant/activities/{aid}/actions", headers=shop.headers)
    assert again.get_json() == log.get_json()  # no entry written
    # A device block refuses every account on it; lifting it lets them in again.
    assert block(shop, aid, "device", DEVICE, "refused").status_code == 201
    assert draw(shop, aid, "fresh", DEVICE).status_code == 403
    assert draw(shop, aid, "fresh").status_code == 200
    r = shop.client.delete(f"/v1/merchant/activities/{aid}/blocks?kind=device&value={DEVICE}",
                           headers=shop.headers)
    assert r.status_code == 204
    assert draw(shop, aid, "fresh", DEVICE).status_code == 200
    items = shop.client.get(f"/v1/merchant/activities/{aid}/blocks",
                            headers=shop.headers).get_json()["items"]
    assert [(b["kind"], b["value"], b["outcome"]) for b in items] == [
        ("participant", "bot", "refused")]
    assert invariants(engine, aid) == []


def test_a_void_returns_prizes_voids_codes_blocks_and_replays(shop, engine):
    aid = shop.live("lottery", ODDS_HIGH)["id"]
    wins = sum(draw(shop, aid, "cheat").get_json()["result"]["hit"] for _ in range(20))
    assert wins > 0
    assert public(shop, aid)["view"]["stock_left"] == [100000 - wins]
    codes = shop.client.get(f"/v1/merchant/activities/{aid}/redemptions?search=cheat",
                            headers=shop.headers).get_json()["items"]
    assert len(codes) == wins
    redeemed = codes[0]["code"]  # already at the counter: stays redeemed, not returned
    assert shop.client.post(f"/v1/merchant/codes/{redeemed}/redeem", json={},
                            headers=shop.headers).status_code == 200
    r = shop.client.post(f"/v1/merchant/activities/{aid}/voids", json={"participant": "cheat"},
                         headers=shop.headers)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["codes_voided"] == wins - 1 and r.get_json()["actions"] == ["void"]
    assert public(shop, aid)["view"]["stock_left"] == [100000]  # every prize back in stock
    assert me(shop, aid, "cheat")["view"]["prizes"] == []
    for code in codes[1:]:
        r = shop.client.post(f"/v1/merchant/codes/{code['code']}/redeem", json={},
                             headers=shop.headers)
        assert r.status_code == 409 and r.get_json()["error"] == "code_voided"
    assert draw(shop, aid, "cheat").status_code == 403
    again = shop.client.post(f"/v1/merchant/activities/{aid}/voids",
                             json={"participant": "cheat"}, headers=shop.headers)
    assert again.status_code == 409 and again.get_json()["error"] == "already_voided"
    events = shop.client.get(f"/v1/merchant/activities/{aid}/events?limit=200",
                             headers=shop.headers).get_json()["items"]
    voided = [e for e in events if e["type"] == "participant.voided"]
    assert len(voided) == 1 and voided[0]["data"]["participant"] == "cheat"
    assert sum(e["type"] == "prize.voided" for e in events) == wins
    assert invariants(engine, aid) == []  # replay included


def test_a_void_returns_a_bargain_order_to_stock(shop, engine):
    config = {"product_name": "Tea set", "original_price": 10000, "floor_price": 1000,
              "helpers_needed": 3, "cut_min": 1000, "cut_max": 5000, "stock": 5}
    aid = shop.live("bargain", config)["id"]
    room = shop.act(aid, "start", "cheat").get_json()["result"]["room"]
    for friend in ("f1", "f2", "f3"):  # each on a phone of their own
        r = shop.act(aid, "help", friend, room=room)
        assert r.status_code == 200, r.get_json()
    assert shop.act(aid, "buy", "cheat", room=room).status_code == 200
    assert public(shop, aid)["view"]["stock_left"] == 4
    r = shop.client.post(f"/v1/merchant/activities/{aid}/voids", json={"participant": "cheat"},
                         headers=shop.headers)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["codes_voided"] == 1 and r.get_json()["actions"] == ["void"]
    assert public(shop, aid)["view"]["stock_left"] == 5  # the order's unit is back on sale
    assert invariants(engine, aid) == []  # stock + sold still the stock published; replay agrees


def test_a_refused_participant_gets_no_share_link_and_no_interaction_time(shop):
    aid = shop.live("lottery")["id"]
    assert draw(shop, aid, "bot").status_code == 200
    assert block(shop, aid, "participant", "bot", "refused").status_code == 201
    r = shop.client.post(f"/v1/activities/{aid}/share", json={}, headers=shop.as_("bot"))
    assert r.status_code == 403 and r.get_json()["error"] == "participant_blocked"
    r = shop.client.post(f"/v1/activities/{aid}/heartbeat", headers=shop.as_("bot"))
    assert r.status_code == 403 and r.get_json()["error"] == "participant_blocked"
    ok = shop.client.post(f"/v1/activities/{aid}/share", json={}, headers=shop.as_("fair"))
    assert ok.status_code == 200


def test_voiding_needs_a_participant_who_acted(shop):
    aid = shop.live("lottery")["id"]
    r = shop.client.post(f"/v1/merchant/activities/{aid}/voids", json={"participant": "nobody"},
                         headers=shop.headers)
    assert r.status_code == 404 and r.get_json()["error"] == "participant_not_found"
    draft = shop.create("lottery")["id"]
    r = block(shop, draft, "participant", "x", "refused")
    assert r.status_code == 409 and r.get_json()["error"] == "invalid_transition"
    r = block(shop, aid, "device", "x" * 129, "refused")
    assert r.status_code == 422


def test_flags_find_a_burst_a_shared_device_and_pure_helpers(shop, clock):
    lottery = shop.live("lottery", ODDS_HIGH)["id"]
    code = shop.client.post(f"/v1/activities/{lottery}/share", json={},
                            headers=shop.as_("boss")).get_json()["code"]
    for i in range(6):  # six brand-new accounts through one link within minutes
        r = shop.client.post(f"/v1/activities/{lottery}/actions/draw", json={"via": code},
                             headers=shop.as_(f"fake{i}", extra={"Magic-Cube-Device": DEVICE}))
        assert r.status_code == 200, r.get_json()
        clock.advance(60)
    assert draw(shop, lottery, "loner").status_code == 200
    found = shop.client.get(f"/v1/merchant/activities/{lottery}/flags",
                            headers=shop.headers).get_json()
    by_kind = {f["kind"]: f for f in found["flags"]}
    burst = by_kind["invite_burst"]
    assert burst["subject"] == "boss" and burst["count"] == 6
    assert set(burst["participants"]) == {"boss", *[f"fake{i}" for i in range(6)]}
    assert by_kind["shared_device"]["subject"] == DEVICE
    assert by_kind["shared_device"]["count"] == 6
    review = {r["participant"]: r for r in found["review"]}
    assert review["fake0"]["flags"] == ["invite_burst", "shared_device"]
    assert "loner" not in review and found["thresholds"]["burst_invitees"] == 5

    bargain = shop.live("bargain")["id"]
    rooms = [shop.act(bargain, "start", who).get_json()["room"] for who in ("a1", "a2", "a3")]
    for room in rooms:
        assert shop.act(bargain, "help", "helper", room=room).status_code == 200
    assert shop.act(bargain, "help", "friend", room=rooms[0]).status_code == 200
    flags = shop.client.get(f"/v1/merchant/activities/{bargain}/flags",
                            headers=shop.headers).get_json()["flags"]
    assert [(f["kind"], f["subject"], f["count"]) for f in flags] == [
        ("helper_only", "helper", 3)]


def test_a_never_winning_helper_cuts_the_least_a_bargain_allows(shop, engine):
    aid = shop.live("bargain")["id"]
    room = shop.act(aid, "start", "amy").get_json()["room"]
    assert block(shop, aid, "participant", "sock", "never_wins").status_code == 201
    r = shop.act(aid, "help", "sock", room=room)
    assert r.status_code == 200
    assert r.get_json()["result"]["cut"] == 1000  # cut_min: 9000 over 3 helpers of ≤ 5000 each
    assert invariants(engine, aid) == []


def test_a_second_redeem_says_when_the_first_was_in_utc(shop):
    aid = shop.live("lottery", ODDS_HIGH)["id"]
    while not draw(shop, aid, "amy").get_json()["result"]["hit"]:
        pass
    listed = shop.client.get(f"/v1/merchant/activities/{aid}/redemptions",
                             headers=shop.headers).get_json()["items"][0]
    assert listed["voided_at"] is None  # every documented field, also when unset
    code = listed["code"]
    first = shop.client.post(f"/v1/merchant/codes/{code}/redeem", json={}, headers=shop.headers)
    again = shop.client.post(f"/v1/merchant/codes/{code}/redeem", json={}, headers=shop.headers)
    assert again.status_code == 409 and again.get_json()["error"] == "already_redeemed"
    when = again.get_json()["errors"]["redeemed_at"]
    assert when == first.get_json()["redeemed_at"] and when.endswith("Z")
