"""A lottery whose prize stock is released in parts (`release`: daily or hourly) over HTTP, on
both stores: greedy draws empty each part, never the pool; leftovers roll over; the last day
still has stock; replay agrees."""

from __future__ import annotations

from magic_cube.console.activities import first_part
from magic_cube.engine.invariants import invariants

DAY, HOUR = 86400, 3600
# The clock starts at 2026-11-11 10:00 in Shanghai; the activity ends three days later.
PACED = {"prizes": [{"name": "Tea set", "type": "physical", "stock": 30, "odds": 10000}],
         "draws_per_day": 100, "draws_total": 1000, "release": "daily", "release_parts": 3}


def _stock(shop, activity_id):
    r = shop.client.get(f"/v1/activities/{activity_id}")
    assert r.status_code == 200
    view = r.get_json()["view"]
    return view["stock_left"][0], view["stock_held"][0]


def _drain(shop, activity_id, prefix):
    """Draw until a draw misses: how many prizes that took."""
    won = 0
    for i in range(60):
        r = shop.act(activity_id, "draw", f"{prefix}{i}")
        assert r.status_code == 200, r.get_json()
        if not r.get_json()["result"]["hit"]:
            return won
        won += 1
    raise AssertionError("the part never ran out")


def test_greedy_draws_empty_a_part_not_the_pool(shop, engine, clock):
    aid = shop.live("lottery", PACED, ends_at="2026-11-14T10:00:00+08:00")["id"]
    assert _stock(shop, aid) == (10, 20)
    assert _drain(shop, aid, "d1-") == 10  # day one: its part, and no more
    assert _stock(shop, aid) == (0, 20)
    clock.advance(14 * HOUR)  # 00:00 the next day
    assert _stock(shop, aid) == (10, 10)
    assert _drain(shop, aid, "d2-") == 10
    clock.advance(DAY)
    assert _stock(shop, aid) == (10, 0)  # the last part; the pool lasts to the last day
    clock.advance(9 * HOUR)  # 09:00 on the last day
    assert _drain(shop, aid, "d3-") == 10
    assert invariants(engine, aid) == []


def test_leftovers_roll_over_and_hourly_parts(shop, engine, clock):
    config = {**PACED, "release": "hourly", "release_parts": 4}
    config["prizes"] = [{**PACED["prizes"][0], "stock": 9}]
    aid = shop.live("lottery", config)["id"]
    assert _stock(shop, aid) == (3, 6)  # 9 // 4 = 2 a part, the remainder first
    assert shop.act(aid, "draw", "a").get_json()["result"]["hit"] is True
    clock.advance(HOUR)  # 11:00
    assert _stock(shop, aid) == (4, 4)
    clock.advance(2 * HOUR)  # 13:00: two more parts, the last bringing the rest
    assert _stock(shop, aid) == (8, 0)
    clock.advance(5 * HOUR)
    assert _stock(shop, aid) == (8, 0)  # nothing held, nothing more released
    assert invariants(engine, aid) == []


def test_all_at_once_is_the_default():
    assert first_part(30, {}) == 30
    assert first_part(30, {"release": "daily", "release_parts": 3}) == 10
    assert first_part(31, {"release": "hourly", "release_parts": 3}) == 11
