# ruff: noqa: F811  (fixtures imported from a shared module are named as arguments)
"""The console as a merchant who is not an engineer meets it (Flask's test client): money in
yuan, human labels in both languages, fields that apply only sometimes, every error at once,
console error pages, live controls, fulfilment and the dashboard's range and funnel."""

from __future__ import annotations

import re
import threading

from console_values import FORM_VALUES
from test_console import (  # noqa: F401  (fixtures)
    config_values,
    read_form,
    signed_in,
    text_of,
    web,
    web_app,
    with_values,
)

from magic_cube.catalog.labels import label_warnings
from magic_cube.console import charts, dashboard
from magic_cube.engine import Participant


def post_form(web, template: str, values: dict[str, str], lang: str = "en", **settings: str):
    html = web.new_form(template)
    data = with_values(read_form(html).fields, {**config_values(values), **settings})
    return web.post(f"/console/activities/new/{template}?lang={lang}", data)


def test_money_labels_and_limits_are_in_yuan(signed_in):
    html = signed_in.get("/console/activities/new/bargain").get_data(as_text=True)
    assert "(cents)" not in html and "Original price (yuan)" in html
    zh = signed_in.get("/console/activities/new/bargain?lang=zh").get_data(as_text=True)
    assert "（分）" not in zh and "原价（元）" in zh
    r = post_form(signed_in, "gift", {"gift_name": "Red packet", "mode": "amount",
                                      "max_amount": "2000000"}, lang="en")
    page = text_of(r.get_data(as_text=True))
    assert r.status_code == 422
    assert "Must be at most ¥1,000,000.00" in page and "100000000" not in page


def test_fields_that_do_not_apply_are_hidden(signed_in):
    html = signed_in.get("/console/activities/new/gift").get_data(as_text=True)
    wrapper = re.search(r'<fieldset class="show-if" data-show-if="([^"]+)"([^>]*)>\s*'
                        r'<div class="field field--number[^"]*">\s*<label for="field-config-'
                        r'max_amount"', html)
    assert wrapper and "hidden" in wrapper.group(2)  # units by default: no amount fields
    assert "amount" in wrapper.group(1)
    group = signed_in.get("/console/activities/new/group_buy").get_data(as_text=True)
    percent = group[:group.index('for="field-config-virtual_min_percent"')]
    assert percent[percent.rindex("<fieldset"):].count("hidden") == 1  # off by default


def test_cross_field_errors_show_beside_field_errors(signed_in):
    r = post_form(signed_in, "group_buy", {**FORM_VALUES["group_buy"], "group_size": "1",
                                           "group_price": "399"})
    html = r.get_data(as_text=True)
    assert 'id="field-config-group_size-error"' in html
    assert 'id="field-config-group_price-error"' in html  # not below the original price


def test_a_draft_whose_end_has_passed_is_refused_on_its_field(signed_in):
    r = post_form(signed_in, "gift", FORM_VALUES["gift"], ends_at="2020-01-01T10:00")
    assert r.status_code == 422
    assert 'id="field-ends_at-error"' in r.get_data(as_text=True)


def test_preview_speaks_in_labels_money_and_choices(signed_in):
    web = signed_in
    lottery = web.create("lottery")
    html = text_of(web.get(f"/console/activities/{lottery}/preview").get_data(as_text=True))
    for raw in ("miss name", "odds scale", "draws per day", "prize names"):
        assert raw not in html
    assert "Draws per participant per day" in html
    group = web.create("group_buy")
    html = text_of(web.get(f"/console/activities/{group}/preview").get_data(as_text=True))
    assert "¥299.00" in html and "29900" not in html
    gift = web.create("gift")
    html = text_of(web.get(f"/console/activities/{gift}/preview?lang=zh").get_data(as_text=True))
    assert "按份数" in html and "units" not in html
    assert 'id="participant-preview"' in web.get(
        f"/console/activities/{gift}/preview").get_data(as_text=True)


def test_chinese_pages_name_choices_events_and_fields(signed_in, clock):
    web = signed_in
    form = web.get("/console/activities/new/lottery?lang=zh").get_data(as_text=True)
    web.new_form("lottery")
    activity_id = web.live("lottery")
    detail = text_of(web.get(f"/console/activities/{activity_id}?lang=zh")
                     .get_data(as_text=True))
    assert "extra_draws_max" not in detail and "未中奖文案" in detail
    web.engine.act(activity_id, "draw", Participant("u1", "Ann"))
    board = text_of(web.get(f"/console/activities/{activity_id}/dashboard?lang=zh")
                    .get_data(as_text=True))
    assert "prize.awarded" not in board and "Completions" not in board
    csv = web.get(f"/console/activities/{activity_id}/export/actions.csv").get_data(as_text=True)
    assert csv.splitlines()[0].startswith("\ufeff序号,时间")
    assert "优惠券" in form or "实物" in web.get(  # the prize type's choices, in Chinese
        "/console/activities/new/lottery?lang=zh").get_data(as_text=True)


def test_templates_validate_warns_about_missing_labels(catalog):
    doc = catalog.get("lottery").doc
    assert label_warnings(doc, "lottery") == []
    bare = {**doc, "events": {}}
    warnings = label_warnings(bare, "lottery")
    assert {w.code for w in warnings} == {"missing_label"}
    assert any("prize.awarded" in w.message for w in warnings)


def test_api_key_page_shows_the_bearer_placeholder(web):
    r = web.post("/console/signup", {"name": "Shop", "email": "k@example.com",
                                     "password": "correct horse"}, follow_redirects=True)
    assert "Bearer &lt;key&gt;" in r.get_data(as_text=True)


def test_signup_password_error_is_not_its_help(web):
    r = web.post("/console/signup", {"name": "Shop", "email": "p@example.com",
                                     "password": "short"})
    html = r.get_data(as_text=True)
    help_text = re.search(r'id="field-password-help">([^<]+)<', html).group(1)
    error = text_of(re.search(r'id="field-password-error">(.*?)</p>', html).group(1)).strip()
    assert error and help_text not in error


def test_console_errors_are_console_pages(signed_in):
    web = signed_in
    r = web.get("/console/nonexistent")
    assert r.status_code == 404 and r.mimetype == "text/html"
    activity_id = web.live("gift")
    r = web.get(f"/console/activities/{activity_id}/pause")
    assert r.status_code == 405 and r.mimetype == "text/html"
    assert "<h1>" in r.get_data(as_text=True)


def test_group_buy_shows_no_fair_draws_but_a_lottery_does(signed_in):
    web = signed_in
    group = web.live("group_buy")
    assert "Fair draws" not in web.get(f"/console/activities/{group}").get_data(as_text=True)
    lottery = web.live("lottery")
    assert "Fair draws" in web.get(f"/console/activities/{lottery}").get_data(as_text=True)


def test_lottery_form_totals_odds_marks_cells_and_warns_of_short_stock(signed_in):
    web = signed_in
    html = web.new_form("lottery")
    assert "data-total-of=\"config.prizes\"" in html
    r = post_form(web, "lottery", {**FORM_VALUES["lottery"], "prizes.0.odds": "10000"})
    assert r.status_code == 302  # 100 %: allowed
    page = web.get(r.headers["Location"]).get_data(as_text=True)
    assert "runs out after about 5 draws" in text_of(page)  # a stock of 5 at 100 %
    data = read_form(web.new_form("lottery")).fields
    data = with_values(data, config_values({**FORM_VALUES["lottery"],
                                            "prizes.0.odds": "9000"}))
    data.add("__add:config.prizes", "1")
    html = web.post("/console/activities/new/lottery", data).get_data(as_text=True)
    data = with_values(read_form(html).fields, config_values({
        "prizes.1.name": "Mug", "prizes.1.stock": "9", "prizes.1.odds": "2000"}))
    html = web.post("/console/activities/new/lottery", data).get_data(as_text=True)
    for i in (0, 1):  # the table-level error marks each odds cell
        cell = re.search(rf'<input[^>]*id="field-config-prizes-{i}-odds"[^>]*>', html).group(0)
        assert 'aria-invalid="true"' in cell
    assert "110.00%" in html  # the running total, without JavaScript


def test_publish_now_means_now_and_scheduled_can_start_now(signed_in, clock):
    web = signed_in
    later = "2026-12-24T10:00"
    draft = web.create("gift", starts_at=later)
    web.post(f"/console/activities/{draft}/publish", {"when": "now"})
    assert web.status(draft) == "live"
    draft = web.create("gift", starts_at=later)
    web.post(f"/console/activities/{draft}/publish", {"when": "schedule", "starts_at": later})
    assert web.status(draft) == "scheduled"
    assert "Start now" in web.get(f"/console/activities/{draft}").get_data(as_text=True)
    web.post(f"/console/activities/{draft}/start")
    assert web.status(draft) == "live"
    log, _ = web.engine.action_log(web.merchant, draft)
    assert [i["action"] for i in log] == ["$start"]


def test_live_controls_top_up_and_move_the_end(signed_in, clock):
    web = signed_in
    activity_id = web.live("group_buy")
    page = web.get(f"/console/activities/{activity_id}").get_data(as_text=True)
    assert "Live controls" in page and 'value="stock"' in page
    web.post(f"/console/activities/{activity_id}/stock", {"field": "stock", "add": "7"})
    assert web.engine.get_activity(web.merchant, activity_id)["config"]["stock"] == 17
    web.post(f"/console/activities/{activity_id}/ends_at", {"ends_at": "2027-01-01T10:00"})
    assert web.engine.get_activity(web.merchant, activity_id)["ends_at"] is not None
    log, _ = web.engine.action_log(web.merchant, activity_id)
    assert [i["action"] for i in log] == ["$stock", "$schedule"]
    from magic_cube.engine.replay import replay
    assert replay(web.engine, activity_id) == []
    board = web.get(f"/console/activities/{activity_id}/dashboard").get_data(as_text=True)
    assert "Stock topped up by the merchant" in board


def test_winners_page_redeem_once_and_warehouse_csv(signed_in):
    web = signed_in
    activity_id = web.live("lottery", **{})
    config = web.engine.get_activity(web.merchant, activity_id)["config"]
    assert config["prizes"][0]["odds"] == 5000
    codes: list = []
    for n in range(60):  # at 50 % odds, sixty losing draws in a row would be a 1e-18 event
        web.engine.act(activity_id, "draw", Participant(f"p{n}", f"P{n}"))
        codes = web.engine.redemptions(web.merchant, activity_id)
        if codes:
            break
    assert codes, "a prize at 50 % odds is won within sixty draws"
    page = web.get(f"/console/activities/{activity_id}/fulfilment").get_data(as_text=True)
    assert codes[0]["code"] in page and "Prize won" in text_of(page)
    code = codes[0]["code"]
    r = web.get(f"/console/redeem?code={code.lower()}")
    assert r.status_code == 200 and "Redeem now" in r.get_data(as_text=True)
    results: list[int] = []
    barrier = threading.Barrier(2)

    def redeem() -> None:
        client = web_client(web)
        barrier.wait()
        results.append(client.post("/console/redeem", {"code": code}).status_code)

    threads = [threading.Thread(target=redeem) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [302, 409]  # one redeemed (then the code's page), one refused


def test_a_reload_after_redeeming_shows_the_code_redeemed_not_an_error(signed_in):
    """Redeeming answers with a redirect to the code's page: reloading it reads the code again
    (redeemed, when) instead of posting again and saying it was already redeemed."""
    web = signed_in
    activity_id = web.live("bargain")
    room = web.engine.act(activity_id, "start", Participant("buyer", "Buyer")).room
    for i in range(3):
        web.engine.act(activity_id, "help", Participant(f"helper{i}"), room_id=room)
    web.engine.act(activity_id, "buy", Participant("buyer"), room_id=room)
    code = web.engine.redemptions(web.merchant, activity_id)[0]["code"]
    r = web.post("/console/redeem", {"code": code.lower()})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/console/redeem?code={code}")
    page = web.get(r.headers["Location"])
    text = text_of(page.get_data(as_text=True))
    assert page.status_code == 200 and "Redeemed. Hand over the item." in text
    assert "Redeemed 2026-" in text and "Redeem now" not in text
    again = web.get(r.headers["Location"])  # the reload
    assert again.status_code == 200 and "already redeemed" not in again.get_data(as_text=True)
    csv = web.get(f"/console/activities/{activity_id}/export/fulfilment.csv")
    assert code in csv.get_data(as_text=True)


def web_client(web):
    """Another browser tab of the same merchant (its own client, the same session)."""
    from test_console import Web
    with web.client.session_transaction() as session:
        merchant_id = session["merchant_id"]
    other = Web(web.client.application.test_client(), web.engine)
    with other.client.session_transaction() as session:
        session["merchant_id"] = merchant_id
    return other


def test_dashboard_range_and_funnel(signed_in, clock):
    web = signed_in
    activity_id = web.live("bargain")
    room = web.engine.act(activity_id, "start", Participant("a", "A")).body["room"]
    web.engine.act(activity_id, "help", Participant("b", "B"), room_id=room)
    html = web.get(f"/console/activities/{activity_id}/dashboard").get_data(as_text=True)
    funnel = re.findall(r'class="funnel-label">([^<]*)</span>.*?class="funnel-value">(\d+)<',
                        html, re.S)
    assert funnel == [("Started a bargain", "1"), ("Helped a friend", "1"), ("Bought", "0")]
    html = web.get(f"/console/activities/{activity_id}/dashboard?from=2020-01-01&to=2020-01-02"
                   ).get_data(as_text=True)
    assert re.findall(r'class="funnel-value">(\d+)<', html) == ["0", "0", "0"]


def test_chart_ticks_tell_small_values_apart_and_start_with_the_activity():
    assert charts.tick_decimals(charts.nice_ticks(0.1)) == 2
    svg = str(charts.line_chart("c", ["a", "b"], [0.0, 0.1], title="t", x_title="x",
                                y_title="y"))
    ticks = re.findall(r'class="tick"[^>]*>([^<]+)<', svg)
    assert "0.02" in ticks and "0.0" not in ticks
    began = 100 * 3600
    series = dashboard.hourly_series([{"hour": began, "participations": 1}], began + 60, True,
                                     began=began)
    assert series[0]["hour"] == began
