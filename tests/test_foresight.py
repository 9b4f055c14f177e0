"""Engine.refused_actions: which actions the engine would refuse now for one participant,
worked out with the real checks (status, guards, room status, limits) and writing nothing; on
SQLite and PostgreSQL (conftest runs this module on both stores)."""

from __future__ import annotations

import hashlib
from typing import Any

from magic_cube.engine import Participant


def device(name: str) -> str:
    return "dev-" + hashlib.sha256(name.encode()).hexdigest()[:16]


def shopper(name: str) -> Participant:
    """The participant as `Shop.act` sends them: their own phone, the test client's address."""
    return Participant(name, name.title(), device=device(name), address="127.0.0.1")


def stored(engine: Any, activity_id: str, *participants: str) -> tuple[Any, ...]:
    """What an action would change: the activity's version and log position, the rows."""
    with engine.store.transaction(write=False) as tx:
        activity = tx.get_activity(activity_id)
        rows = [tx.get_participant(activity_id, p) for p in participants]
        return (activity.version, activity.seq, activity.state,
                [(r.version, r.state) if r else None for r in rows])


def test_a_friend_who_has_helped_is_told_before_tapping_and_nothing_is_written(shop, engine):
    activity = shop.live("bargain")
    aid = activity["id"]
    room = shop.act(aid, "start", "alice").get_json()["room"]
    before = stored(engine, aid, "alice", "bob")
    # Bob may help; Alice may not help her own bargain, whatever the page's language.
    assert "help" not in engine.refused_actions(aid, shopper("bob"), room)
    own = engine.refused_actions(aid, shopper("alice"), room, lang="zh")
    assert own["help"]["code"] == "own_bargain"
    assert own["help"]["message"] and own["help"]["message"] != "own_bargain"
    assert stored(engine, aid, "alice", "bob") == before  # judged, not done
    assert engine.refused_actions(aid, shopper("bob"), room) == \
        engine.refused_actions(aid, shopper("bob"), room)

    assert shop.act(aid, "help", "bob", room).status_code == 200
    after = engine.refused_actions(aid, shopper("bob"), room, lang="zh")
    assert after["help"] == {"code": "already_helped", "message": "你已经帮砍过了"}
    en = engine.refused_actions(aid, shopper("bob"), room, lang="en")
    assert en["help"]["message"] == "You have already helped this bargain"
    # What the page foresaw is what the action meets.
    refused = shop.act(aid, "help", "bob", room)
    assert refused.get_json()["error"] == "already_helped"


def test_a_limit_already_reached_is_foreseen_without_counting_it(shop, engine):
    activity = shop.live("bargain")
    aid = activity["id"]
    room = shop.act(aid, "start", "alice").get_json()["room"]
    # Carol helped from a phone that Dan now uses: the device limit, read and not taken.
    carol = shopper("carol")
    headers = {"Magic-Cube-Device": carol.device}
    assert shop.act(aid, "help", "carol", room, headers=headers).status_code == 200
    dan = Participant("dan", "Dan", device=carol.device, address="127.0.0.1")
    for _ in range(2):
        assert engine.refused_actions(aid, dan, room)["help"]["code"] == "device_already_helped"
    assert "help" not in engine.refused_actions(aid, shopper("erin"), room)
    assert shop.act(aid, "help", "erin", room).status_code == 200  # its slot was never taken


def test_no_draws_left_and_a_full_group_are_foreseen(shop, engine, configs):
    lottery = shop.live("lottery", {**configs["lottery"], "draws_per_day": 1})
    assert "draw" not in engine.refused_actions(lottery["id"], shopper("amy"))
    assert shop.act(lottery["id"], "draw", "amy").status_code == 200
    assert engine.refused_actions(lottery["id"], shopper("amy"))["draw"]["code"] \
        == "no_draws_left"

    group = shop.live("group_buy", {**configs["group_buy"], "group_size": 2})
    room = shop.act(group["id"], "start", "amy").get_json()["room"]
    assert "join" not in engine.refused_actions(group["id"], shopper("ben"), room)
    assert shop.act(group["id"], "join", "ben", room).status_code == 200
    refused = engine.refused_actions(group["id"], shopper("cat"), room)
    # The group filled: its room is closed, so joining is refused as the action would be.
    assert refused["join"]["code"] == shop.act(group["id"], "join", "cat", room) \
        .get_json()["error"]


def test_an_activity_that_is_not_live_refuses_every_action_in_the_shoppers_words(shop, engine):
    activity = shop.live("lottery")
    assert shop.lifecycle(activity["id"], "pause").status_code == 200
    zh = engine.refused_actions(activity["id"], shopper("amy"), lang="zh")
    assert zh == {"draw": {"code": "activity_not_live", "message": "活动已暂停"}}
    en = engine.refused_actions(activity["id"], shopper("amy"), lang="en")
    assert en["draw"]["message"] == "The activity is paused"


def test_an_action_that_needs_params_is_judged_on_what_can_be_known(shop, engine):
    gift = shop.live("gift")
    # The send form's guards read the amount still to be typed: not refused before it is.
    assert "send" not in engine.refused_actions(gift["id"], shopper("amy"))


def test_a_form_is_judged_on_the_status_not_on_fields_still_empty(shop, engine):
    cards = shop.live("collect_cards")
    # `ask` takes a card: with none given its guard would refuse; with one it may pass.
    assert "ask" not in engine.refused_actions(cards["id"], shopper("amy"))
    assert shop.lifecycle(cards["id"], "pause").status_code == 200
    refused = engine.refused_actions(cards["id"], shopper("amy"), lang="en")
    assert refused["ask"] == {"code": "activity_not_live", "message": "The activity is paused"}
