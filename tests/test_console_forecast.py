# ruff: noqa: F811  (fixtures imported from a shared module are named as arguments)
"""An activity's Forecast tab (Flask's test client, then Chromium at phone and desktop sizes):
defaults, recomputing, inline errors, merchant isolation, a lottery whose answer is known."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from activity_configs import CONFIGS, START
from browser import DESKTOP, PHONE, LiveServer, browser, new_page, scroll_width, shot  # noqa: F401
from test_console import Web, signed_in, text_of, web, web_app  # noqa: F401  (fixtures)

from magic_cube.app import create_app

# One draw per visitor and nothing else: the number of draws is the number of visitors.
ONE_DRAW = {"conversion_act": "100", "conversion_again": "0", "conversion_return": "0",
            "conversion_share": "0", "conversion_friend": "0"}


@pytest.fixture
def quick(web_app):
    """Forecasts of a few seconds at most in these tests."""
    web_app.config["FORECAST_TIME_BUDGET"] = 3.0
    return web_app


def url(activity_id: str) -> str:
    return f"/console/activities/{activity_id}/forecast"


def draft(web: Web, template: str = "lottery", config: dict[str, Any] | None = None,
          **settings: Any) -> str:
    activity = web.engine.create_activity(web.merchant, template, config or CONFIGS[template],
                                          **settings)
    return activity["id"]


def row(html: str, label: str) -> list[str]:
    """The P10, P50 and P90 cells of a row of the figures table."""
    found = re.search(r'<th scope="row">' + re.escape(label) + r"</th>(.*?)</tr>", html, re.S)
    assert found, label
    return re.findall(r'<td class="num">([^<]*)</td>', found.group(1))


def value_of(html: str, name: str) -> str:
    found = re.search(r'name="' + name + r'"[^>]*value="([^"]*)"', html)
    assert found, name
    return found.group(1)


def test_the_tab_shows_defaults_and_a_forecast_of_them(signed_in, quick):
    activity_id = draft(signed_in, starts_at=START + 86400, ends_at=START + 4 * 86400,
                        timezone="Asia/Shanghai")
    detail = signed_in.get(f"/console/activities/{activity_id}?lang=en").get_data(as_text=True)
    assert f'href="{url(activity_id)}"' in detail and ">Forecast<" in detail
    r = signed_in.get(url(activity_id) + "?lang=en")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert value_of(html, "days") == "3"  # the planned duration
    assert value_of(html, "visitors_per_day") == "200"
    assert value_of(html, "conversion_act") == "30"
    assert value_of(html, "cost_0") == ""  # the lottery's one prize, not costed yet
    assert 'name="conversion_buy"' not in html  # a lottery has no purchase step
    text = text_of(html)
    assert "From the start of the activity (2026-11-12 10:00, Beijing time)" in text
    assert re.search(r"(\d+ runs\.|\d+ of 30 runs were done within the time limit)", text)
    for label in ("Participations", "Unique participants", "First-time participants",
                  "Prize cost", "Money given away", "Completions"):
        assert len(row(html, label)) == 3, label
    assert all(c.startswith("¥") and c.endswith(tuple("0123456789")) and "." in c
               for c in row(html, "Prize cost"))
    assert "No cost given for Coupon: counted as 0" in text
    assert "Look at this before you launch" in text  # (a draft)
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart') == 2
    assert "Participations so far (P50)" in html and "Stock left: Coupon (P50)" in html


def test_a_post_recomputes_with_the_merchant_s_assumptions(signed_in, quick):
    config = {"prizes": [{"name": "Mug", "type": "physical", "stock": 3, "odds": 10000}],
              "draws_per_day": 1, "draws_total": 1}
    activity_id = draft(signed_in, config=config)
    form = {"visitors_per_day": "40", "days": "1", "friends": "0", "friend_delay_hours": "1",
            "new_share": "100", **ONE_DRAW, "cost_0": "12.50", "runs": "5", "seed": "7"}
    r = signed_in.post(url(activity_id) + "?lang=en", form)
    assert r.status_code == 200, text_of(r.get_data(as_text=True))[:1500]
    html = r.get_data(as_text=True)
    assert value_of(html, "cost_0") == "12.50" and value_of(html, "seed") == "7"
    # 40 draws, every one a win until the 3 mugs are gone: 3 mugs at ¥12.50.
    assert row(html, "Participations") == ["40", "40", "40"]
    assert row(html, "First-time participants") == ["40", "40", "40"]
    assert row(html, "Handed out: Mug") == ["3", "3", "3"]
    assert row(html, "Prize cost") == ["¥37.50"] * 3
    assert "5 runs." in text_of(html)
    assert "The Mug is gone within the first hour" in text_of(html) or \
        "The Mug runs out within" in text_of(html)
    # The same through a GET with the fields in the query: the same forecast.
    again = signed_in.get(url(activity_id) + "?lang=en&" + "&".join(
        f"{k}={v}" for k, v in form.items()))
    assert row(again.get_data(as_text=True), "Prize cost") == ["¥37.50"] * 3


def test_invalid_assumptions_are_inline_errors(signed_in, quick):
    activity_id = draft(signed_in)
    bad = {"visitors_per_day": "lots", "days": "0", "friends": "-1", "conversion_act": "150",
           "cost_0": "1.234", "runs": "5000", "seed": "x" * 65}
    r = signed_in.post(url(activity_id) + "?lang=en", bad)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    for name in ("visitors_per_day", "friends", "conversion_act", "cost_0", "runs", "seed"):
        assert re.search(r'id="field-' + name + r'"[^>]*aria-invalid="true"', html), name
    assert "Enter an amount in yuan, e.g. 12.50" in html
    assert "Enter a percentage from 0 to 100" in html
    assert 'id="forecast-title"' not in html  # no forecast from bad numbers
    assert value_of(html, "visitors_per_day") == "lots"  # what was typed stays
    # a negative count is a whole number too: the message says what is wanted
    r = signed_in.post(url(activity_id) + "?lang=en", {"visitors_per_day": "-5"})
    assert "Enter a whole number of 0 or more" in r.get_data(as_text=True)
    # Numbers of the right kind but out of bounds: the engine's words, inline too.
    r = signed_in.post(url(activity_id) + "?lang=en", {"days": "0", "runs": "2"})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert re.search(r'id="field-days"[^>]*aria-invalid="true"', html)
    assert "Must be at least 1" in html
    r = signed_in.post(url(activity_id) + "?lang=zh", {"visitors_per_day": "1000000"})
    assert r.status_code == 422
    assert "不能大于 100000" in r.get_data(as_text=True)


def test_another_merchant_s_activity_is_not_found(signed_in, web_app, engine):
    activity_id = draft(signed_in)
    other = Web(web_app.test_client(), engine)
    other.signup("rival@example.com", name="Rival")
    assert other.get(url(activity_id)).status_code == 404
    assert other.post(url(activity_id), {"runs": "1"}).status_code == 404
    assert signed_in.get(url("act_missing")).status_code == 404


def test_a_lottery_awards_about_its_odds_times_its_draws(signed_in, web_app):
    # 200 draws at 10 % from 30 mugs: Binomial(200, 0.1) mugs (the stock binds about once in
    # a hundred runs), median 20. Over 41 runs the sample median's standard error is about
    # 1.25 * sd / sqrt(runs); four of them is the allowed error.
    web_app.config["FORECAST_TIME_BUDGET"] = 60.0
    config = {"prizes": [{"name": "Mug", "type": "physical", "stock": 30, "odds": 1000}],
              "draws_per_day": 1, "draws_total": 1}
    activity_id = draft(signed_in, config=config)
    runs, draws, p = 41, 200, 0.1
    r = signed_in.post(url(activity_id) + "?lang=en", {
        "visitors_per_day": str(draws), "days": "1", **ONE_DRAW, "runs": str(runs),
        "seed": "odds"})
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert f"{runs} runs." in text_of(html)
    p50 = int(row(html, "Handed out: Mug")[1])
    error = 1.2533 * math.sqrt(draws * p * (1 - p)) / math.sqrt(runs)
    assert abs(p50 - draws * p) <= 4 * error + 1  # +1: the median of whole numbers


def test_a_live_activity_is_forecast_from_now_and_its_stock_left(signed_in, quick, clock):
    config = {"prizes": [{"name": "Mug", "type": "physical", "stock": 2, "odds": 10000}],
              "draws_per_day": 3, "draws_total": 3}
    engine = signed_in.engine
    live = draft(signed_in, config=config, ends_at=clock.now + 2 * 86400 + 3600)
    engine.publish(signed_in.merchant, live)
    for who in ("ann", "ben"):
        participant = engine.authenticate_participant(
            live, engine.participant_token(signed_in.merchant, who)[0])
        engine.act(live, "draw", participant)
    r = signed_in.get(url(live) + "?lang=en&runs=2&visitors_per_day=10")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert value_of(html, "days") == "3"  # 2 days and an hour left
    assert "The activity is under way" in text_of(html)
    assert "The Mug is already gone" in text_of(html)
    assert "Worth a look" in text_of(html) and "before you launch" not in html  # (it is live)
    assert "Handed out: Mug" not in html  # nothing left to hand out
    assert "Lasts the whole activity" not in html


def test_a_kind_without_a_behaviour_model_says_so(signed_in, quick, monkeypatch):
    activity_id = draft(signed_in)
    # (as for a template with no action a participant takes on their own, test_forecast_generic)
    monkeypatch.setattr("magic_cube.engine.forecasts.behaviour_for", lambda *args: None)
    for method in ("get", "post"):
        r = getattr(signed_in, method)(url(activity_id) + "?lang=en", data={"runs": "2"})
        assert r.status_code == 200
        text = text_of(r.get_data(as_text=True))
        assert "This activity cannot be forecast" in text
        assert 'id="forecast-form"' not in r.get_data(as_text=True)
    zh = signed_in.get(url(activity_id) + "?lang=zh").get_data(as_text=True)
    assert "此活动无法预测" in zh and "This activity cannot be forecast" not in zh


def test_the_page_speaks_chinese(signed_in, quick):
    activity_id = draft(signed_in)
    html = signed_in.get(url(activity_id) + "?lang=zh&runs=2&days=1").get_data(as_text=True)
    text = text_of(html)
    assert "预测" in text and "每天访客" in text
    assert "未填写Coupon的成本：按 0 计算" in text


# Chromium at phone and desktop sizes, both languages ----------------------------------------

ALLOWED_LATIN = {"magic", "cube", "English", "Asia", "Shanghai"}


@pytest.fixture(scope="module")
def server(tmp_path_factory, catalog, browser):
    db = tmp_path_factory.mktemp("forecast") / "forecast.db"
    app = create_app({"CATALOG": catalog, "TESTING": True,
                      "SETTINGS": {"database_url": f"sqlite:///{db}"}})
    app.config["FORECAST_TIME_BUDGET"] = 3.0
    running = LiveServer(app)
    merchant, _key = running.engine.sign_up("茶馆", "forecast@example.com", "forecast-pass-1")
    running.ids = {}  # type: ignore[attr-defined]
    for template, config in (
            ("lottery", {"prizes": [{"name": "茶杯", "type": "physical", "stock": 20,
                                     "odds": 2000},
                                    {"name": "优惠券", "type": "coupon", "stock": 500,
                                     "odds": 5000}],
                         "draws_per_day": 3, "draws_total": 10}),
            ("bargain", {"product_name": "茶具", "original_price": 10000, "floor_price": 1000,
                         "helpers_needed": 2, "cut_min": 1000, "cut_max": 8000, "stock": 5})):
        activity = running.engine.create_activity(merchant, template, config, title="双十一")
        running.ids[template] = activity["id"]  # type: ignore[attr-defined]
    yield running
    running.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_the_forecast_page_fits_and_speaks_the_language(browser, server, lang, size):
    from test_console_browser import VISIBLE_TEXT

    viewport = PHONE if size == "phone" else DESKTOP
    page = new_page(browser, lang, viewport)
    page.goto(f"{server.base}/console/login?lang={lang}")
    page.fill("#field-email", "forecast@example.com")
    page.fill("#field-password", "forecast-pass-1")
    page.click("form.narrow-form button[type=submit]")
    page.wait_for_url("**/console/activities")
    for template, activity_id in server.ids.items():
        page.goto(f"{server.base}/console/activities/{activity_id}")
        page.click(f"a[href='/console/activities/{activity_id}/forecast']")
        page.fill("#field-visitors_per_day", "300")
        page.fill("#field-days", "3")
        page.fill("#field-runs", "8")
        page.fill("#field-cost_0", "25.5")
        page.click("#forecast-form button[type=submit]")
        page.wait_for_selector("#forecast-title")
        assert page.input_value("#field-cost_0") == "25.5"
        assert scroll_width(page) <= viewport["width"], (template, scroll_width(page))
        figures = page.locator("table.figures").inner_text()
        assert "¥" in figures and re.search(r"¥[\d,]+\.\d\d", figures)
        # The page's own words (the header and its menu are checked by test_console_browser)
        text = page.evaluate(VISIBLE_TEXT.replace("document.body",
                                                  "document.querySelector('main')"))
        # Each table fits its box: no sideways scrolling inside the page either.
        assert page.evaluate("[...document.querySelectorAll('.table-scroll')].every("
                             "b => b.scrollWidth <= b.clientWidth)"), template
        if lang == "zh":
            words = set(re.findall(r"[A-Za-z][A-Za-z_.]{2,}", text)) - ALLOWED_LATIN
            assert not words, (template, sorted(words))
        shot(page, f"console-forecast-{template}-{lang}-{size}")
        page.fill("#field-visitors_per_day", "many")
        page.click("#forecast-form button[type=submit]")
        assert page.locator("#field-visitors_per_day[aria-invalid=true]").count() == 1
        assert scroll_width(page) <= viewport["width"]
    page.context.close()


def test_p10_means_the_same_in_the_intro_and_the_stock_note(signed_in, quick):
    # P10 is the value only 1 run in 10 falls below: fewer participants, an earlier run-out.
    # Neither text may call it a slow run in one place and a busy run in the other.
    activity_id = draft(signed_in)
    for lang, intro, note, wrong in (
            ("en", "only 1 run in 10 comes out below P10", "only 1 run in 10 runs out sooner",
             ("slow run", "busy run")),
            ("zh", "十次中只有一次低于 P10", "十次模拟中只有一次售罄得更早", ("冷清", "火爆"))):
        text = text_of(signed_in.get(url(activity_id) + f"?lang={lang}").get_data(as_text=True))
        assert intro in text and note in text, lang
        assert not any(w in text for w in wrong), lang
