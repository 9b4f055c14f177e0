# ruff: noqa: F811  (fixtures imported from a shared module are named as arguments)
"""How the console shows a template's values, through Flask's test client: a check-in pool's
money in yuan (its stock table, its preview and a top-up typed in yuan), the preview's summary
(date-times once and in local time, lists by prize), and the smaller things around them."""

from __future__ import annotations

import re
from typing import Any

from activity_configs import CONFIGS
from test_console import (  # noqa: F401  (fixtures)
    Web,
    read_form,
    signed_in,
    text_of,
    web,
    web_app,
    with_values,
)

from magic_cube.engine import Participant
from magic_cube.engine.money import MoneyReads, money_view_keys

POOL = {**CONFIGS["checkin_pool"], "pool_amount": 1_000_000}  # ¥10,000


def live(web: Web, template: str, config: dict[str, Any] | None = None) -> str:
    created = web.engine.create_activity(web.merchant, template, config or CONFIGS[template],
                                         title=f"{template} test")
    web.engine.publish(web.merchant, created["id"])
    return created["id"]


def page(web: Web, url: str, lang: str = "en") -> str:
    r = web.get(url, headers={"Accept-Language": lang})
    assert r.status_code == 200, r.status_code
    return text_of(r.get_data(as_text=True))


# money --------------------------------------------------------------------------------------

def test_a_pools_money_is_worked_out_from_the_template(catalog) -> None:
    doc = catalog.get("checkin_pool").doc
    assert money_view_keys(doc) == {"pool", "share", "daily_boost"}
    reads = MoneyReads(doc)
    assert reads.money({"var": "me.claimed"})  # set from the share
    assert not reads.money({"var": "activity.qualified"})  # a head count
    assert not money_view_keys(catalog.get("lottery").doc)
    # A bargain's price is cut by a split of what is left of itself: money all the same.
    bargain = MoneyReads(catalog.get("bargain").doc)
    assert bargain.money({"var": "room.price"}) and bargain.money({"var": "local.cut"})
    assert not bargain.money({"var": "room.helpers"})


def test_a_check_in_pool_shows_its_pool_in_yuan(signed_in) -> None:
    aid = live(signed_in, "checkin_pool", POOL)
    detail = page(signed_in, f"/console/activities/{aid}")
    assert "Pool ¥10,000.00 ¥10,000.00" in detail
    assert "1,000,000" not in detail
    preview = page(signed_in, f"/console/activities/{aid}/preview")
    assert "Pool ¥10,000.00" in preview and "Pool (yuan)" not in preview
    assert "Share each ¥10,000.00" in preview
    assert "Daily top-up ¥10.00" in preview
    assert "Qualified 0" in preview  # a head count stays a number
    assert "1,000,000" not in preview


def test_a_pool_is_topped_up_in_yuan(signed_in) -> None:
    web = signed_in
    aid = live(web, "checkin_pool", POOL)
    html = web.get(f"/console/activities/{aid}").get_data(as_text=True)
    assert 'step="0.01"' in html and 'min="0.01"' in html
    assert "Add to the pool</button>" in html
    r = web.post(f"/console/activities/{aid}/stock", {"field": "pool_amount", "add": "100"},
                 follow_redirects=True)
    text = text_of(r.get_data(as_text=True))
    assert "¥100.00 added to the pool." in text
    assert "more on sale" not in text
    activity = web.engine.get_activity(web.merchant, aid)
    assert activity["config"]["pool_amount"] == 1_010_000  # ¥10,100 in fen
    r = web.post(f"/console/activities/{aid}/stock", {"field": "pool_amount", "add": "12.5"},
                 headers={"Accept-Language": "zh"}, follow_redirects=True)
    assert "奖池已增加 ¥12.50。" in text_of(r.get_data(as_text=True))
    assert web.engine.get_activity(web.merchant, aid)["config"]["pool_amount"] == 1_011_250
    recent = page(web, f"/console/activities/{aid}/dashboard")
    assert "Pool +¥100.00" in recent and "+10000" not in recent
    r = web.post(f"/console/activities/{aid}/stock", {"field": "pool_amount", "add": "0.001"},
                 follow_redirects=True)
    assert "Top up by an amount from ¥0.01 to ¥100,000.00." in text_of(r.get_data(as_text=True))
    assert web.engine.get_activity(web.merchant, aid)["config"]["pool_amount"] == 1_011_250


def test_a_stock_of_goods_is_still_topped_up_by_count(signed_in) -> None:
    web = signed_in
    aid = live(web, "group_buy")
    r = web.post(f"/console/activities/{aid}/stock", {"field": "stock", "add": "5"},
                 follow_redirects=True)
    assert "5 more on sale." in text_of(r.get_data(as_text=True))
    assert web.engine.get_activity(web.merchant, aid)["config"]["stock"] == 15
    r = web.post(f"/console/activities/{aid}/stock", {"field": "stock", "add": "1.5"},
                 follow_redirects=True)
    assert "Top up by a whole number of at least 1." in text_of(r.get_data(as_text=True))


# the preview's summary ----------------------------------------------------------------------

def test_the_split_time_is_shown_once_in_the_activitys_local_time(signed_in) -> None:
    web = signed_in
    created = web.engine.create_activity(web.merchant, "checkin_pool", POOL, title="Pool",
                                         timezone="Asia/Tokyo")
    text = page(web, f"/console/activities/{created['id']}/preview")
    # 12:00 in Shanghai is 13:00 in Tokyo; the text and the epoch seconds are one time
    assert text.count("Split time 2026-11-14 13:00") == 1
    assert "2026-11-14T12:00:00+08:00" not in text
    assert "1,794" not in text and "1794" not in text
    zh = page(web, f"/console/activities/{created['id']}/preview", "zh")
    assert zh.count("瓜分时间 2026-11-14 13:00") == 1


def test_a_lottery_preview_has_no_list_of_zeros(signed_in) -> None:
    web = signed_in
    aid = live(web, "lottery", {**CONFIGS["lottery"], "prizes": [
        {"name": "Gold", "type": "physical", "stock": 2, "odds": 100},
        {"name": "Tea", "type": "coupon", "stock": 20, "odds": 1000}]})
    text = page(web, f"/console/activities/{aid}/preview")
    assert "0, 0" not in text and "still to come" not in text.lower()


def test_a_paced_lottery_shows_the_stock_still_to_come_by_prize(signed_in) -> None:
    web = signed_in
    aid = live(web, "lottery", {**CONFIGS["lottery"], "release": "daily", "release_parts": 3,
                                "prizes": [
                                    {"name": "Gold", "type": "physical", "stock": 3, "odds": 100},
                                    {"name": "Tea", "type": "coupon", "stock": 30, "odds": 1000}]})
    text = page(web, f"/console/activities/{aid}/preview")
    assert "Prize Probability Stock Left Still to come" in text
    assert "Gold 1.00% 3 1 2" in text and "Tea 10.00% 30 10 20" in text
    assert "2, 20" not in text


def test_numbers_along_a_table_are_named_by_their_rows(signed_in) -> None:
    web = signed_in
    aid = live(web, "collect_cards")
    text = page(web, f"/console/activities/{aid}/preview")
    assert "Plum: 50 · Orchid: 30 · Bamboo: 20" in text
    assert "50, 30, 20" not in text


# smaller things -------------------------------------------------------------------------------

def test_a_new_lottery_starts_with_the_prize_row_it_needs(signed_in) -> None:
    html = signed_in.get("/console/activities/new/lottery").get_data(as_text=True)
    assert 'name="config.prizes.0.name"' in html
    assert 'name="config.prizes.1.name"' not in html
    assert "__remove:config.prizes.0" not in html  # the only prize cannot go


def test_a_list_too_short_says_item_not_items(signed_in) -> None:
    web = signed_in
    page_ = read_form(web.new_form("lottery"))
    fields = [f for f in page_.fields if not f[0].startswith("config.prizes.")]
    data = with_values(fields, {"config.prizes.__array": ""})
    r = web.post("/console/activities/new/lottery", data)
    assert r.status_code == 422
    text = text_of(r.get_data(as_text=True))
    assert "Must have at least 1 item" in text and "1 items" not in text
    r = web.post("/console/activities/new/lottery?lang=zh", data)
    assert "至少需要 1 项" in text_of(r.get_data(as_text=True))


def test_an_api_keys_times_are_in_the_merchants_time_zone(signed_in, clock) -> None:
    web = signed_in  # its key was made at 2026-11-11 02:00 UTC, 10:00 in Shanghai
    text = page(web, "/console/settings")
    assert "2026-11-11 10:00" in text and "Times in Beijing time." in text
    assert "UTC" not in text
    # A merchant whose activities run in Tokyo reads Tokyo time.
    web.engine.create_activity(web.merchant, "gift", CONFIGS["gift"], timezone="Asia/Tokyo")
    text = page(web, "/console/settings")
    assert "2026-11-11 11:00" in text and "Times in Tokyo time." in text


def test_a_chinese_page_names_its_time_zone_in_a_sentence(signed_in) -> None:
    """北京时间 reads as part of the sentence: no gap before it, no "时区 北京时间" (nor "the
    time zone Beijing time" in English)."""
    web = signed_in
    aid = live(web, "lottery")
    settings = page(web, "/console/settings", "zh")
    assert "以下时间均为北京时间。" in settings
    assert "日期按北京时间计算。" in page(web, "/console/calendar", "zh")
    assert "Days are in Beijing time." in page(web, "/console/calendar")
    forecast = page(web, f"/console/activities/{aid}/forecast", "zh")
    assert "以下时间均为北京时间。“典型”" in forecast
    for text in (settings, forecast):
        assert not re.search(r"[\u4e00-\u9fff] 北京时间", text), text


def test_every_page_names_its_icon_so_no_browser_asks_for_favicon_ico(signed_in) -> None:
    for url in ("/console/activities", "/console/settings", "/console/no-such-page"):
        html = signed_in.get(url).get_data(as_text=True)
        icon = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', html)
        assert icon, url
    r = signed_in.get(icon.group(1))
    assert r.status_code == 200 and r.mimetype == "image/svg+xml"
    assert b"<svg" in r.get_data()


def test_winners_are_shown_by_their_nickname_with_the_id_at_hand(signed_in) -> None:
    web = signed_in
    aid = live(web, "lottery", {**CONFIGS["lottery"], "prizes": [
        {"name": "Tea", "type": "coupon", "stock": 10, "odds": 10000}]})  # every draw wins
    web.engine.act(aid, "draw", Participant("guest_3f9c1a7e52d04b11", "小明"))
    web.engine.act(aid, "draw", Participant("u-1001", ""))  # the shop's own id, no name
    for url in (f"/console/activities/{aid}/fulfilment", f"/console/activities/{aid}/dashboard"):
        html = web.get(url).get_data(as_text=True)
        assert '<span class="participant-name" title="guest_3f9c1a7e52d04b11">小明</span>' in html
        assert "guest_3f9c1a7e52d04b11" not in text_of(html)  # not among what is read
        assert "<code>u-1001</code>" in html  # without a name, the id it is
    code = next(c["code"] for c in web.engine.redemptions(web.merchant, aid)
                if c["participant_id"] == "guest_3f9c1a7e52d04b11")
    found = web.get(f"/console/redeem?code={code}").get_data(as_text=True)
    assert '<span class="participant-name" title="guest_3f9c1a7e52d04b11">小明</span>' in found
    # and the id still finds the winner
    html = web.get(f"/console/activities/{aid}/fulfilment?q=guest_3f9c1a7e52d04b11")
    assert "小明" in text_of(html.get_data(as_text=True))


# publishing with a date-time that cannot work ---------------------------------------------------

def test_publishing_a_pool_whose_split_time_has_passed_warns_but_goes_ahead(signed_in) -> None:
    web = signed_in
    past = {**POOL, "settle_at": "2020-01-01T10:00:00+08:00"}
    aid = web.engine.create_activity(web.merchant, "checkin_pool", past, title="Late pool")["id"]
    warning = "Split time (2020-01-01 10:00) has already passed."
    preview = page(web, f"/console/activities/{aid}/preview")
    assert "Check before publishing" in preview and warning in preview
    assert "瓜分时间（2020-01-01 10:00）已经过去。" in page(
        web, f"/console/activities/{aid}/preview", "zh")
    r = web.post(f"/console/activities/{aid}/publish", {"when": "now"}, follow_redirects=True)
    html = r.get_data(as_text=True)
    assert "The activity is live." in text_of(html)
    assert f'<p class="flash flash--warning" role="status">{warning}</p>' in html
    assert web.status(aid) == "live"  # warned, not refused
    assert warning not in page(web, f"/console/activities/{aid}/preview")  # said once, at publish


def test_a_template_that_acts_as_the_activity_ends_asks_for_an_end_time(signed_in, clock) -> None:
    """A check-in pool closes its books as the activity ends (an `"at": "end"` timer): without
    an end time that waits for the merchant, which the preview and the publish say."""
    web = signed_in
    endless = web.engine.create_activity(web.merchant, "checkin_pool", POOL)["id"]
    warning = ("“Close the books” happens as the activity ends, and it has no end time: set "
               "one, or it happens only when you end the activity.")
    assert warning in page(web, f"/console/activities/{endless}/preview")
    assert "“结算”在活动结束时进行，而活动没有设置结束时间" in page(
        web, f"/console/activities/{endless}/preview", "zh")
    ending = web.engine.create_activity(web.merchant, "checkin_pool", POOL,
                                        ends_at=clock.now + 5 * 86400)["id"]
    assert "happens as the activity ends" not in page(web, f"/console/activities/{ending}/preview")
    lottery = web.engine.create_activity(web.merchant, "lottery", CONFIGS["lottery"])["id"]
    assert "happens as the activity ends" not in page(web, f"/console/activities/{lottery}/preview")


def test_a_split_time_outside_the_activity_is_warned_of(signed_in, clock) -> None:
    web = signed_in  # now: 2026-11-11 10:00 in Shanghai; the split 2026-11-14 12:00
    ends_early = web.engine.create_activity(web.merchant, "checkin_pool", POOL,
                                            ends_at=clock.now + 86400)["id"]
    assert ("Split time (2026-11-14 12:00) comes after the activity ends (2026-11-12 10:00)."
            in page(web, f"/console/activities/{ends_early}/preview"))
    starts_late = web.engine.create_activity(web.merchant, "checkin_pool", POOL)["id"]
    r = web.post(f"/console/activities/{starts_late}/publish",
                 {"when": "schedule", "starts_at": "2026-11-20T10:00"}, follow_redirects=True)
    assert ("Split time (2026-11-14 12:00) comes before the activity starts (2026-11-20 10:00)."
            in text_of(r.get_data(as_text=True)))
    assert web.status(starts_late) == "scheduled"
    fine = web.engine.create_activity(web.merchant, "checkin_pool", POOL)["id"]
    assert "Split time (" not in page(web, f"/console/activities/{fine}/preview")


def test_a_template_named_as_its_kind_is_named_once(signed_in) -> None:
    """"Bargain (v1.0.0)", not "Bargain (Bargain, v1.0.0)"."""
    web = signed_in
    aid = live(web, "bargain")
    text = text_of(page(web, f"/console/activities/{aid}"))
    assert "Bargain (v1.0.0)" in text and "Bargain (Bargain" not in text
    assert "砍价（v1.0.0）" in page(web, f"/console/activities/{aid}", "zh")


def test_chinese_pages_put_chinese_punctuation_between_joined_words(signed_in) -> None:
    """Words the console puts together (an error's field and message, what happened and what
    was won, two events of one action) are joined with full-width marks on a Chinese page."""
    web = signed_in
    aid = live(web, "bargain")
    room = web.engine.act(aid, "start", Participant("buyer", "买家")).room
    needed = web.engine.get_activity(web.merchant, aid)["config"]["helpers_needed"]
    for i in range(needed):
        web.engine.act(aid, "help", Participant(f"helper{i}", f"帮手{i}"), room_id=room)
    web.engine.act(aid, "buy", Participant("buyer"), room_id=room)
    dashboard = page(web, f"/console/activities/{aid}/dashboard", "zh")
    assert "好友帮砍；砍到底价" in dashboard and "好友帮砍; " not in dashboard
    winners = page(web, f"/console/activities/{aid}/fulfilment", "zh")
    assert "下单购买：" in winners and "（实物）" in winners
    assert "下单购买: " not in winners and " (实物)" not in winners
    r = web.post("/console/activities/new/gift", {"title": "x" * 201, "config.gift_name": "咖啡",
                                                  "_save": "1"},
                 headers={"Accept-Language": "zh"})
    assert r.status_code == 422 and "标题：" in text_of(r.get_data(as_text=True))
    # English keeps its own marks
    english = page(web, f"/console/activities/{aid}/dashboard")
    assert "A friend cut the price; Floor price reached" in english
