# ruff: noqa: F811  (fixtures imported from a shared module are named as arguments)
"""The console's live lists of rooms and the calendar.

Flask's test client on both stores (SQLite file, PostgreSQL schema): the list newest first with
unmasked names, room values labelled and money in yuan, the status filter, keyset paging,
another merchant's activity and unknown rooms as 404, a room's members and actions, the
fragment the page's script fetches, and the month calendar. Then Chromium at 390 and 1280 px
in zh and en: no horizontal scroll, no English left on Chinese pages, money as ¥x.xx, and the
list refreshing itself.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from activity_configs import CONFIGS, START, Clock
from browser import DESKTOP, PHONE, LiveServer, browser, new_page, scroll_width, shot  # noqa: F401
from stores import STORE_PARAMS, store_url
from test_console import Web, text_of

from magic_cube import console
from magic_cube.app import create_app
from magic_cube.engine import EngineError, Participant
from magic_cube.engine.live import InvalidRoomFilter, opens_rooms, room_values
from magic_cube.engine.money import MoneyReads

HOUR = 3600


@pytest.fixture(params=STORE_PARAMS)
def shop(request, tmp_path, catalog) -> Any:
    """A signed-in merchant's console on each store, with the engine's clock in hand."""
    url, cleanup = store_url(request.param, tmp_path)
    clock = Clock()
    app = create_app({"CATALOG": catalog, "TESTING": True, "CLOCK": clock,
                      "SETTINGS": {"database_url": url}})
    if "console" not in app.blueprints:
        console.init_app(app)
    web = Web(app.test_client(), app.extensions["magic_cube"])
    web.signup()
    web.clock = clock  # type: ignore[attr-defined]
    yield web
    app.extensions["magic_cube"].store.close()
    cleanup()


def live(web: Web, template: str, config: dict[str, Any] | None = None, **kw: Any) -> str:
    engine = web.engine
    created = engine.create_activity(web.merchant, template, config or CONFIGS[template],
                                     title=kw.pop("title", f"{template} test"), **kw)
    engine.publish(web.merchant, created["id"])
    return created["id"]


def act(web: Web, activity_id: str, action: str, who: str, room: str | None = None,
        params: dict[str, Any] | None = None) -> dict[str, Any]:
    outcome = web.engine.act(activity_id, action, Participant(who, who.title()), params, room)
    assert outcome.__class__.__name__ == "Accepted", outcome
    return outcome.result


def page(web: Web, url: str) -> str:
    r = web.get(url)
    assert r.status_code == 200, r.status_code
    return r.get_data(as_text=True)


def cards(html: str) -> list[str]:
    return re.findall(r'id="room-([^"]+)"', html)


# the list -----------------------------------------------------------------------------------

def test_the_list_shows_rooms_newest_first_with_names_values_and_progress(shop):
    activity_id = live(shop, "bargain")
    rooms = []
    for who in ("amy", "ben", "cat"):
        rooms.append(act(shop, activity_id, "start", who)["room"])
        shop.clock.advance(60)
    cut = act(shop, activity_id, "help", "dan", rooms[0])["cut"]
    html = page(shop, f"/console/activities/{activity_id}/live?lang=en")
    assert cards(html) == rooms[::-1]
    text = text_of(html)
    for name in ("Amy", "Ben", "Cat"):  # the merchant's own users: unmasked
        assert f"Started by {name}" in text
    assert "A***" not in text
    price = 10000 - cut
    assert f"Price now {yuan(price)}" in text and "Price now ¥100.00" in text
    assert "Floor price ¥10.00" in text or "¥10.00" in text
    assert "Members 2 / 4" in text and "Members 1 / 4" in text
    assert f"{yuan(price)} (from ¥100.00 to ¥10.00)" in text
    assert "Time left: 23 h 57 min" in text  # a 24-hour bargain opened 3 minutes ago
    assert "Opened 2026-11-11 10:00" in text  # in the activity's zone (Asia/Shanghai)
    detail = f'href="/console/activities/{activity_id}/live/{rooms[0]}"'
    assert detail in html


def yuan(fen: int) -> str:
    return f"¥{fen / 100:,.2f}"


def test_the_status_filter_shows_only_rooms_of_that_status(shop):
    activity_id = live(shop, "group_buy")
    full = act(shop, activity_id, "start", "amy")["room"]
    for who in ("ben", "cat"):
        act(shop, activity_id, "join", who, full)
    shop.clock.advance(60)
    lapsed = act(shop, activity_id, "start", "dan")["room"]
    shop.clock.advance(25 * HOUR)  # past the group's expiry: its timer fires on the next read
    waiting = act(shop, activity_id, "start", "eve")["room"]
    base = f"/console/activities/{activity_id}/live?lang=en"
    assert cards(page(shop, base)) == [waiting, lapsed, full]
    assert cards(page(shop, base + "&status=succeeded")) == [full]
    assert cards(page(shop, base + "&status=expired")) == [lapsed]
    assert cards(page(shop, base + "&status=open")) == [waiting]
    assert cards(page(shop, base + "&status=failed")) == []
    assert "No room has this status." in page(shop, base + "&status=failed")
    assert cards(page(shop, base + "&status=nonsense")) == [waiting, lapsed, full]
    text = text_of(page(shop, base + "&status=succeeded"))
    assert "Succeeded" in text and "Members 3 / 3" in text and "Completed virtually No" in text


def test_pages_of_fifty_follow_each_other_without_gaps_or_repeats(shop):
    activity_id = live(shop, "gift")
    made = [act(shop, activity_id, "send", f"p{n:02d}", params={"shares": 2})["room"]
            for n in range(53)]  # all in the same second: the room id breaks the tie
    first = page(shop, f"/console/activities/{activity_id}/live?lang=en")
    assert len(cards(first)) == 50
    older = re.search(r'<a href="([^"]+)" rel="next">Older rooms', first)
    assert older, "a link to the older rooms"
    second = page(shop, older.group(1).replace("&amp;", "&"))
    assert len(cards(second)) == 3 and "Older rooms" not in second
    assert sorted(cards(first) + cards(second)) == sorted(made)
    newer = re.search(r'<a href="([^"]+)" rel="prev">Newer rooms', second)
    assert newer and cards(page(shop, newer.group(1).replace("&amp;", "&"))) == cards(first)
    # A cursor this listing never gave starts again from the newest.
    assert cards(page(shop, f"/console/activities/{activity_id}/live?after=x.y.z")) \
        == cards(first)


def test_another_merchants_activity_and_unknown_rooms_are_not_found(shop):
    activity_id = live(shop, "bargain")
    room = act(shop, activity_id, "start", "amy")["room"]
    lottery = live(shop, "lottery")
    assert shop.get(f"/console/activities/{activity_id}/live/{room}").status_code == 200
    assert shop.get(f"/console/activities/{activity_id}/live/room_nope").status_code == 404
    assert shop.get("/console/activities/act_nope/live").status_code == 404
    # A lottery opens no rooms: no live list, and no tab for it.
    assert shop.get(f"/console/activities/{lottery}/live").status_code == 404
    assert "/live" not in page(shop, f"/console/activities/{lottery}")
    bargain_page = page(shop, f"/console/activities/{activity_id}")
    assert f"/console/activities/{activity_id}/live" in bargain_page
    shop.logout()
    shop.signup("other@example.com", "other-password", "Other shop")
    for url in (f"/console/activities/{activity_id}/live",
                f"/console/activities/{activity_id}/live/{room}",
                f"/console/activities/{activity_id}/live?fragment=1"):
        r = shop.get(url)
        assert r.status_code == 404 and "Amy" not in r.get_data(as_text=True)
    with pytest.raises(EngineError):
        shop.engine.live_rooms(shop.merchant, activity_id)


def test_the_room_page_shows_members_their_data_and_the_actions_newest_first(shop):
    activity_id = live(shop, "bargain")
    room = act(shop, activity_id, "start", "amy")["room"]
    cuts = [act(shop, activity_id, "help", who, room)["cut"] for who in ("ben", "cat")]
    shop.clock.advance(25 * HOUR)  # expires: the room timer acts
    html = page(shop, f"/console/activities/{activity_id}/live/{room}?lang=en")
    text = text_of(html)
    assert "Room of Amy" in text and "Expired" in text
    assert "Amy Initiator" in text and "Ben Member" in text and "Cat Member" in text
    assert f"Cut {yuan(cuts[0])}" in text and f"Cut {yuan(cuts[1])}" in text
    assert "Joined 2026-11-11 10:00" in text
    steps = re.findall(r"<strong>([^<]+)</strong> <span class=\"muted\">", html)
    assert steps[-3:] == ["Help cut", "Help cut", "Start a bargain"]
    assert "By the room timer" in text and "Bargain expired" in text
    assert f"Price now {yuan(10000 - sum(cuts))}" in text
    zh = text_of(page(shop, f"/console/activities/{activity_id}/live/{room}?lang=zh"))
    assert "发起人" in zh and "砍掉" in zh and "当前价格" in zh and "已过期" in zh


def test_the_fragment_is_the_list_alone_and_follows_new_rooms(shop):
    activity_id = live(shop, "group_buy")
    url = f"/console/activities/{activity_id}/live?lang=en&fragment=1"
    empty = page(shop, url)
    assert "<html" not in empty and "No rooms yet" in empty
    room = act(shop, activity_id, "start", "amy")["room"]
    assert cards(page(shop, url)) == [room]
    full = page(shop, f"/console/activities/{activity_id}/live?lang=en")
    assert 'data-live-url="' in full and "live.js" in full
    assert re.search(r'data-live-url="[^"]*fragment=1', full)
    detail = page(shop, f"/console/activities/{activity_id}/live/{room}?fragment=1&lang=en")
    assert "<html" not in detail and "Amy" in detail


def test_the_engine_refuses_a_bad_filter_with_a_stable_code(shop):
    activity_id = live(shop, "bargain")
    for kwargs in ({"status": "closed"}, {"cursor": "not-a-cursor"}):
        with pytest.raises(InvalidRoomFilter) as caught:
            shop.engine.live_rooms(shop.merchant, activity_id, **kwargs)
        assert caught.value.code == "validation_error" and caught.value.status == 422


def test_money_is_known_from_the_templates_data(catalog):
    def facts(template: str, config: dict[str, Any]) -> tuple[list[str], set[str]]:
        doc = catalog.get(template).doc
        units, views = MoneyReads(doc, config), doc["views"]["room"]
        return [k for k in room_values(doc) if units.money(views[k])], units.member_money()

    assert facts("bargain", CONFIGS["bargain"]) == (["price", "floor_price"], {"cut"})
    assert facts("group_buy", CONFIGS["group_buy"]) == ([], {"price"})
    # A gift of units holds counts; a gift of money holds yuan: the config decides.
    assert facts("gift", CONFIGS["gift"]) == ([], set())
    assert facts("gift", {"gift_name": "Red packet", "mode": "amount"}) == (["total"], {"share"})
    assert [opens_rooms(catalog.get(t).doc) for t in ("bargain", "gift", "lottery")] \
        == [True, True, False]


# the calendar ---------------------------------------------------------------------------------

def test_the_calendar_shows_this_months_activities_as_bars(shop):
    day = 86400
    running = live(shop, "bargain", title="Double eleven", ends_at=START + 5 * day)
    shop.engine.create_activity(shop.merchant, "lottery", CONFIGS["lottery"],
                                title="December draw", starts_at=START + 30 * day,
                                ends_at=START + 33 * day)
    html = page(shop, "/console/calendar?lang=en")
    text = text_of(html)
    assert "Calendar: November 2026" in text
    bars = re.findall(r'class="cal-bar cal-bar--live([^"]*)" style="grid-column: (\d) / span (\d)"'
                      rf' href="/console/activities/{running}"', html)
    # Wednesday 11th to Sunday 15th, on to Monday 16th (it ends at 10:00 that day).
    assert bars == [(" cal-bar--after", "3", "5"), (" cal-bar--before", "1", "1")]
    assert "December draw" not in text
    assert "Double eleven" in text and "Previous month" in text
    agenda = text_of(html.split('class="cal-agenda"')[1])  # the phone's list: each activity once
    assert agenda.count("Double eleven") == 1 and "Wed, Nov 11 – Mon, Nov 16" in agenda
    live(shop, "gift", title="Always on")
    assert "from Wed, Nov 11, no end set" in text_of(page(shop, "/console/calendar?lang=en"))
    december = page(shop, "/console/calendar?month=2026-12&lang=en")
    assert "December draw" in december and "cal-bar--draft" in december
    assert "Double eleven" not in december
    zh = text_of(page(shop, "/console/calendar?month=2026-12&lang=zh"))
    assert "2026年12月" in zh and "草稿" in zh
    assert "Calendar: November 2026" in text_of(page(shop, "/console/calendar?month=junk&lang=en"))
    assert shop.get("/console/calendar").status_code == 200
    shop.logout()
    assert shop.get("/console/calendar").status_code == 302  # signed-in merchants only


# in a browser ---------------------------------------------------------------------------------

EMAIL, PASSWORD = "live@example.com", "live-browser-pass"
# What the merchant and its shoppers typed: titles, product and gift names, display names.
MERCHANT_TEXT = ("双十一砍价", "拼团电饭煲", "新年红包", "茶具", "电饭煲", "红包", "Asia/Shanghai")
FRIENDS = {"u1001": "小明", "u1002": "小红", "u1003": "阿强", "u1004": "丽丽", "u1005": "大卫"}
MONEY = re.compile(r"¥-?\d{1,3}(,\d{3})*\.\d{2}(?!\d)")


@pytest.fixture(scope="module")
def floor(tmp_path_factory, catalog, browser) -> Any:
    """A real server with one merchant's bargain, group buy and gift pack, each with rooms."""
    db = tmp_path_factory.mktemp("live") / "live.db"
    app = create_app({"CATALOG": catalog, "TESTING": True,
                      "SETTINGS": {"database_url": f"sqlite:///{db}"}})
    server = LiveServer(app)
    engine = server.engine
    merchant, _key = engine.sign_up("茶馆", EMAIL, PASSWORD)
    now = engine.now()
    ids = {}
    for template, title, config in (
            ("bargain", "双十一砍价", {**CONFIGS["bargain"], "product_name": "茶具"}),
            ("group_buy", "拼团电饭煲", {**CONFIGS["group_buy"], "product_name": "电饭煲"}),
            ("gift", "新年红包", {"gift_name": "红包", "mode": "amount"})):
        created = engine.create_activity(merchant, template, config, title=title,
                                         timezone="Asia/Shanghai", ends_at=now + 5 * 86400)
        engine.publish(merchant, created["id"])
        ids[template] = created["id"]

    def act(template: str, action: str, who: str, room: str | None = None,
            params: dict[str, Any] | None = None) -> dict[str, Any]:
        outcome = engine.act(ids[template], action, Participant(who, FRIENDS[who]), params, room)
        return outcome.result

    bargain = act("bargain", "start", "u1001")["room"]
    act("bargain", "help", "u1002", bargain)
    act("bargain", "help", "u1003", bargain)
    act("bargain", "start", "u1004")
    group = act("group_buy", "start", "u1001")["room"]
    act("group_buy", "join", "u1002", group)
    pack = act("gift", "send", "u1003", params={"shares": 3, "amount": 3000,
                                                "message": "新年快乐"})["room"]
    act("gift", "claim", "u1004", pack)
    server.ids, server.rooms = ids, {"bargain": bargain, "group_buy": group, "gift": pack}
    server.act = act
    yield server
    server.close()


def signed_in_page(browser: Any, floor: Any, lang: str, viewport: dict[str, int]) -> Any:
    page = new_page(browser, lang, viewport)
    page.goto(f"{floor.base}/console/login?lang={lang}")
    page.fill("#field-email", EMAIL)
    page.fill("#field-password", PASSWORD)
    page.click("form.narrow-form button[type=submit]")
    page.wait_for_load_state()
    return page


def english_left(page: Any) -> list[str]:
    """Latin words on the page's main part outside what merchants and shoppers typed (and
    outside ids in <code>)."""
    text = page.evaluate("""() => {
        const main = document.querySelector('main').cloneNode(true);
        main.querySelectorAll('code').forEach(c => c.remove());
        return main.innerText; }""")
    for allowed in MERCHANT_TEXT + ("ID",):
        text = text.replace(allowed, " ")
    return re.findall(r"[A-Za-z]{2,}", text)


def check_page(page: Any, viewport: dict[str, int], lang: str, name: str) -> str:
    shot(page, name)
    assert scroll_width(page) <= viewport["width"], f"{name} scrolls sideways"
    text = page.inner_text("main")
    if lang == "zh":
        assert english_left(page) == [], name
    for sign in re.finditer(r"¥\S*", text):
        assert MONEY.match(sign.group(0)), f"{name}: {sign.group(0)!r} is not ¥x.xx"
    return text


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_live_pages_and_the_calendar_fit_and_speak_the_language(browser, floor, lang, size):
    viewport = PHONE if size == "phone" else DESKTOP
    page = signed_in_page(browser, floor, lang, viewport)
    try:
        base = f"{floor.base}/console/activities"
        page.goto(f"{base}/{floor.ids['bargain']}?lang={lang}")
        page.click(f"a[href='/console/activities/{floor.ids['bargain']}/live']")
        text = check_page(page, viewport, lang, f"live-bargain-{size}-{lang}")
        assert page.locator(".room-card").count() == 2
        assert "小明" in text and "丽丽" in text and "¥100.00" in text
        assert page.locator(".meter--price").count() == 2
        page.click(f"#room-{floor.rooms['bargain']} a[href$='{floor.rooms['bargain']}']")
        text = check_page(page, viewport, lang, f"live-room-bargain-{size}-{lang}")
        assert "小红" in text and "阿强" in text
        assert ("发起人" if lang == "zh" else "Initiator") in text
        for template in ("group_buy", "gift"):
            page.goto(f"{base}/{floor.ids[template]}/live?lang={lang}")
            text = check_page(page, viewport, lang, f"live-{template}-{size}-{lang}")
            page.goto(f"{base}/{floor.ids[template]}/live/{floor.rooms[template]}?lang={lang}")
            check_page(page, viewport, lang, f"live-room-{template}-{size}-{lang}")
        assert "¥30.00" in page.inner_text("main")  # the gift pack's total, in yuan
        page.goto(f"{floor.base}/console/calendar?lang={lang}")
        text = check_page(page, viewport, lang, f"calendar-{size}-{lang}")
        assert "双十一砍价" in text and "新年红包" in text
        grid, agenda = page.locator(".cal-month"), page.locator(".cal-agenda")
        assert (grid.is_visible(), agenda.is_visible()) == \
            ((False, True) if size == "phone" else (True, False))
        page.click("a[rel=next]")
        check_page(page, viewport, lang, f"calendar-next-{size}-{lang}")
    finally:
        page.context.close()


def test_the_live_list_refreshes_itself(browser, floor):
    page = signed_in_page(browser, floor, "en", DESKTOP)
    try:
        page.goto(f"{floor.base}/console/activities/{floor.ids['group_buy']}/live?lang=en")
        assert page.locator(".room-card").count() == 1
        room = floor.act("group_buy", "start", "u1005")["room"]
        page.wait_for_selector(f"#room-{room}", timeout=12_000)  # no reload: the script did it
        assert page.locator(".room-card").count() == 2
        assert "大卫" in page.inner_text(f"#room-{room}")
    finally:
        page.context.close()


def test_a_money_label_drops_its_unit_beside_a_yuan_value():
    from magic_cube.console.live import money_label
    assert money_label("底价（元）") == "底价"
    assert money_label("Floor price (yuan)") == "Floor price"
    assert money_label("Helpers") == "Helpers"
