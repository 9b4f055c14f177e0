"""Writes to another participant (`with`) and keyed maps through the HTTP API, on both stores:
the collect-the-cards template moves a card from giver to asker in one action, replay agrees,
and every invariant holds."""

from __future__ import annotations

from typing import Any

from magic_cube.engine.invariants import invariants

ACTIVITIES = "/v1/merchant/activities"
CARDS = {"cards": [{"name": "A", "odds": 50}, {"name": "B", "odds": 50}],
         "prize_name": "Tea set", "prize_stock": 3}


def _grant(shop: Any, activity_id: str, who: str, card: str, count: int = 1) -> Any:
    return shop.client.post(f"{ACTIVITIES}/{activity_id}/actions/grant", headers=shop.headers,
                            json={"participant": who, "params": {"card": card, "count": count}})


def _me(shop: Any, activity_id: str, who: str) -> dict[str, Any]:
    r = shop.client.get(f"/v1/activities/{activity_id}/me", headers=shop.as_(who))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    return body.get("view", body)


def test_a_gift_moves_one_card_from_giver_to_asker(shop, engine):
    activity = shop.live("collect_cards", CARDS)
    aid = activity["id"]
    assert _grant(shop, aid, "alice", "A", 2).status_code == 200
    ask = shop.act(aid, "ask", "bob", params={"card": "A"})
    assert ask.status_code == 200, ask.get_json()
    room = ask.get_json()["result"]["room"]
    give = shop.act(aid, "give", "alice", room=room)
    assert give.status_code == 200, give.get_json()
    assert give.get_json()["result"] == {"card": "A", "left": 1}
    assert _me(shop, aid, "alice")["cards"] == {"A": 1}
    assert _me(shop, aid, "bob")["cards"] == {"A": 1}
    assert _me(shop, aid, "bob")["missing"] == ["B"]
    again = shop.act(aid, "give", "alice", room=room)
    assert again.status_code == 409 and again.get_json()["error"] == "room_closed"
    assert invariants(engine, aid) == []


def test_a_refused_gift_changes_nobody(shop, engine):
    activity = shop.live("collect_cards", CARDS)
    aid = activity["id"]
    _grant(shop, aid, "alice", "B")
    room = shop.act(aid, "ask", "bob", params={"card": "A"}).get_json()["result"]["room"]
    before = (_me(shop, aid, "alice"), _me(shop, aid, "bob"))
    r = shop.act(aid, "give", "alice", room=room)
    assert r.status_code == 409 and r.get_json()["error"] == "no_such_card"
    assert (_me(shop, aid, "alice"), _me(shop, aid, "bob")) == before
    assert invariants(engine, aid) == []


def test_cards_are_conserved_over_many_gifts_and_replay_agrees(shop, engine):
    activity = shop.live("collect_cards", CARDS)
    aid = activity["id"]
    people = ["p0", "p1", "p2", "p3"]
    granted = 0
    for i, who in enumerate(people):
        assert _grant(shop, aid, who, "AB"[i % 2], 3).status_code == 200
        granted += 3
    for round_ in range(6):
        asker, giver = people[round_ % 4], people[(round_ + 1) % 4]
        card = "AB"[round_ % 2]
        room = shop.act(aid, "ask", asker, params={"card": card}).get_json()["result"]["room"]
        shop.act(aid, "give", giver, room=room)  # accepted or refused: the sum holds either way
    total = sum(sum(_me(shop, aid, who)["cards"].values()) for who in people)
    assert total == granted
    assert invariants(engine, aid) == []  # includes a full replay of the log


def test_sets_are_exchanged_with_stock(shop, engine):
    activity = shop.live("collect_cards", {**CARDS, "prize_stock": 1})
    aid = activity["id"]
    for who in ("amy", "ben"):
        _grant(shop, aid, who, "A")
        _grant(shop, aid, who, "B")
    r = shop.act(aid, "redeem", "amy")
    assert r.status_code == 200 and r.get_json()["result"]["prize"] == "Tea set"
    assert _me(shop, aid, "amy")["cards"] == {}
    r = shop.act(aid, "redeem", "ben")
    assert r.status_code == 409 and r.get_json()["error"] == "sold_out"
    assert _me(shop, aid, "ben")["cards"] == {"A": 1, "B": 1}
    assert invariants(engine, aid) == []
