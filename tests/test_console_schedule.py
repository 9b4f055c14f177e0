# ruff: noqa: F811  (fixtures imported from a shared module are named as arguments)
"""The activity page says what a live activity's own timers do next, in the merchant's
language and the activity's time zone (a paced lottery's next parts)."""

from __future__ import annotations

from test_console import signed_in, text_of, web, web_app  # noqa: F401  (fixtures)

PACED = {"prizes": [{"name": "Tea set", "type": "physical", "stock": 30, "odds": 100}],
         "draws_per_day": 1, "draws_total": 3, "release": "daily", "release_parts": 3}


def test_a_paced_lottery_shows_its_next_releases(signed_in, engine) -> None:
    created = engine.create_activity(signed_in.merchant, "lottery", PACED)
    engine.publish(signed_in.merchant, created["id"])
    for lang, heading, action in (("zh", "即将进行", "投放下一份奖品"),
                                  ("en", "Coming up", "Release the next part of the stock")):
        r = signed_in.get(f"/console/activities/{created['id']}",
                          headers={"Accept-Language": lang})
        text = text_of(r.get_data(as_text=True))
        assert heading in text and action in text
        # The clock starts 2026-11-11 10:00 in Shanghai: the next part comes at midnight.
        assert "2026-11-12 00:00" in text


def test_the_schedule_ends_with_the_last_part(signed_in, engine, clock) -> None:
    created = engine.create_activity(signed_in.merchant, "lottery", PACED)
    engine.publish(signed_in.merchant, created["id"])
    clock.advance(2 * 86400)  # both later parts are out
    text = text_of(signed_in.get(f"/console/activities/{created['id']}").get_data(as_text=True))
    assert "Coming up" not in text


def test_an_activity_without_timers_of_its_own_shows_no_schedule(signed_in) -> None:
    activity_id = signed_in.live("group_buy")
    text = text_of(signed_in.get(f"/console/activities/{activity_id}").get_data(as_text=True))
    assert "Coming up" not in text
