# ruff: noqa: F811  (fixtures imported from a shared module are named as arguments)
"""The console's campaign pages.

Flask's test client on both stores: the list and the create form (inline errors), a campaign's
dashboard with the same totals as the API, adding and removing activities, the hourly CSV, the
campaign forecast (money in yuan, bad input inline), an operator's invitation accepted on the
join page, and what each side may see (a member only its own activities; another merchant's
campaign and activities stay 404). Then Chromium at 390 and 1280 px in zh and en on the list,
a dashboard with charts, the forecast and the join page: no sideways scroll, no English left on
Chinese pages, money as ¥x.xx.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from activity_configs import CONFIGS, START, Clock
from browser import DESKTOP, PHONE, LiveServer, browser, new_page, scroll_width, shot  # noqa: F401
from stores import STORE_PARAMS, store_url
from test_console import Web, text_of

from magic_cube import console
from magic_cube.app import create_app
from magic_cube.engine import Participant

HOUR = 3600
DAYS = {"starts_on": "2026-11-10", "ends_on": "2026-11-16"}  # START is 2026-11-11 10:00 +08


@pytest.fixture(params=STORE_PARAMS)
def shop(request, tmp_path, catalog) -> Any:
    """A signed-in merchant's console on each store, with the engine's clock in hand."""
    url, cleanup = store_url(request.param, tmp_path)
    clock = Clock()
    app = create_app({"CATALOG": catalog, "TESTING": True, "CLOCK": clock,
                      "SETTINGS": {"database_url": url}})
    if "console" not in app.blueprints:
        console.init_app(app)
    app.config["FORECAST_TIME_BUDGET"] = 5.0
    web = Web(app.test_client(), app.extensions["magic_cube"])
    web.signup()
    web.clock = clock  # type: ignore[attr-defined]
    yield web
    app.extensions["magic_cube"].store.close()
    cleanup()


def another(web: Web, email: str, name: str) -> Web:
    """A second merchant signed in on the same app."""
    other = Web(web.client.application.test_client(), web.engine)
    other.signup(email=email, name=name)
    return other


def live(web: Web, template: str, title: str) -> str:
    created = web.engine.create_activity(web.merchant, template, CONFIGS[template], title=title)
    web.engine.publish(web.merchant, created["id"])
    return created["id"]


def act(web: Web, activity_id: str, action: str, who: str, room: str | None = None) -> Any:
    outcome = web.engine.act(activity_id, action, Participant(who, who.title()), None, room)
    assert outcome.__class__.__name__ == "Accepted", outcome
    return outcome.result


def create(web: Web, name: str = "Double 11") -> str:
    r = web.post("/console/campaigns", {"name": name, "timezone": "Asia/Shanghai", **DAYS})
    assert r.status_code == 302, text_of(r.get_data(as_text=True))[:1000]
    return r.headers["Location"].rstrip("/").split("/")[-1]


def page(web: Web, url: str, status: int = 200) -> str:
    r = web.get(url)
    assert r.status_code == status, (url, r.status_code)
    return r.get_data(as_text=True)


def kpis(html: str) -> list[str]:
    return re.findall(r'data-kpi="\d+">([^<]*)<', html)


def test_a_bad_campaign_comes_back_with_inline_errors(shop):
    r = shop.post("/console/campaigns", {"name": "", "timezone": "Mars/Base",
                                         "starts_on": "2026-11-16", "ends_on": "2026-11-10"})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert 'id="error-summary"' in html and html.count('aria-invalid="true"') >= 2
    assert "A name is 1 to 100 characters." in html
    assert "The last day is on or after the first" in html
    assert "No campaigns yet." in page(shop, "/console/campaigns")


def test_the_new_campaign_form_starts_on_today_in_the_merchants_time_zone(shop):
    shop.clock.now = START - 6 * HOUR  # 2026-11-10 20:00 UTC: 04:00 on the 11th in Beijing
    html = page(shop, "/console/campaigns")
    assert html.count('value="2026-11-11"') == 2 and "2026-11-10" not in html
    assert re.search(r'<option value="Asia/Shanghai"[^>]*selected', html)
    # A merchant whose activities run in Tokyo gets Tokyo's zone and day.
    shop.engine.create_activity(shop.merchant, "gift", CONFIGS["gift"], timezone="Asia/Tokyo")
    shop.clock.now = START + 13 * HOUR  # 15:00 UTC: midnight on the 12th in Tokyo
    html = page(shop, "/console/campaigns")
    assert html.count('value="2026-11-12"') == 2
    assert re.search(r'<option value="Asia/Tokyo"[^>]*selected', html)


def test_the_dashboard_shows_the_totals_of_the_api_and_the_csv_its_hours(shop):
    cid = create(shop)
    lottery, bargain = live(shop, "lottery", "Lucky draw"), live(shop, "bargain", "Tea set")
    html = page(shop, f"/console/campaigns/{cid}")
    assert "No activities in this campaign yet." in html
    for activity_id in (lottery, bargain):
        r = shop.post(f"/console/campaigns/{cid}/activities", {"activity_id": activity_id})
        assert r.status_code == 302
    act(shop, lottery, "draw", "amy")
    room = act(shop, bargain, "start", "amy")["room"]
    shop.clock.advance(HOUR)
    act(shop, bargain, "help", "ben", room)
    act(shop, lottery, "draw", "ben")
    html = page(shop, f"/console/campaigns/{cid}")
    stats = shop.engine.campaign_stats(shop.merchant, cid)["totals"]
    assert stats["participations"] == 4 and stats["unique_participants"] == 2
    assert kpis(html)[:3] == ["4", "2", "2"]  # participations, unique, first-time
    assert 'id="chart-campaign-hourly"' in html and 'id="chart-campaign-daily"' in html
    assert "Lucky draw" in html and "Tea set" in html and "campaign-forecast-link" in html
    r = shop.get(f"/console/campaigns/{cid}/stats.csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:2] == ["Hour (Beijing time)", "Participations"]
    assert [row[1] for row in rows[1:]] == ["2", "2"]  # two hours, in Asia/Shanghai time
    assert rows[1][0] == "2026-11-11 10:00"
    # the button says what it does: out of the campaign, not the activity deleted
    assert "Remove from the campaign</button>" in html
    shop.get("/console/campaigns?lang=zh")
    assert "移出营销节</button>" in page(shop, f"/console/campaigns/{cid}")
    shop.get("/console/campaigns?lang=en")
    r = shop.post(f"/console/campaigns/{cid}/activities/{lottery}/remove")
    assert r.status_code == 302
    html = page(shop, f"/console/campaigns/{cid}")
    assert kpis(html)[0] == "4" and kpis(html)[7] == "1"  # counted stays, one activity left
    r = shop.post(f"/console/campaigns/{cid}/activities", {"activity_id": "nope"})
    assert r.status_code == 302  # back to the page, with a message
    assert "Choose one of your activities." in page(shop, f"/console/campaigns/{cid}")


def test_the_forecast_page_sums_the_activities_in_yuan_and_refuses_bad_input(shop):
    cid = create(shop)
    lottery, bargain = live(shop, "lottery", "Lucky draw"), live(shop, "bargain", "Tea set")
    for activity_id in (lottery, bargain):
        shop.post(f"/console/campaigns/{cid}/activities", {"activity_id": activity_id})
    url = f"/console/campaigns/{cid}/forecast"
    html = page(shop, f"{url}?visitors_per_day=40&days=2&runs=3&seed=5")
    text = text_of(html)
    assert "3 runs." in text and "Lucky draw: Coupon" in text and "Tea set: " in text
    costs = re.findall(r"¥[\d,]+\.\d\d", html)
    assert costs, "the costs are shown in yuan"
    summary = shop.engine.campaign_forecast(shop.merchant, cid, {"visitors_per_day": 40,
                                                                 "days": 2}, runs=3, seed="5")
    assert f"{summary['participations']['p50']:,}" in text
    r = shop.get(f"{url}?visitors_per_day=many&runs=0")
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert html.count('aria-invalid="true"') == 2 and 'id="error-summary"' in html
    empty = create(shop, "Empty")
    r = shop.get(f"/console/campaigns/{empty}/forecast")
    assert r.status_code == 422 and "None of these activities can be forecast." in \
        r.get_data(as_text=True)


def test_an_operator_invites_and_a_member_sees_only_its_own_activities(shop):
    mall = another(shop, "mall@example.com", "Mall")
    shop.engine.set_operator(mall.merchant.id)
    cid = create(mall, "Mall week")
    r = mall.post(f"/console/campaigns/{cid}/invites")
    assert r.status_code == 302
    link = re.search(r'value="(http[^"]+/console/campaigns/join/([^"]+))"',
                     page(mall, f"/console/campaigns/{cid}"))
    assert link, "the operator sees the invitation link"
    code = link.group(2)
    assert "Mall week" in page(shop, f"/console/campaigns/join/{code}")
    r = shop.post(f"/console/campaigns/join/{code}")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/campaigns/{cid}")
    again = another(shop, "late@example.com", "Late Shop")
    r = again.post(f"/console/campaigns/join/{code}")
    assert r.status_code == 302  # used: back to the join page, which says so
    used = page(again, f"/console/campaigns/join/{code}")
    assert "This invitation has been used already." in used
    page(again, f"/console/campaigns/{cid}", 404)
    lottery = live(shop, "lottery", "Tea lottery")
    shop.post(f"/console/campaigns/{cid}/activities", {"activity_id": lottery})
    act(shop, lottery, "draw", "amy")
    owner = page(mall, f"/console/campaigns/{cid}")
    assert kpis(owner)[0] == "1"  # counted in the totals
    assert "Tea lottery" not in owner and lottery not in owner  # but never named or linked
    assert "Other merchants’ activities counted in the totals: 1." in text_of(owner)
    assert 'id="per-activity"' not in owner
    csv_text = page(mall, f"/console/campaigns/{cid}/stats.csv")
    assert "Tea lottery" not in csv_text and lottery not in csv_text
    forecast = page(mall, f"/console/campaigns/{cid}/forecast?visitors_per_day=20&days=1&runs=2")
    assert "Tea lottery" not in forecast and lottery not in forecast
    assert "Other merchants’ activities: 1, added into the figures" in text_of(forecast)
    m = re.search(r"Coupon|Thanks", forecast)
    assert not m, forecast[m.start() - 400:m.end() + 100]
    # (Enough visitors that no run of a random activity id draws none who take part.)
    summary = shop.engine.campaign_forecast(mall.merchant, cid, {"visitors_per_day": 200,
                                                                "days": 1}, runs=2)
    assert summary["participations"]["p50"] > 0 and summary["activities"] == []
    assert summary["other_merchants"] == {"activities": 1, "skipped": 0}
    assert summary["stock_out"] == {} and summary["awarded"] == {}
    assert shop.engine.campaign_stats(mall.merchant, cid)["per_activity"] == []
    assert shop.engine.get_campaign(mall.merchant, cid)["other_activities"] == 1
    for path in ("", "/dashboard", "/live"):
        page(mall, f"/console/activities/{lottery}{path}", 404)
    member = page(shop, f"/console/campaigns/{cid}")
    assert f"/console/activities/{lottery}/dashboard" in member and "Run by Mall" in member
    assert "Tea lottery" in member
    mine = page(shop, f"/console/campaigns/{cid}/forecast?visitors_per_day=20&days=1&runs=2")
    assert "Tea lottery" in mine and "Other merchants" not in mine
    assert "New invitation link" not in member
    assert shop.post(f"/console/campaigns/{cid}/invites").status_code == 403
    for path in ("", "/stats.csv", "/forecast"):
        page(again, f"/console/campaigns/{cid}{path}", 404)
    page(shop, "/console/campaigns/join/nope-nope-nope", 404)


# in Chromium --------------------------------------------------------------------------------

EMAIL, PASSWORD = "campaign@example.com", "campaign-browser-pass"
OPERATOR = ("operator@example.com", "operator-browser-pass")
MERCHANT_TEXT = ("双十一购物节", "双十一砍价", "幸运抽奖", "优惠券", "茶具", "茶馆", "商场",
                 "Asia/Shanghai")
MONEY = re.compile(r"¥-?\d{1,3}(,\d{3})*\.\d{2}(?!\d)")


@pytest.fixture(scope="module")
def festival(tmp_path_factory, catalog, browser) -> Any:
    """A real server: an operator's campaign that a tea house joined with two activities,
    acted on over two days."""
    db = tmp_path_factory.mktemp("campaigns") / "campaigns.db"
    clock = Clock(START)
    app = create_app({"CATALOG": catalog, "TESTING": True, "CLOCK": clock,
                      "SETTINGS": {"database_url": f"sqlite:///{db}"}})
    app.config["FORECAST_TIME_BUDGET"] = 5.0
    server = LiveServer(app)
    engine = server.engine
    tea, _key = engine.sign_up("茶馆", EMAIL, PASSWORD)
    mall, _key = engine.sign_up("商场", *OPERATOR)
    mall = engine.set_operator(mall.id)
    campaign = engine.create_campaign(mall, "双十一购物节", "Asia/Shanghai", **DAYS)
    engine.accept_campaign_invite(tea, engine.invite_to_campaign(mall, campaign["id"])["code"])
    ids = {}
    for template, title, config in (
            ("bargain", "双十一砍价", {**CONFIGS["bargain"], "product_name": "茶具"}),
            ("lottery", "幸运抽奖", {**CONFIGS["lottery"], "prizes": [
                {**CONFIGS["lottery"]["prizes"][0], "name": "优惠券"}]})):
        created = engine.create_activity(tea, template, config, title=title,
                                         timezone="Asia/Shanghai", ends_at=START + 5 * 86400)
        engine.publish(tea, created["id"])
        engine.add_campaign_activity(tea, campaign["id"], created["id"])
        ids[template] = created["id"]
    for hour, who in enumerate(("u1", "u2", "u3", "u4", "u5", "u6")):
        clock.now = START + hour * 5 * HOUR
        engine.act(ids["lottery"], "draw", Participant(who, who), None, None)
        started = engine.act(ids["bargain"], "start", Participant(who, who), None, None)
        engine.act(ids["bargain"], "help", Participant(f"f{who}", who), None,
                   started.result["room"])
    server.campaign = campaign["id"]
    server.invite = engine.invite_to_campaign(mall, campaign["id"])["code"]
    yield server
    server.close()


def signed_in_page(browser: Any, server: Any, lang: str, viewport: dict[str, int],
                   email: str = EMAIL, password: str = PASSWORD) -> Any:
    page = new_page(browser, lang, viewport)
    page.goto(f"{server.base}/console/login?lang={lang}")
    page.fill("#field-email", email)
    page.fill("#field-password", password)
    page.click("form.narrow-form button[type=submit]")
    page.wait_for_load_state()
    return page


def english_left(page: Any) -> list[str]:
    text = page.evaluate("""() => {
        const main = document.querySelector('main').cloneNode(true);
        main.querySelectorAll('code, svg, input, style, script').forEach(c => c.remove());
        return main.innerText; }""")
    for allowed in MERCHANT_TEXT + ("P10", "P50", "P90", "CSV", "UTC", "K"):
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
def test_campaign_pages_fit_and_speak_the_language(browser, festival, lang, size):
    viewport = PHONE if size == "phone" else DESKTOP
    page = signed_in_page(browser, festival, lang, viewport, *OPERATOR)
    try:
        page.goto(f"{festival.base}/console/campaigns?lang={lang}")
        text = check_page(page, viewport, lang, f"campaigns-{size}-{lang}")
        assert "双十一购物节" in text
        page.click("a:text('双十一购物节')")
        text = check_page(page, viewport, lang, f"campaign-{size}-{lang}")
        assert page.locator(".chart-box svg").count() == 4
        # the operator sees the tea house's activities in the totals, never by name
        assert "双十一砍价" not in text and "幸运抽奖" not in text
        assert page.locator("[data-kpi='0']").inner_text() == "18"  # 6 draws, 6 starts, 6 helps
        page.click("#campaign-forecast-link")
        page.fill("#field-runs", "4")
        page.fill("#field-days", "2")
        page.click("#forecast-form button[type=submit]")
        page.wait_for_load_state()
        text = check_page(page, viewport, lang, f"campaign-forecast-{size}-{lang}")
        assert "P50" in text and re.search(r"¥[\d,]+\.\d\d", text)
        assert "双十一砍价" not in text and "幸运抽奖" not in text and "茶具" not in text
    finally:
        page.context.close()
    page = signed_in_page(browser, festival, lang, viewport)
    try:
        page.goto(f"{festival.base}/console/campaigns/{festival.campaign}?lang={lang}")
        text = check_page(page, viewport, lang, f"campaign-member-{size}-{lang}")
        assert "双十一砍价" in text and "幸运抽奖" in text
        page.goto(f"{festival.base}/console/campaigns/join/{festival.invite}?lang={lang}")
        text = check_page(page, viewport, lang, f"campaign-join-{size}-{lang}")
        assert "双十一购物节" in text and "商场" in text
    finally:
        page.context.close()
