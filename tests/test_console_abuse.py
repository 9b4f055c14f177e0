# ruff: noqa: F811  (fixtures imported from a shared module are named as arguments)
"""The console's review list and blocklist of an activity.

Flask's test client on a SQLite file: the flags of a scripted abuse and the flagged participants,
blocking from the review list and from the blocks page (and lifting it), a void that returns the
prizes and voids the codes, refusals worded for the merchant, another merchant's activity as 404.
Then Chromium at 390 and 1280 px in zh and en: no sideways scroll, no English on Chinese pages.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from activity_configs import Clock
from browser import DESKTOP, PHONE, LiveServer, browser, new_page, scroll_width, shot  # noqa: F401
from test_console import Web, text_of

from magic_cube import console
from magic_cube.app import create_app
from magic_cube.engine import Participant

LOTTERY = {"prizes": [{"name": "Mug", "type": "physical", "stock": 1000, "odds": 9000}],
           "draws_per_day": 100, "draws_total": 1000}
DEVICE = "farm-device-0001"


@pytest.fixture
def web(tmp_path, catalog) -> Any:
    clock = Clock()
    app = create_app({"CATALOG": catalog, "TESTING": True, "CLOCK": clock, "SETTINGS": {
        "database_url": f"sqlite:///{tmp_path / 'console.db'}", "rate_limit_enabled": False}})
    if "console" not in app.blueprints:
        console.init_app(app)
    web = Web(app.test_client(), app.extensions["magic_cube"])
    web.signup()
    web.clock = clock  # type: ignore[attr-defined]
    yield web
    app.extensions["magic_cube"].store.close()


def farm(engine: Any, merchant: Any, clock: Any = None) -> str:
    """A lottery where one inviter brings six fresh accounts on one device in six minutes."""
    created = engine.create_activity(merchant, "lottery", LOTTERY, title="Lucky draw")
    engine.publish(merchant, created["id"])
    aid = created["id"]
    code = engine.share(aid, Participant("boss"))["code"]
    for i in range(6):
        outcome = engine.act(aid, "draw", Participant(f"fake{i}", device=DEVICE), via=code)
        assert outcome.status == 200, outcome.body
        if clock is not None:
            clock.advance(60)
    for _ in range(3):
        engine.act(aid, "draw", Participant("honest"))
    return aid


def page(web: Web, url: str) -> str:
    r = web.get(url)
    assert r.status_code == 200, r.status_code
    return r.get_data(as_text=True)


def test_the_review_lists_the_flags_and_the_flagged_participants(web):
    aid = farm(web.engine, web.merchant, web.clock)
    text = text_of(page(web, f"/console/activities/{aid}/review?lang=en"))
    assert "Burst of new invitees" in text and "Many participants on one device" in text
    assert "6 first-time participants through their links within 60 minutes" in text
    assert DEVICE in text and "fake5" in text and "honest" not in text
    detail = text_of(page(web, f"/console/activities/{aid}?lang=en"))
    assert "Review (7 flagged)" in detail  # boss and the six


def test_blocking_from_the_review_list_and_lifting_it(web):
    aid = farm(web.engine, web.merchant)
    r = web.post(f"/console/activities/{aid}/blocks", {
        "kind": "participant", "value": "fake0", "outcome": "never_wins", "back": "review"})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/{aid}/review")
    assert "Never wins" in text_of(page(web, f"/console/activities/{aid}/review?lang=en"))
    outcome = web.engine.act(aid, "draw", Participant("fake0"))
    assert outcome.body["result"]["hit"] is False
    r = web.post(f"/console/activities/{aid}/blocks", {
        "kind": "device", "value": DEVICE, "outcome": "refused"})
    assert r.status_code == 302
    assert web.engine.act(aid, "draw", Participant("new", device=DEVICE)).status == 403
    html = page(web, f"/console/activities/{aid}/blocks?lang=zh")
    assert "拒绝：所有操作都被拒绝" in text_of(html) and DEVICE in html
    r = web.post(f"/console/activities/{aid}/blocks/remove", {"kind": "device", "value": DEVICE})
    assert r.status_code == 302
    assert web.engine.act(aid, "draw", Participant("new", device=DEVICE)).status == 200
    assert f"已解除封禁：{DEVICE}" in page(web, f"/console/activities/{aid}/blocks")  # zh kept
    assert DEVICE not in page(web, f"/console/activities/{aid}/blocks")  # the flash is shown once


def test_a_bad_block_is_explained_and_changes_nothing(web):
    aid = farm(web.engine, web.merchant)
    r = web.post(f"/console/activities/{aid}/blocks", {
        "kind": "device", "value": "bad id", "outcome": "refused"}, follow_redirects=True)
    assert "A device ID is 8 to 64 letters" in text_of(r.get_data(as_text=True))
    r = web.post(f"/console/activities/{aid}/blocks", {"kind": "x", "value": "y"},
                 follow_redirects=True)
    assert "Choose what to block and how." in text_of(r.get_data(as_text=True))
    for value in ("a\u0085b", "a\u007fb"):  # control characters no participant id holds
        r = web.post(f"/console/activities/{aid}/blocks", {
            "kind": "participant", "value": value, "outcome": "refused"}, follow_redirects=True)
        assert "Enter a participant ID or a device ID." in text_of(r.get_data(as_text=True))
    assert web.engine.blocks.list(web.merchant, aid) == []
    assert web.get("/console/activities/nope/review").status_code == 404


def test_a_void_from_the_review_list_returns_the_prizes_and_voids_the_codes(web):
    aid = farm(web.engine, web.merchant)
    won = [c for c in web.engine.redemptions(web.merchant, aid) if c["participant_id"] == "fake1"]
    asked = web.post(f"/console/activities/{aid}/voids", {"participant": "fake1"})
    assert asked.status_code == 200  # first it says what voiding does, and nothing changes
    assert "Void the results of fake1?" in text_of(asked.get_data(as_text=True))
    assert web.engine.blocks.list(web.merchant, aid) == []
    sure = {"participant": "fake1", "confirm": "yes"}
    r = web.post(f"/console/activities/{aid}/voids", sure, follow_redirects=True)
    text = text_of(r.get_data(as_text=True))
    assert f"Voided the results of fake1: {len(won)} codes voided" in text
    again = web.post(f"/console/activities/{aid}/voids", sure, follow_redirects=True)
    assert "Not voided: their results are void already" in text_of(again.get_data(as_text=True))
    if won:
        html = page(web, f"/console/redeem?code={won[0]['code']}&lang=en")
        assert "Voided" in text_of(html) and "Redeem now" not in html
        r = web.post("/console/redeem", {"code": won[0]["code"]})
        assert r.status_code == 409


# in a browser -----------------------------------------------------------------------------

EMAIL, PASSWORD = "guard@example.com", "guard-browser-pass"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory, catalog, browser) -> Any:
    db = tmp_path_factory.mktemp("abuse") / "abuse.db"
    app = create_app({"CATALOG": catalog, "TESTING": True, "SETTINGS": {
        "database_url": f"sqlite:///{db}", "rate_limit_enabled": False}})
    server = LiveServer(app)
    engine = server.engine
    merchant, _key = engine.sign_up("茶馆", EMAIL, PASSWORD)
    server.aid = farm(engine, merchant)
    engine.blocks.block(merchant, server.aid, "device", "x" * 40 + "-device", "never_wins")
    engine.blocks.void(merchant, server.aid, "fake2")
    yield server
    server.close()


def english_left(page: Any) -> list[str]:
    text = page.evaluate("""() => {
        const main = document.querySelector('main').cloneNode(true);
        main.querySelectorAll('code').forEach(c => c.remove());
        return main.innerText; }""")
    for allowed in ("Lucky draw", "ID"):
        text = text.replace(allowed, " ")
    return re.findall(r"[A-Za-z]{2,}", text)


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_review_and_blocks_fit_and_speak_the_language(browser, guarded, lang, size):
    viewport = PHONE if size == "phone" else DESKTOP
    page = new_page(browser, lang, viewport)
    try:
        page.goto(f"{guarded.base}/console/login?lang={lang}")
        page.fill("#field-email", EMAIL)
        page.fill("#field-password", PASSWORD)
        page.click("form.narrow-form button[type=submit]")
        page.wait_for_load_state()
        page.goto(f"{guarded.base}/console/activities/{guarded.aid}?lang={lang}")
        page.click(f"a[href='/console/activities/{guarded.aid}/review']")
        for name in ("review", "blocks"):
            if name == "blocks":
                page.click(f"main a[href='/console/activities/{guarded.aid}/blocks']")
            shot(page, f"console-{name}-{size}-{lang}")
            assert scroll_width(page) <= viewport["width"], f"{name} scrolls sideways"
            if lang == "zh":
                assert english_left(page) == [], name
            text = page.inner_text("main")
            assert ("已作废" if lang == "zh" else "Voided") in text
        assert page.locator(".abuse-block").count() == 2
    finally:
        page.context.close()
