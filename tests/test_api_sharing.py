"""Share links and attribution over HTTP, on both stores: a link names its sharer and cannot be
forged; a participant's first accepted action through a link makes the sharer their inviter
(first touch wins, no self-invites); chains give generations; the `sharing` stats, the
`participant.invited` webhook, replay and the shopper's `/j/CODE` link agree; guests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from magic_cube.app import create_app
from magic_cube.catalog import Catalog
from magic_cube.engine import Participant
from magic_cube.engine.replay import replay

ROOT = Path(__file__).resolve().parents[1]


def share(shop: Any, activity_id: str, who: str, room: str | None = None) -> dict[str, Any]:
    body = {"room": room} if room else {}
    r = shop.client.post(f"/v1/activities/{activity_id}/share", json=body, headers=shop.as_(who))
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def act(shop: Any, activity_id: str, action: str, who: str, via: str | None = None,
        room: str | None = None) -> Any:
    body: dict[str, Any] = {}
    if via:
        body["via"] = via
    if room:
        body["room"] = room
    return shop.client.post(f"/v1/activities/{activity_id}/actions/{action}", json=body,
                            headers=shop.as_(who))


def sharing(shop: Any, activity_id: str) -> dict[str, Any]:
    r = shop.client.get(f"/v1/merchant/activities/{activity_id}/stats", headers=shop.headers)
    assert r.status_code == 200
    return r.get_json()["sharing"]


def test_a_share_link_is_short_stable_and_names_the_activity(shop, client):
    activity = shop.live("bargain")
    room = act(shop, activity["id"], "start", "amy").get_json()["room"]
    first = share(shop, activity["id"], "amy", room)
    assert first == share(shop, activity["id"], "amy", room)  # the same link each time
    assert len(first["code"]) <= 32 and first["code"].isalnum()
    assert first["url"].endswith(f"/j/{first['code']}")
    assert first["room"] == room and first["activity_id"] == activity["id"]
    assert share(shop, activity["id"], "amy")["code"] != first["code"]  # the activity's own
    r = client.get(f"/v1/shares/{first['code']}")
    assert r.status_code == 200
    shared = r.get_json()
    assert shared["sharer"] != "amy" and shared["sharer"].startswith("a")  # masked
    assert shared["shopper_url"].endswith(f"/s/{activity['id']}/r/{room}")


@pytest.mark.parametrize("code", ["nope", "x" * 33, "bad-code!", "%00"])
def test_unknown_or_malformed_codes_are_404(client, code):
    r = client.get(f"/v1/shares/{code}")
    assert r.status_code == 404
    assert r.get_json()["error"] in ("share_not_found", "not_found")


def test_sharing_a_draft_or_a_missing_room_is_refused(shop):
    draft = shop.create("bargain")
    r = shop.client.post(f"/v1/activities/{draft['id']}/share", json={},
                         headers=shop.as_("amy"))
    assert r.status_code == 404 and r.get_json()["error"] == "activity_not_found"
    live = shop.live("bargain")
    r = shop.client.post(f"/v1/activities/{live['id']}/share", json={"room": "nope"},
                         headers=shop.as_("amy"))
    assert r.status_code == 404 and r.get_json()["error"] == "room_not_found"
    r = shop.client.post(f"/v1/activities/{live['id']}/share", json={})
    assert r.status_code == 401


def test_an_ended_activity_makes_no_new_link_but_an_old_one_still_leads_to_it(shop, client,
                                                                            engine):
    activity = shop.live("lottery")
    old = share(shop, activity["id"], "amy")
    engine.end(shop.merchant, activity["id"])
    for who in ("amy", "ben"):  # the link made before, or a new one
        r = shop.client.post(f"/v1/activities/{activity['id']}/share", json={},
                             headers={**shop.as_(who), "Accept-Language": "zh"})
        assert r.status_code == 409 and r.get_json()["error"] == "activity_not_live"
        assert r.get_json()["message"] == "活动已结束"
    assert sharing(shop, activity["id"])["links"] == 1
    assert client.get(f"/v1/shares/{old['code']}").status_code == 200
    assert client.get(f"/j/{old['code']}").status_code == 302
    assert sharing(shop, activity["id"])["link_opens"] == 0  # the final figures stay final


def test_friends_brought_by_links_are_counted_with_their_generation(shop, engine):
    activity = shop.live("bargain")
    aid = activity["id"]
    room = act(shop, aid, "start", "amy").get_json()["room"]
    amy = share(shop, aid, "amy", room)["code"]
    assert act(shop, aid, "help", "ben", via=amy, room=room).status_code == 200
    assert act(shop, aid, "help", "cat", via=amy, room=room).status_code == 200
    ben = share(shop, aid, "ben")["code"]
    assert act(shop, aid, "start", "dan", via=ben).status_code == 200  # ben's invitee
    stats = sharing(shop, aid)
    assert stats["invited"] == 3 and stats["invited_first_time"] == 3
    assert stats["links"] == 2 and stats["sharers"] == 2
    assert stats["k_factor"] == 1.5
    assert stats["deepest_generation"] == 2
    assert stats["by_generation"] == [{"generation": 0, "participants": 1},
                                      {"generation": 1, "participants": 2},
                                      {"generation": 2, "participants": 1}]
    assert stats["top_sharers"][0]["invited"] == 2 and "amy" not in json.dumps(stats)
    # One participant.invited webhook per invitee, in the outbox of the invitee's action.
    events, _ = engine.list_events(shop.merchant, aid)
    invited = [e for e in events if e["type"] == "participant.invited"]
    assert sorted((e["data"]["participant"], e["data"]["inviter"], e["data"]["generation"])
                  for e in invited) == [("ben", "amy", 1), ("cat", "amy", 1), ("dan", "ben", 2)]
    assert replay(engine, aid) == []


def test_a_merchant_action_for_an_invitee_keeps_who_brought_them(shop, engine):
    activity = shop.live("lottery")
    aid = activity["id"]
    amy = share(shop, aid, "amy")["code"]
    assert act(shop, aid, "draw", "amy").status_code == 200
    assert act(shop, aid, "draw", "ben", via=amy).status_code == 200
    r = shop.client.post(f"/v1/merchant/activities/{aid}/actions/grant",
                         json={"participant": "ben", "params": {"count": 1}},
                         headers=shop.headers)
    assert r.status_code == 200, r.get_json()
    ben = share(shop, aid, "ben")["code"]
    assert act(shop, aid, "draw", "cat", via=ben).status_code == 200  # ben's invitee
    stats = sharing(shop, aid)
    assert stats["invited"] == 2
    assert stats["by_generation"] == [{"generation": 0, "participants": 1},
                                      {"generation": 1, "participants": 1},
                                      {"generation": 2, "participants": 1}]
    assert [t["invited"] for t in stats["top_sharers"]] == [1, 1]
    with engine.store.transaction(write=False) as tx:
        record = tx.get_participant(aid, "ben")
    assert (record.inviter, record.generation) == ("amy", 1)
    assert replay(engine, aid) == []


def test_first_touch_wins_and_only_a_first_accepted_action_counts(shop):
    activity = shop.live("lottery")
    aid = activity["id"]
    amy = share(shop, aid, "amy")["code"]
    bob = share(shop, aid, "bob")["code"]
    assert act(shop, aid, "draw", "eve").status_code == 200  # came by herself
    assert act(shop, aid, "draw", "eve", via=amy).status_code == 200  # too late to be invited
    assert act(shop, aid, "draw", "amy", via=amy).status_code == 200  # no self-invites
    assert act(shop, aid, "draw", "fay", via=amy).status_code == 200
    assert act(shop, aid, "draw", "fay", via=bob).status_code == 200  # the first touch stays
    stats = sharing(shop, aid)
    assert stats["invited"] == 1
    assert stats["top_sharers"] == [{"name": stats["top_sharers"][0]["name"], "invited": 1}]


def test_a_refused_first_action_invites_nobody(shop, configs):
    config = {**configs["bargain"], "stock": 0}
    activity = shop.live("bargain", config)
    aid = activity["id"]
    amy = share(shop, aid, "amy")["code"]
    assert act(shop, aid, "start", "ben", via=amy).status_code == 409  # sold out
    assert sharing(shop, aid)["invited"] == 0


def test_a_code_of_another_activity_invites_nobody(shop):
    one, two = shop.live("lottery"), shop.live("lottery")
    code = share(shop, one["id"], "amy")["code"]
    assert act(shop, two["id"], "draw", "ben", via=code).status_code == 200
    assert sharing(shop, two["id"])["invited"] == 0


def test_the_share_link_counts_opens_and_leads_to_the_page(shop, client):
    activity = shop.live("bargain")
    room = act(shop, activity["id"], "start", "amy").get_json()["room"]
    code = share(shop, activity["id"], "amy", room)["code"]
    for _ in range(3):
        r = client.get(f"/j/{code}")
        assert r.status_code == 302
        assert r.headers["Location"] == f"/s/{activity['id']}/r/{room}?via={code}"
    assert client.get("/j/unknown").status_code == 404
    assert sharing(shop, activity["id"])["link_opens"] == 3


def test_a_via_field_that_is_not_a_code_is_refused(shop):
    activity = shop.live("lottery")
    r = act(shop, activity["id"], "draw", "amy", via="x" * 40)
    assert r.status_code == 422 and "via" in r.get_json()["errors"]


def test_templates_read_who_brought_the_actor(tmp_path, clock, configs):
    folder = tmp_path / "templates" / "lottery_by_invite"
    shutil.copytree(ROOT / "activity_templates" / "lottery", folder)
    doc = json.loads((folder / "template.json").read_text(encoding="utf-8"))
    doc["id"] = "lottery_by_invite"
    doc["$schema"] = str(ROOT / "schemas" / "template.schema.json")
    doc["actions"]["draw"]["result"].update({"inviter": {"var": "actor.inviter"},
                                             "invited": {"var": "actor.invited"},
                                             "generation": {"var": "actor.generation"}})
    (folder / "template.json").write_text(json.dumps(doc), encoding="utf-8")
    catalog = Catalog.discover([ROOT / "activity_templates", tmp_path / "templates"],
                               entry_points=False)
    app = create_app({"CATALOG": catalog, "TESTING": True, "CLOCK": clock,
                      "SETTINGS": {"database_url": f"sqlite:///{tmp_path / 'db.sqlite'}"}})
    engine = app.extensions["magic_cube"]
    merchant, _ = engine.create_merchant("Shop")
    activity = engine.create_activity(merchant, "lottery_by_invite", configs["lottery"])
    engine.publish(merchant, activity["id"])
    code = engine.share(activity["id"], Participant("amy"))["code"]
    outcome = engine.act(activity["id"], "draw", Participant("ben"), via=code)
    assert outcome.body["result"]["inviter"] == "amy"
    assert outcome.body["result"]["invited"] is True
    assert outcome.body["result"]["generation"] == 1
    again = engine.act(activity["id"], "draw", Participant("ben"))  # remembered afterwards
    assert again.body["result"]["inviter"] == "amy"
    alone = engine.act(activity["id"], "draw", Participant("cat"))
    assert alone.body["result"]["invited"] is False and alone.body["result"]["generation"] == 0
    engine.close()


# guests ------------------------------------------------------------------------------------

def test_guests_take_part_only_where_the_merchant_allows(shop, client):
    closed = shop.live("lottery")
    assert closed["guests"] is False and closed["shopper_url"].endswith(f"/s/{closed['id']}")
    r = client.post(f"/v1/activities/{closed['id']}/guest", json={"nickname": "Lily"})
    assert r.status_code == 403 and r.get_json()["error"] == "guests_not_allowed"
    r = client.patch(f"/v1/merchant/activities/{closed['id']}", json={"guests": True},
                     headers=shop.headers)
    assert r.status_code == 200 and r.get_json()["guests"] is True
    r = client.post(f"/v1/activities/{closed['id']}/guest", json={"nickname": "Lily"})
    assert r.status_code == 201
    guest = r.get_json()
    assert guest["participant"].startswith("guest_") and guest["expires_at"].endswith("Z")
    r = client.post(f"/v1/activities/{closed['id']}/actions/draw", json={},
                    headers={"Authorization": f"Bearer {guest['token']}"})
    assert r.status_code == 200


@pytest.mark.parametrize("nickname", ["", " ", "x" * 21, "a\u0007b", 5])
def test_a_guest_needs_a_proper_nickname(shop, client, nickname):
    activity = shop.live("lottery", guests=True)
    r = client.post(f"/v1/activities/{activity['id']}/guest", json={"nickname": nickname})
    assert r.status_code == 422
    assert r.get_json()["error"] == "validation_error"
