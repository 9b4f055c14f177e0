# ruff: noqa: F811  (fixtures imported from a shared module are named as arguments)
"""Fulfilment on both stores: a redemption code per prize won or order placed, written with the
action; verified, redeemed exactly once (also under concurrent redeems), shipping details."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
from activity_configs import CONFIGS, START, Clock
from engine_helpers import invariants
from stores import STORE_PARAMS, store_url
from test_live_controls import act, live_engine, publish  # noqa: F401  (fixture)

from magic_cube.app import create_app
from magic_cube.catalog import Catalog
from magic_cube.engine import Accepted, Participant
from magic_cube.engine.errors import AlreadyRedeemed, CodeNotFound
from magic_cube.engine.fulfilment import issue

TEMPLATES = Path(__file__).resolve().parents[1] / "activity_templates"
SURE_WIN = {**CONFIGS["lottery"], "prizes": [
    {"name": "Tea set", "type": "physical", "stock": 5, "odds": 10000}]}


def test_each_prize_won_gets_a_code_in_its_action(live_engine):
    engine, merchant = live_engine
    activity_id = publish(engine, merchant, "lottery", SURE_WIN)
    act(engine, activity_id, "draw", "alice")
    act(engine, activity_id, "draw", "bob")
    codes = engine.redemptions(merchant, activity_id)
    assert [(c["participant_id"], c["item"], c["kind"], c["event"]) for c in codes] == [
        ("alice", "Tea set", "physical", "prize.awarded"),
        ("bob", "Tea set", "physical", "prize.awarded")]
    items, _ = engine.action_log(merchant, activity_id)
    assert [c["seq"] for c in codes] == [i["seq"] for i in items]
    assert len({c["code"] for c in codes}) == 2


def test_a_code_carries_the_winners_name(live_engine):
    engine, merchant = live_engine
    activity_id = publish(engine, merchant, "lottery", SURE_WIN)
    act(engine, activity_id, "draw", "alice")  # named "Alice" by her token
    engine.act(activity_id, "draw", Participant("bob", "Bob"))
    assert isinstance(engine.act(activity_id, "draw", Participant("bob", "")), Accepted)
    assert [c["display_name"] for c in engine.redemptions(merchant, activity_id)] == [
        "Alice", "Bob", "Bob"]  # a token without a name: the one Bob acted under before
    # An event that names someone other than the actor (as a timer's may): their stored name.
    with engine.store.transaction(write=True) as tx:
        activity = engine.core.activity(tx, activity_id, merchant)
        event = {"type": "prize.awarded", "data": {"participant": "alice", "prize": "Tea set"}}
        assert issue(tx, activity, engine.catalog.get("lottery").doc, activity.seq + 1, [event],
                     engine.test_clock()) == 1
    assert engine.redemptions(merchant, activity_id)[-1]["display_name"] == "Alice"


def test_a_claimed_share_of_money_carries_its_amount_and_a_unit_none(live_engine):
    engine, merchant = live_engine
    for mode, shares in (("amount", {"shares": 2, "amount": 1000}), ("units", {"shares": 2})):
        activity_id = publish(engine, merchant, "gift", {"gift_name": "Red packet", "mode": mode})
        room = engine.act(activity_id, "send", Participant("sam", "Sam"), params=shares) \
            .body["room"]
        act(engine, activity_id, "claim", "amy", room=room)
        act(engine, activity_id, "claim", "ann", room=room)
        codes = engine.redemptions(merchant, activity_id)
        amounts = [c["amount"] for c in codes]
        if mode == "amount":  # the two shares, in fen, make up the pack
            assert sum(amounts) == 1000 and all(a > 0 for a in amounts), amounts
        else:  # units are no money
            assert amounts == [None, None]
        assert {c["kind"] for c in codes} == {mode}


def test_a_group_that_succeeds_gives_every_member_a_code(live_engine):
    engine, merchant = live_engine
    activity_id = publish(engine, merchant, "group_buy")
    room = act(engine, activity_id, "start", "alice").body["room"]
    act(engine, activity_id, "join", "bob", room)
    assert engine.redemptions(merchant, activity_id) == []
    act(engine, activity_id, "join", "carol", room)
    codes = engine.redemptions(merchant, activity_id)
    assert sorted(c["participant_id"] for c in codes) == ["alice", "bob", "carol"]
    assert {c["item"] for c in codes} == {"Rice cooker"}


def test_verify_redeem_once_and_ship(live_engine):
    engine, merchant = live_engine
    activity_id = publish(engine, merchant, "lottery", SURE_WIN)
    act(engine, activity_id, "draw", "alice")
    code = engine.redemptions(merchant, activity_id)[0]["code"]
    typed = f"{code[:5].lower()}-{code[5:]}"  # as read out at a counter
    assert engine.verify_code(merchant, typed)["redeemed_at"] is None
    done = engine.redeem_code(merchant, typed, by="counter 1")
    assert done["redeemed_at"] is not None and done["redeemed_by"] == "counter 1"
    with pytest.raises(AlreadyRedeemed):
        engine.redeem_code(merchant, code)
    shipped = engine.ship(merchant, code, {"name": "Alice", "phone": "138", "address": "Road 1"},
                          shipped=True)
    assert shipped["shipping"]["address"] == "Road 1" and shipped["shipped_at"] is not None
    other, _key = engine.create_merchant("Other shop")
    for call in (lambda: engine.verify_code(other, code),
                 lambda: engine.redeem_code(other, code),
                 lambda: engine.verify_code(merchant, "NOSUCHCODE")):
        with pytest.raises(CodeNotFound):
            call()


def test_concurrent_partial_shipping_updates_keep_every_field_sent(live_engine):
    # Each of five callers sends one field at once (a clerk the address, a courier's hook the
    # tracking number): none may write back the others' fields as they were before.
    engine, merchant = live_engine
    activity_id = publish(engine, merchant, "lottery", SURE_WIN)
    act(engine, activity_id, "draw", "alice")
    code = engine.redemptions(merchant, activity_id)[0]["code"]
    fields = ("name", "phone", "address", "carrier", "tracking")
    for round_ in range(5):
        start = threading.Barrier(len(fields))

        def send(field: str, value: str, start: threading.Barrier) -> None:
            start.wait()
            engine.ship(merchant, code, {field: value})

        threads = [threading.Thread(target=send, args=(f, f"{f} {round_}", start))
                   for f in fields]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        shipping = engine.verify_code(merchant, code)["shipping"]
        assert shipping == {f: f"{f} {round_}" for f in fields}


def test_concurrent_redeems_of_one_code_exactly_one_wins(live_engine):
    engine, merchant = live_engine
    activity_id = publish(engine, merchant, "lottery", SURE_WIN)
    act(engine, activity_id, "draw", "alice")
    code = engine.redemptions(merchant, activity_id)[0]["code"]
    outcomes: list[str] = []
    start = threading.Barrier(8)

    def redeem(i: int) -> None:
        start.wait()
        try:
            engine.redeem_code(merchant, code, by=f"counter {i}")
            outcomes.append("won")
        except AlreadyRedeemed:
            outcomes.append("refused")

    threads = [threading.Thread(target=redeem, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["refused"] * 7 + ["won"]


def test_a_winner_sees_their_codes_and_their_etag_moves_with_them(live_engine):
    engine, merchant = live_engine
    activity_id = publish(engine, merchant, "group_buy")
    room = act(engine, activity_id, "start", "alice").body["room"]
    act(engine, activity_id, "join", "bob", room)
    alice = Participant("alice", "Alice")
    before = engine.me_view(activity_id, alice)
    assert before.body["codes"] == []
    act(engine, activity_id, "join", "carol", room)  # carol's join completes alice's group
    after = engine.me_view(activity_id, alice)
    assert after.etag != before.etag
    [mine] = after.body["codes"]
    assert (mine["item"], mine["kind"], mine["redeemed_at"]) == ("Rice cooker", "physical", None)
    assert "display_name" not in mine and "redeemed_by" not in mine
    engine.redeem_code(merchant, mine["code"], by="counter 2")
    redeemed = engine.me_view(activity_id, alice)
    assert redeemed.etag != after.etag
    assert redeemed.body["codes"][0]["redeemed_at"] == engine.test_clock()
    bob = engine.me_view(activity_id, Participant("bob"))
    assert [c["code"] for c in bob.body["codes"]] != [mine["code"]]  # each their own


@pytest.mark.parametrize("kind", STORE_PARAMS)
def test_a_code_for_someone_the_action_also_writes_with_with(tmp_path, kind):
    """A code issued to a participant whose state the same action writes (`with`): their row is
    written once, at the version read, and their code lands beside it."""
    folder = tmp_path / "templates" / "card_gift"
    shutil.copytree(TEMPLATES / "collect_cards", folder)
    doc = json.loads((folder / "template.json").read_text(encoding="utf-8"))
    doc["id"] = "card_gift"
    doc["fulfilment"]["card.given"] = {"participant": "to", "item": "card",
                                       "kind": {"value": "physical"}}
    (folder / "template.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    url, cleanup = store_url(kind, tmp_path)
    app = create_app({"CATALOG": Catalog.discover([folder], entry_points=False),
                      "TESTING": True, "CLOCK": Clock(START), "SETTINGS": {"database_url": url}})
    engine = app.extensions["magic_cube"]
    try:
        merchant, _key = engine.create_merchant("Tea House")
        config = {"cards": [{"name": "Plum", "odds": 1}, {"name": "Orchid", "odds": 10000}],
                  "prize_name": "Tea set", "prize_stock": 5, "draws_per_day": 3}
        aid = engine.create_activity(merchant, "card_gift", config)["id"]
        engine.publish(merchant, aid)
        asked = engine.act(aid, "ask", Participant("amy", "Amy"), params={"card": "Orchid"})
        room = asked.body["room"]
        while "Orchid" not in (engine.me_view(aid, Participant("bob")).body["view"].get("cards")
                               or {}):
            assert isinstance(engine.act(aid, "draw", Participant("bob", "Bob")), Accepted)
        given = engine.act(aid, "give", Participant("bob", "Bob"), room_id=room)
        assert isinstance(given, Accepted), given
        amy = engine.me_view(aid, Participant("amy")).body
        assert [(c["item"], c["event"]) for c in amy["codes"]] == [("Orchid", "card.given")]
        assert invariants(engine, aid) == []
    finally:
        engine.store.close()
        cleanup()
