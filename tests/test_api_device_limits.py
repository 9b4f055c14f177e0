"""Limits per device, address and participant over HTTP, on both stores: one phone with fifty
accounts helps a bargain once; other phones count on their own; a request without a device id
is counted under its address; a day is the activity's local day, a week its ISO week; a shared
limit id counts across actions; a second account on the sharer's phone invites nobody; the
log, replay and the invariants agree."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from template_factory import i18n, minimal_template, write_template

from magic_cube.catalog import Catalog
from magic_cube.engine.invariants import invariants
from magic_cube.engine.replay import replay
from magic_cube.store import Conflict

ROOT = Path(__file__).resolve().parents[1]
DAY = 86400


def paced_template() -> dict[str, Any]:
    """The minimal team template with limits: `start` three times a local day per address and
    five times a week per device (one count shared with `join`); `join` once per room per
    device."""
    doc = minimal_template(id="paced")
    doc["$schema"] = str(ROOT / "schemas" / "template.schema.json")
    doc["actions"]["start"]["limits"] = [
        {"per": "address", "within": "day", "max": {"var": "config.joins_per_day"},
         "error": "address_used_up"},
        {"per": "device", "within": "week", "max": 5, "error": "device_used_up", "id": "weekly"},
    ]
    doc["actions"]["join"]["limits"] = [
        {"per": "device", "within": "room", "max": 1, "error": "device_joined"},
        {"per": "device", "within": "week", "max": 5, "error": "device_used_up", "id": "weekly"},
    ]
    doc["errors"].update({
        "address_used_up": {"status": 429, "message": i18n("此网络今天已用完", "Used up here")},
        "device_used_up": {"status": 429, "message": i18n("此设备本周已用完", "Used up")},
        "device_joined": {"status": 409, "message": i18n("此设备已参团", "Joined already")},
    })
    return doc


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Catalog:
    """The bundled templates and `paced`."""
    folder = tmp_path_factory.mktemp("templates")
    write_template(folder, paced_template())
    found = Catalog.discover([ROOT / "activity_templates", folder], entry_points=False)
    assert not found.problems, found.problems
    return found


def headers(shop: Any, who: str, device: str | None = None) -> dict[str, str]:
    """A request by `who`, from `device` (none: without the header)."""
    out = {"Authorization": f"Bearer {shop.token(who)}"}
    if device is not None:
        out["Magic-Cube-Device"] = device
    return out


def act(shop: Any, activity_id: str, action: str, who: str, device: str | None = None,
        room: str | None = None, via: str | None = None, address: str = "127.0.0.1") -> Any:
    body: dict[str, Any] = {}
    if room:
        body["room"] = room
    if via:
        body["via"] = via
    return shop.client.post(f"/v1/activities/{activity_id}/actions/{action}", json=body,
                            headers=headers(shop, who, device),
                            environ_base={"REMOTE_ADDR": address})


def room_view(shop: Any, activity_id: str, room: str) -> dict[str, Any]:
    r = shop.client.get(f"/v1/activities/{activity_id}/rooms/{room}",
                        headers=headers(shop, "viewer"))
    assert r.status_code == 200, r.get_json()
    return r.get_json()["view"]


def bargain(shop: Any) -> tuple[str, str]:
    activity = shop.live("bargain")
    r = act(shop, activity["id"], "start", "starter", device="starter-phone")
    assert r.status_code == 200, r.get_json()
    return activity["id"], r.get_json()["room"]


def test_one_device_with_fifty_accounts_helps_a_bargain_once(shop, engine):
    activity_id, room = bargain(shop)
    answers = [act(shop, activity_id, "help", f"sock{i}", device="one-phone-0001", room=room)
               for i in range(50)]
    assert [r.status_code for r in answers].count(200) == 1
    refused = [r.get_json() for r in answers if r.status_code != 200]
    assert len(refused) == 49
    assert {(r["error"], r["status"]) for r in refused} == {("device_already_helped", 409)}
    assert room_view(shop, activity_id, room)["helpers"] == 1
    # The refused accounts changed nothing: they have no state and nothing of theirs is logged.
    r = shop.client.get(f"/v1/merchant/activities/{activity_id}/actions", headers=shop.headers)
    logged = [a for a in r.get_json()["items"] if a["action"] == "help"]
    assert len(logged) == 1
    assert invariants(engine, activity_id) == []


def test_different_devices_count_on_their_own_and_finish_the_bargain(shop, engine):
    activity_id, room = bargain(shop)  # three helpers needed
    for i in range(3):
        r = act(shop, activity_id, "help", f"friend{i}", device=f"phone-{i:04d}", room=room)
        assert r.status_code == 200, r.get_json()
    assert r.get_json()["result"]["completed"] is True
    assert invariants(engine, activity_id) == []


def test_a_device_limit_counts_per_room(shop):
    activity_id, first = bargain(shop)
    second = act(shop, activity_id, "start", "other", device="other-phone").get_json()["room"]
    assert act(shop, activity_id, "help", "amy", device="amys-phone", room=first).status_code \
        == 200
    # The same phone helps another bargain: another room, another count.
    assert act(shop, activity_id, "help", "amy2", device="amys-phone",
               room=second).status_code == 200


def test_without_a_device_id_the_address_is_counted(shop, engine):
    activity_id, room = bargain(shop)
    assert act(shop, activity_id, "help", "amy", room=room).status_code == 200
    r = act(shop, activity_id, "help", "bob", room=room)  # no header, same address
    assert (r.status_code, r.get_json()["error"]) == (409, "device_already_helped")
    r = act(shop, activity_id, "help", "carol", room=room, address="10.0.0.7")
    assert r.status_code == 200, r.get_json()
    assert room_view(shop, activity_id, room)["helpers"] == 2
    assert invariants(engine, activity_id) == []


def test_an_address_limit_counts_per_local_day(shop, clock, engine):
    # 10:00 in Shanghai; three starts a day per address, whatever the device.
    activity = shop.live("paced", {"team_size": 2, "joins_per_day": 3})
    for i in range(3):
        r = act(shop, activity["id"], "start", f"p{i}", device=f"phone-{i:04d}")
        assert r.status_code == 200, r.get_json()
    r = act(shop, activity["id"], "start", "p3", device="phone-0003")
    assert (r.status_code, r.get_json()["error"]) == (429, "address_used_up")
    assert act(shop, activity["id"], "start", "p3", device="phone-0003",
               address="10.1.2.3").status_code == 200  # another network
    clock.advance(6 * 3600)  # 16:00 in Shanghai: the same local day
    assert act(shop, activity["id"], "start", "p4", device="phone-0004").status_code == 429
    clock.advance(8 * 3600)  # 00:00 in Shanghai (16:00 UTC): a new local day
    assert act(shop, activity["id"], "start", "p4", device="phone-0004").status_code == 200
    assert invariants(engine, activity["id"]) == []


def test_a_shared_limit_counts_across_actions_per_week(shop, clock, engine):
    # 2026-11-11 is a Wednesday: the ISO week ends on Sunday night, local time.
    activity = shop.live("paced", {"team_size": 5, "joins_per_day": 50})
    rooms = []
    for i in range(3):
        r = act(shop, activity["id"], "start", f"host{i}", device="busy-phone")
        assert r.status_code == 200, r.get_json()
        rooms.append(r.get_json()["room"])
    for i, room in enumerate(rooms[:2]):
        r = act(shop, activity["id"], "join", f"guest{i}", device="busy-phone", room=room)
        assert r.status_code == 200, r.get_json()
    # Five counted under "weekly": three starts and two joins, by five accounts.
    r = act(shop, activity["id"], "join", "guest9", device="busy-phone", room=rooms[2])
    assert (r.status_code, r.get_json()["error"]) == (429, "device_used_up")
    r = act(shop, activity["id"], "join", "guest8", device="busy-phone", room=rooms[0])
    assert r.get_json()["error"] == "device_joined"  # per room, checked first
    clock.advance(4 * DAY)  # Sunday 10:00 local: the same week
    assert act(shop, activity["id"], "start", "host9", device="busy-phone").status_code == 429
    clock.advance(DAY)  # Monday: a new week
    assert act(shop, activity["id"], "start", "host9", device="busy-phone").status_code == 200
    assert invariants(engine, activity["id"]) == []


def test_a_refusal_by_a_second_limit_counts_nothing_in_the_first(shop, engine):
    activity = shop.live("paced", {"team_size": 5, "joins_per_day": 50})
    for i in range(5):  # the weekly five of one phone, by five accounts
        assert act(shop, activity["id"], "start", f"h{i}", device="busy-phone").status_code \
            == 200
    room = act(shop, activity["id"], "start", "host", device="host-phone").get_json()["room"]
    with engine.store.transaction(write=False) as tx:
        before = tx.limit_counts(activity["id"])
    # Once per room would let it in; the weekly limit refuses: neither counts it.
    r = act(shop, activity["id"], "join", "late", device="busy-phone", room=room)
    assert (r.status_code, r.get_json()["error"]) == (429, "device_used_up")
    with engine.store.transaction(write=False) as tx:
        assert tx.limit_counts(activity["id"]) == before
    assert not any(key[2] == room for key in before)
    assert invariants(engine, activity["id"]) == []


def test_a_second_account_on_the_sharers_phone_is_not_invited(shop, engine):
    activity_id, room = bargain(shop)
    r = shop.client.post(f"/v1/activities/{activity_id}/share", json={"room": room},
                         headers=headers(shop, "starter", "starter-phone"))
    code = r.get_json()["code"]
    r = act(shop, activity_id, "help", "starter-alt", device="starter-phone", room=room,
            via=code)
    assert r.status_code == 200  # the help counts: the phone had not helped this bargain
    r = act(shop, activity_id, "help", "friend", device="friend-phone", room=room, via=code)
    assert r.status_code == 200
    stats = shop.client.get(f"/v1/merchant/activities/{activity_id}/stats",
                            headers=shop.headers).get_json()
    assert stats["sharing"]["invited"] == 1  # the friend only
    assert stats["sharing"]["top_sharers"][0]["invited"] == 1
    with engine.store.transaction(write=False) as tx:
        alt = tx.get_participant(activity_id, "starter-alt")
        friend = tx.get_participant(activity_id, "friend")
    assert alt is not None and alt.inviter is None
    assert friend is not None and friend.inviter == "starter"
    assert replay(engine, activity_id) == []


def test_a_device_the_sharer_only_shared_from_is_theirs_too(shop):
    activity = shop.live("lottery")
    r = shop.client.post(f"/v1/activities/{activity['id']}/share", json={},
                         headers=headers(shop, "amy", "amys-tablet"))
    assert r.status_code == 200, r.get_json()
    code = r.get_json()["code"]
    assert act(shop, activity["id"], "draw", "amy-alt", device="amys-tablet",
               via=code).status_code == 200
    assert act(shop, activity["id"], "draw", "bob", device="bobs-phone",
               via=code).status_code == 200
    stats = shop.client.get(f"/v1/merchant/activities/{activity['id']}/stats",
                            headers=shop.headers).get_json()
    assert stats["sharing"]["invited"] == 1


@pytest.mark.parametrize("device", ["short", "has space in it", "x" * 65, "semi;colon-1234"])
def test_a_malformed_device_id_is_a_validation_error(shop, device):
    activity_id, room = bargain(shop)
    r = shop.client.post(f"/v1/activities/{activity_id}/actions/help", json={"room": room},
                         headers={**headers(shop, "amy"), "Magic-Cube-Device": device})
    assert r.status_code in (400, 422)
    assert r.get_json()["error"] in ("validation_error", "bad_request")
    r = shop.client.post(f"/v1/activities/{activity_id}/share", json={},
                         headers={**headers(shop, "amy"), "Magic-Cube-Device": device})
    assert r.status_code in (400, 422)


def test_limit_counts_are_taken_once_per_slot(engine):
    with engine.store.transaction() as tx:
        taken = [tx.take_limit("act_x", "help.0", "d:phone", "room1", 2) for _ in range(3)]
        assert taken == [True, True, False]
        assert tx.take_limit("act_x", "help.0", "d:phone", "room2", 0) is False
        assert tx.limit_count("act_x", "help.0", "d:phone", "room1") == 2
        assert tx.limit_counts("act_x") == [("help.0", "d:phone", "room1", 2)]


def test_two_transactions_racing_for_the_last_slot_take_it_once(engine):
    """A count is taken in the transaction and added at its commit, still conditional on the
    cap. The engine takes an activity's limits under its lock; two bare transactions that race
    without it never both take the last slot: on SQLite the second waits for the first and
    finds it taken; on PostgreSQL the one that commits second cannot add its count, and fails
    with `Conflict`, having written nothing."""
    outcomes: dict[str, str] = {}
    first_took = threading.Event()

    def take(name: str, before: Any, after: Any) -> None:
        before()
        try:
            with engine.store.transaction() as tx:
                took = tx.take_limit("act_x", "help.0", "d:phone", "room1", 1)
                after()
            outcomes[name] = "took" if took else "refused"
        except Conflict:
            outcomes[name] = "conflict"

    def hold() -> None:
        first_took.set()
        time.sleep(0.3)  # still uncommitted while the second one tries

    threads = [threading.Thread(target=take, args=("first", lambda: None, hold)),
               threading.Thread(target=take, args=("second", lambda: first_took.wait(5),
                                                   lambda: None))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    lost = "refused" if engine.store.dialect == "sqlite" else "conflict"
    assert sorted(outcomes.values()) == sorted(["took", lost]), outcomes
    with engine.store.transaction(write=False) as tx:
        assert tx.limit_counts("act_x") == [("help.0", "d:phone", "room1", 1)]
