# ruff: noqa: F811  (fixtures imported from a shared module are named as arguments)
"""The console in a real browser: Debian's Chromium driven by Playwright against a real server
(werkzeug in a thread, on 127.0.0.1 and a free port) with the app on a SQLite file.

For each template: sign up, create the activity through the form (one invalid submission whose
inline errors are checked, then fixed), publish it, act as participants through the JSON API,
and see the dashboard change on reload. Then the lottery's prize table edited with JavaScript
(add, remove, reorder) and the language switch. Screenshots go to test-output/screenshots/.

Chromium is never downloaded: without /usr/bin/chromium (or Playwright) these tests are
skipped on a developer's machine and fail when CI=true.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
import requests
from browser import DESKTOP, PHONE, LiveServer, browser, new_page, scroll_width, shot  # noqa: F401
from console_values import FORM_VALUES as VALUES
from console_values import MISTAKES

from magic_cube.app import create_app

PASSWORD = "browser-pass-1"


class Server(LiveServer):
    """The app behind a real server, and a participant's mini-program acting through the API."""

    def merchant(self, email: str) -> Any:
        return self.engine.merchant_by_email(email)

    def act(self, email: str, activity_id: str, action: str, participant: str,
            room: str | None = None, params: dict[str, Any] | None = None) -> dict[str, Any]:
        token, _ = self.engine.participant_token(self.merchant(email), participant,
                                                 participant.title())
        body: dict[str, Any] = {}
        if room:
            body["room"] = room
        if params:
            body["params"] = params
        # Each participant on their own phone (a device helps a bargain once).
        headers = {"Authorization": f"Bearer {token}",
                   "Magic-Cube-Device": f"phone-of-{participant}"}
        r = requests.post(f"{self.base}/v1/activities/{activity_id}/actions/{action}", json=body,
                          headers=headers, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture(scope="module")
def server(tmp_path_factory, catalog, browser):
    db = tmp_path_factory.mktemp("browser") / "console.db"
    app = create_app({"CATALOG": catalog, "TESTING": True,
                      "SETTINGS": {"database_url": f"sqlite:///{db}"}})
    running = Server(app)
    yield running
    running.close()


@pytest.fixture
def page(browser):
    page = new_page(browser, "en", DESKTOP)
    yield page
    page.context.close()


def sign_up(page: Any, server: Server, email: str) -> None:
    page.goto(f"{server.base}/console/signup")
    page.fill("#field-name", "Shop " + email.split("@")[0])
    page.fill("#field-email", email)
    page.fill("#field-password", PASSWORD)
    page.click("form.narrow-form button[type=submit]")
    assert page.input_value("#api-key").startswith("mck_")
    # The key is in the page before its stylesheet may be: measured unstyled, the page once
    # came out 473 px wide on a loaded machine.
    page.wait_for_load_state("load")


def field(path: str) -> str:
    return "#field-config-" + path.replace(".", "-")


def fill_config(page: Any, values: dict[str, str]) -> None:
    for path, value in values.items():
        page.fill(field(path), value)


def tile(page: Any, label: str) -> str:
    return page.locator(".tile", has=page.locator(".tile-label", has_text=label)) \
        .first.locator(".tile-value").inner_text()


PARTICIPANTS = {
    # template -> what three shoppers do (the room opened by the first is used by the others)
    "lottery": [("draw", "alice", None), ("draw", "bob", None), ("draw", "carol", None)],
    "bargain": [("start", "alice", None), ("help", "bob", "room"), ("help", "carol", "room")],
    "group_buy": [("start", "alice", None), ("join", "bob", "room"), ("join", "carol", "room")],
    "gift": [("send", "alice", {"shares": 2}), ("claim", "bob", "room"),
             ("claim", "carol", "room")],
}


@pytest.mark.parametrize("template", sorted(VALUES))
def test_create_publish_and_watch_each_template(page, server, template):
    email = f"{template}@example.com"
    sign_up(page, server, email)
    page.click("#pick-template")
    page.click(f"a[href='/console/activities/new/{template}']")
    if template == "lottery":  # the form starts with the one prize row a lottery needs
        assert page.locator("tr[data-row]").count() == 1
    page.fill("#field-title", f"Browser {template}")
    bad_field, bad_value = MISTAKES[template]
    fill_config(page, {**VALUES[template], bad_field: bad_value})
    page.click("button[name=_save]")

    # Inline errors: the field is marked and described, the summary on top links to it.
    page.wait_for_selector("#error-summary")
    target = page.locator(field(bad_field))
    assert target.get_attribute("aria-invalid") == "true"
    error_id = field(bad_field)[1:] + "-error"
    assert error_id in (target.get_attribute("aria-describedby") or "").split()
    assert page.locator(f"#{error_id}").is_visible()
    assert page.locator(f"#error-summary a[href='{field(bad_field)}']").count() == 1
    assert page.input_value("#field-title") == f"Browser {template}"
    shot(page, f"{template}-form-errors")

    fill_config(page, {bad_field: VALUES[template][bad_field]})
    page.click("button[name=_save]")
    page.wait_for_url("**/preview")
    if template == "lottery":
        assert page.locator(".odds-table").is_visible()
        shot(page, "lottery-preview")
    page.click("button:has-text('Publish now')")
    page.wait_for_selector(".badge--live")
    activity_id = page.url.rstrip("/").split("/")[-1]

    page.goto(f"{server.base}/console/activities/{activity_id}/dashboard")
    assert tile(page, "Participations") == "0"
    room = None
    for action, who, extra in PARTICIPANTS[template]:
        params = extra if isinstance(extra, dict) else None
        answer = server.act(email, activity_id, action, who,
                            room=room if extra == "room" else None, params=params)
        room = room or answer.get("room")
    page.reload()
    assert tile(page, "Participations") == "3"
    assert tile(page, "Unique participants") == "3"
    assert tile(page, "First-time participants") == "3"
    assert page.locator("table.recent tbody tr").count() == 3
    assert page.locator("svg.chart").count() == 4
    shot(page, f"{template}-dashboard")


def test_lottery_prize_table_add_remove_reorder_with_javascript(page, server):
    email = "prizes@example.com"
    sign_up(page, server, email)
    page.goto(f"{server.base}/console/activities/new/lottery")
    page.evaluate("window.__stayed = true")  # gone if a button reloaded the page
    assert page.locator("tr[data-row]").count() == 1  # the one prize a lottery needs
    for _ in range(2):
        page.click("button.array-add")  # forms.js adds the row in place
    assert page.locator("tr[data-row]").count() == 3
    for i, (name, odds) in enumerate([("A", "100"), ("B", "200"), ("C", "300")]):
        fill_config(page, {f"prizes.{i}.name": name, f"prizes.{i}.stock": "10",
                           f"prizes.{i}.odds": odds})
    page.locator("tr[data-row]").nth(2).locator("button.row-up").click()  # C above B
    page.locator("tr[data-row]").nth(0).locator("button.row-remove").click()  # drop A
    assert page.evaluate("window.__stayed") is True
    names = [page.input_value(field(f"prizes.{i}.name")) for i in range(2)]
    assert names == ["C", "B"]
    shot(page, "lottery-prize-table")
    page.click("button[name=_save]")
    page.wait_for_url("**/preview")
    rows = page.locator(".odds-table tbody tr th").all_inner_texts()
    assert [r.strip() for r in rows[:2]] == ["C", "B"]
    activity_id = page.url.split("/")[-2]
    activity = server.engine.get_activity(server.merchant(email), activity_id)
    assert [(p["name"], p["odds"]) for p in activity["config"]["prizes"]] == \
        [("C", 300), ("B", 200)]


def test_language_switch(page, server):
    page.goto(f"{server.base}/console/login")
    assert page.locator("h1").inner_text() == "Log in"
    page.click(".lang-switch a[hreflang=zh]")
    assert page.locator("h1").inner_text() == "登录"
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    page.click("text=注册")
    assert page.locator("h1").inner_text() == "创建商家账号"
    sign_up(page, server, "zh@example.com")
    page.click("#pick-template")
    assert "抽奖" in page.locator(".cards").inner_text()
    page.click("a[href='/console/activities/new/lottery']")
    assert "奖品" in page.locator(".mc-form").inner_text()
    shot(page, "language-zh")
    page.click(".lang-switch a[hreflang=en]")
    assert page.locator("h1").inner_text() == "New Lottery"


# every page, both languages, phone and desktop ------------------------------------------------

# Words a Chinese page may still show: names of things, units and the language switch.
ALLOWED_LATIN = {"magic", "cube", "English", "CSV", "API", "ID", "URL",
                 "SHA", "Webhook", "webhook", "Bearer", "Authorization", "https", "http", "docs",
                 "UTC", "POST", "Alice", "Bob"}  # the last two: shoppers' own names
VISIBLE_TEXT = """() => {
  const out = [];
  const walk = (node) => {
    if (node.nodeType === 3) { out.push(node.textContent); return; }
    if (node.nodeType !== 1) return;
    const el = node;
    if (['CODE', 'SCRIPT', 'STYLE', 'TEMPLATE', 'OPTION'].includes(el.tagName)) return;
    if (el.closest('[lang="en"]') || el.hidden) return;
    const style = getComputedStyle(el);
    if (style.display === 'none' || style.visibility === 'hidden') return;
    el.childNodes.forEach(walk);
  };
  walk(document.body);
  return out.join(' ');
}"""


@pytest.fixture(scope="module")
def shop(server):
    """A merchant with one live activity of each template (names in Chinese, as a Chinese
    merchant types them), some participation, and a draft."""
    engine = server.engine
    merchant, _key = engine.sign_up("茶馆", "sweep@example.com", PASSWORD)
    configs = {
        "lottery": {"prizes": [{"name": "茶杯", "type": "physical", "stock": 10, "odds": 5000}],
                    "draws_per_day": 3, "draws_total": 10},
        "bargain": {"product_name": "茶具", "original_price": 10000, "floor_price": 1000,
                    "helpers_needed": 2, "cut_min": 1000, "cut_max": 8000, "stock": 5},
        "group_buy": {"product_name": "电饭煲", "original_price": 29900, "group_price": 19900,
                      "group_size": 2, "stock": 10},
        "gift": {"gift_name": "咖啡", "mode": "amount", "max_amount": 5000},
    }
    ids = {}
    for template, config in configs.items():
        activity = engine.create_activity(merchant, template, config,
                                          title=f"双十一{TITLES[template]}")
        engine.publish(merchant, activity["id"])
        ids[template] = activity["id"]
    server.act("sweep@example.com", ids["lottery"], "draw", "alice")
    room = server.act("sweep@example.com", ids["group_buy"], "start", "alice")["room"]
    server.act("sweep@example.com", ids["group_buy"], "join", "bob", room=room)
    ids["draft"] = engine.create_activity(merchant, "bargain", configs["bargain"],
                                          title="草稿活动")["id"]
    return ids


TITLES = {"lottery": "抽奖", "bargain": "砍价", "group_buy": "拼团", "gift": "送礼"}


def pages_of(ids: dict[str, str]) -> list[tuple[str, str]]:
    lottery = ids["lottery"]
    out = [("list", "/console/activities"), ("templates", "/console/activities/new"),
           ("settings", "/console/settings"), ("redeem", "/console/redeem"),
           ("welcome", "/console/welcome"), ("campaigns", "/console/campaigns"),
           ("calendar", "/console/calendar")]
    for template in ("lottery", "bargain", "group_buy", "gift", "collect_cards",
                     "checkin_pool"):
        out.append((f"new-{template}", f"/console/activities/new/{template}"))
    for name, activity_id in (("lottery", lottery), ("group", ids["group_buy"])):
        base = f"/console/activities/{activity_id}"
        out += [(f"{name}-detail", base), (f"{name}-preview", f"{base}/preview"),
                (f"{name}-dashboard", f"{base}/dashboard"), (f"{name}-events", f"{base}/events"),
                (f"{name}-winners", f"{base}/fulfilment"), (f"{name}-edit", f"{base}/edit"),
                (f"{name}-end", f"{base}/end")]
    out.append(("draft-preview", f"/console/activities/{ids['draft']}/preview"))
    out.append(("draft-archive", f"/console/activities/{ids['draft']}/archive"))
    out.append(("group-live", f"/console/activities/{ids['group_buy']}/live"))
    out.append(("lottery-forecast", f"/console/activities/{lottery}/forecast"))
    return out


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_every_console_page_fits_and_speaks_the_language(browser, server, shop, lang, size):
    viewport = PHONE if size == "phone" else DESKTOP
    page = new_page(browser, lang, viewport)
    page.goto(f"{server.base}/console/login?lang={lang}")
    page.fill("#field-email", "sweep@example.com")
    page.fill("#field-password", PASSWORD)
    page.click("form.narrow-form button[type=submit]")
    page.wait_for_url("**/console/activities")
    problems = []
    for name, path in pages_of(shop):
        page.goto(f"{server.base}{path}")
        width = scroll_width(page)
        if width > viewport["width"]:
            problems.append(f"{name}: {width} px wide at {viewport['width']} px")
        text = page.evaluate(VISIBLE_TEXT)
        assert "(cents)" not in text and "（分）" not in text, name
        if lang == "zh":
            words = set(re.findall(r"[A-Za-z][A-Za-z_.]{2,}", text)) - ALLOWED_LATIN
            if words:
                problems.append(f"{name}: English left: {sorted(words)[:8]}")
            marks = re.findall(r"[\u4e00-\u9fff] ?[:,(]", text)  # half-width after Chinese
            if marks:
                problems.append(f"{name}: English punctuation: {marks[:5]}")
        shot(page, f"console-{name}-{lang}-{size}")
    page.context.close()
    assert not problems, "\n".join(problems)


def test_read_only_cells_of_a_live_edit_look_read_only(browser, server, shop):
    page = new_page(browser, "en", DESKTOP)
    page.goto(f"{server.base}/console/login")
    page.fill("#field-email", "sweep@example.com")
    page.fill("#field-password", PASSWORD)
    page.click("form.narrow-form button[type=submit]")
    page.goto(f"{server.base}/console/activities/{shop['lottery']}/edit")
    cell = page.locator("#field-config-prizes-0-stock")
    assert cell.get_attribute("readonly") is not None
    style = cell.evaluate("el => [getComputedStyle(el).backgroundColor, "
                          "getComputedStyle(el).borderTopStyle]")
    assert style == ["rgb(236, 238, 242)", "dashed"]
    editable = page.locator("#field-config-miss_name")
    assert editable.evaluate("el => getComputedStyle(el).borderTopStyle") == "solid"
    page.context.close()


# a phone's layout -----------------------------------------------------------------------------

# How many lines the text of each element matching a selector takes (the most of any).
MOST_LINES = """(selector) => Math.max(0, ...[...document.querySelectorAll(selector)].map((el) => {
  const range = document.createRange();
  range.selectNodeContents(el);
  return new Set([...range.getClientRects()].filter((r) => r.width > 0)
                 .map((r) => Math.round(r.top))).size;
}))"""
# The right edge of the furthest element matching a selector.
RIGHTMOST = """(selector) => Math.max(0, ...[...document.querySelectorAll(selector)]
  .map((el) => el.getBoundingClientRect().right))"""
# The smallest height and width of the elements matching a selector.
SMALLEST = """(selector) => [...document.querySelectorAll(selector)].map((el) => {
  const box = el.getBoundingClientRect();
  return [box.height, box.width];
}).reduce((a, b) => [Math.min(a[0], b[0]), Math.min(a[1], b[1])], [1e9, 1e9])"""
# Tables that scroll sideways inside their box without a shadow that says so.
SILENT_SCROLLS = """() => [...document.querySelectorAll('.table-scroll')]
  .filter((box) => box.scrollWidth > box.clientWidth + 1
          && !getComputedStyle(box).backgroundImage.includes('gradient')).length"""


# The whole pixels between an element and the next one under it.
GAP_AFTER = """(selector) => {
  const el = document.querySelector(selector);
  return Math.round(el.nextElementSibling.getBoundingClientRect().top
                    - el.getBoundingClientRect().bottom);
}"""


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_phone_keeps_words_whole_tables_in_reach_and_links_big(browser, server, shop, lang):
    engine = server.engine
    merchant = engine.merchant_by_email("sweep@example.com")
    campaigns = engine.list_campaigns(merchant)
    if campaigns:
        campaign_id = campaigns[0]["id"]
    else:
        today = date.today()
        campaign_id = engine.create_campaign(
            merchant, "双十一购物节", "Asia/Shanghai", (today - timedelta(days=1)).isoformat(),
            (today + timedelta(days=10)).isoformat())["id"]
        for template in ("lottery", "group_buy", "bargain", "gift"):
            engine.add_campaign_activity(merchant, campaign_id, shop[template])
    page = new_page(browser, lang, PHONE)
    page.goto(f"{server.base}/console/login?lang={lang}")
    page.fill("#field-email", "sweep@example.com")
    page.fill("#field-password", PASSWORD)
    page.click("form.narrow-form button[type=submit]")
    page.wait_for_url("**/console/activities")
    group = f"/console/activities/{shop['group_buy']}"
    for name, path in (("list", "/console/activities"), ("events", f"{group}/events"),
                       ("campaign", f"/console/campaigns/{campaign_id}"),
                       ("detail", group), ("dashboard", f"{group}/dashboard"),
                       ("settings", "/console/settings"), ("redeem", "/console/redeem")):
        page.goto(f"{server.base}{path}")
        assert scroll_width(page) <= PHONE["width"], name
        assert page.evaluate(SILENT_SCROLLS) == 0, name
        height, width = page.evaluate(SMALLEST, ".main-nav a")
        assert height >= 44 and width >= 44, (name, height, width)
        shot(page, f"console-phone-{name}-{lang}")
        if name in ("list", "events"):  # the filters stand apart from the list they filter
            assert page.evaluate(GAP_AFTER, "form.filters") >= 12, name
        if name == "list":
            # a status badge and a template's name are never a character per line
            assert page.evaluate(MOST_LINES, ".activity-list .badge") == 1
            assert page.evaluate(MOST_LINES, ".activity-list td:nth-child(2)") == 1
        elif name == "events":
            assert page.locator("code.event-type").count() > 0
            assert page.evaluate(MOST_LINES, "code.event-type") == 1
            assert page.evaluate(MOST_LINES, ".events .badge") == 1
        elif name == "campaign":
            # every figure and every Remove button is on the screen, not past its edge
            assert page.locator("#per-activity button").count() == 4
            assert page.evaluate(RIGHTMOST, "#per-activity td, #per-activity button") \
                <= PHONE["width"]
        elif name == "detail":
            assert page.evaluate(RIGHTMOST, ".stock-table input, .stock-table button") \
                <= PHONE["width"]
            # the end-time form and the stock under it are apart, not touching
            gap = page.evaluate("""() => {
              const form = document.querySelector('.live-controls > form').getBoundingClientRect();
              const table = document.querySelector('.live-controls .table-scroll');
              return table.getBoundingClientRect().top - form.bottom; }""")
            assert gap >= 12, gap
        elif name == "dashboard":
            height, _width = page.evaluate(SMALLEST, "main details > summary")
            assert height >= 44  # "The same numbers as a table" is tapped with a finger
            # a time's date stays whole on one line
            assert page.evaluate(MOST_LINES, ".table.recent .recent-date") == 1
    redeem = page.locator(".main-nav a[href='/console/redeem']").bounding_box()
    assert redeem is not None and redeem["height"] >= 44
    page.context.close()


def test_a_console_page_asks_for_no_missing_icon(browser, server):
    page = new_page(browser, "en", DESKTOP)
    with page.expect_response(lambda r: "favicon" in r.url) as icon:
        page.goto(f"{server.base}/console/login")
    assert icon.value.url == f"{server.base}/console/static/favicon.svg"
    assert icon.value.status == 200
    page.context.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_phone_signs_up_and_fills_a_prize_table_without_scrolling_sideways(browser, server,
                                                                           lang):
    """The first pages a merchant sees on a phone: the new API key fits the screen, and a
    lottery's prize rows are cards whose every field (labelled) and button is on the screen."""
    page = new_page(browser, lang, PHONE)
    page.goto(f"{server.base}/console/signup?lang={lang}")
    sign_up(page, server, f"phone-{lang}@example.com")
    assert scroll_width(page) <= PHONE["width"]
    assert page.evaluate(RIGHTMOST, "#api-key") <= PHONE["width"]
    shot(page, f"console-phone-api-key-{lang}")

    page.goto(f"{server.base}/console/activities/new/collect_cards")  # five card rows
    assert scroll_width(page) <= PHONE["width"]
    assert page.evaluate(RIGHTMOST, "tr[data-row] input, tr[data-row] button") <= PHONE["width"]
    page.goto(f"{server.base}/console/activities/new/lottery")
    page.click("button.array-add")  # forms.js adds a second prize, laid out as a card too
    assert page.locator("tr[data-row]").count() == 2
    assert scroll_width(page) <= PHONE["width"]
    assert page.evaluate(RIGHTMOST, "tr[data-row] input, tr[data-row] select, "
                                    "tr[data-row] button") <= PHONE["width"]
    odds = page.locator("label[for='field-config-prizes-1-odds']")
    assert odds.is_visible() and odds.bounding_box()["width"] > 20  # its own label shows
    heights = page.evaluate("""() => [...document.querySelectorAll(
        'tr[data-row] button, button.array-add')].map((b) => b.getBoundingClientRect().height)
        .filter((h) => h > 0)""")  # a first row has no "Move up": hidden, not small
    assert heights and min(heights) >= 44
    # the column's help ("100 is 1%") is still on the screen, above the rows
    help_text = page.locator("thead th .help").first
    assert help_text.is_visible()
    # an empty save: the error sits under the field, which is on the screen
    page.click("button[name=_save]")
    page.wait_for_selector("#error-summary")
    box = page.locator("#field-config-prizes-0-odds").bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE["width"]
    assert page.locator("#field-config-prizes-0-odds-error").is_visible()
    shot(page, f"console-phone-prize-cards-{lang}")
    page.context.close()


def test_the_previews_facts_stay_inside_their_card_on_a_desktop(browser, server):
    """A long label (a bargain's "Allow buying at the current price before the floor") wraps
    rather than pushing the values out of the preview's card."""
    engine = server.engine
    merchant, _key = engine.sign_up("Facts", "facts@example.com", PASSWORD)
    activity = engine.create_activity(merchant, "bargain", {
        "product_name": "Teapot", "original_price": 19900, "floor_price": 9900,
        "helpers_needed": 5, "cut_min": 500, "cut_max": 4000, "stock": 100})
    page = new_page(browser, "en", DESKTOP)
    page.goto(f"{server.base}/console/login")
    page.fill("#field-email", "facts@example.com")
    page.fill("#field-password", PASSWORD)
    page.click("form.narrow-form button[type=submit]")
    page.goto(f"{server.base}/console/activities/{activity['id']}/preview")
    outside = page.evaluate("""() => {
      const card = document.querySelector('.phone').getBoundingClientRect();
      return [...document.querySelectorAll('.phone dt, .phone dd')]
        .filter((el) => el.getBoundingClientRect().right > card.right + 1)
        .map((el) => el.innerText);
    }""")
    assert outside == []
    assert "Teapot" in page.locator(".phone dl.facts").inner_text()
    page.context.close()


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_the_share_pages_qr_code_is_whole(browser, server, shop, size):
    """The QR code on the share page is drawn whole at the size the page gives it: its corner
    squares and quiet zone are not cut off, or a phone's camera cannot read it."""
    page = new_page(browser, "zh", PHONE if size == "phone" else DESKTOP)
    page.goto(f"{server.base}/console/login?lang=zh")
    page.fill("#field-email", "sweep@example.com")
    page.fill("#field-password", PASSWORD)
    page.click("form.narrow-form button[type=submit]")
    page.wait_for_url("**/console/activities")
    page.goto(f"{server.base}/console/activities/{shop['bargain']}/share")
    box, drawn = page.evaluate("""() => {
      const svg = document.querySelector('.share-qr svg');
      const r = (el) => { const b = el.getBoundingClientRect();
                          return [b.left, b.top, b.right, b.bottom]; };
      return [r(svg), r(svg.querySelector('path'))];
    }""")
    assert box[2] - box[0] >= 150 and abs((box[2] - box[0]) - (box[3] - box[1])) < 1, box
    assert drawn[0] >= box[0] and drawn[1] >= box[1], (box, drawn)
    assert drawn[2] <= box[2] and drawn[3] <= box[3], (box, drawn)
    shot(page, f"console-share-{size}")
    page.context.close()


# Text whose contrast with what is behind it is under WCAG AA (4.5:1; 3:1 for large text).
LOW_CONTRAST = r"""() => {
  const rgb = (s) => (s.match(/[\d.]+/g) || []).map(Number);
  const lum = (c) => {
    const [r, g, b] = c.slice(0, 3).map((v) => {
      v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const behind = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || c[3] > 0.5) return c;
    }
    return [255, 255, 255];
  };
  const out = [];
  const walk = document.createTreeWalker(document.querySelector('main'), NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || el.closest('.visually-hidden, svg, iframe')) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || !el.getBoundingClientRect().width) continue;
    const a = lum(rgb(style.color)), b = lum(behind(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight, 10) >= 700;
    const large = size >= 24 || (size >= 18.66 && bold);
    if (ratio < (large ? 3 : 4.5)) out.push(`${ratio.toFixed(2)} ${n.textContent.trim()}`);
  }
  return out;
}"""


def test_console_text_and_links_meet_wcag_aa_contrast(browser, server, shop):
    page = new_page(browser, "en", DESKTOP)
    page.goto(f"{server.base}/console/login")
    page.fill("#field-email", "sweep@example.com")
    page.fill("#field-password", PASSWORD)
    page.click("form.narrow-form button[type=submit]")
    lottery = f"/console/activities/{shop['lottery']}"
    for path in ("/console/activities", lottery, f"{lottery}/dashboard", f"{lottery}/preview",
                 "/console/settings", "/console/calendar"):
        page.goto(f"{server.base}{path}")
        assert page.evaluate(LOW_CONTRAST) == [], path
    page.context.close()
