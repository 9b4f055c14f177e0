"""The shopper pages in a real browser at 390×844: several browser contexts are several friends
on their own phones, passing share links to each other, in both languages. The pages keep
themselves current (ETag + wait polls) without reloading, and every action goes through the
JavaScript client with an Idempotency-Key — retried, with one effect, when the network drops
the answer."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from activity_configs import CONFIGS
from browser import DESKTOP, PHONE, LiveServer, browser, new_page, scroll_width, shot  # noqa: F401
from playwright.sync_api import expect

from magic_cube.app import create_app
from magic_cube.catalog import Catalog

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: Any, browser: Any) -> Any:  # noqa: F811
    """A server whose catalog also holds `spin`: the lottery without its page partial."""
    base = tmp_path_factory.mktemp("shopper")
    folder = base / "templates" / "spin"
    shutil.copytree(ROOT / "activity_templates" / "lottery", folder)
    (folder / "page.html").unlink()
    doc = json.loads((folder / "template.json").read_text(encoding="utf-8"))
    doc.update(id="spin", title={"zh": "转盘", "en": "Spin"})
    doc["$schema"] = str(ROOT / "schemas" / "template.schema.json")
    (folder / "template.json").write_text(json.dumps(doc), encoding="utf-8")
    catalog = Catalog.discover([ROOT / "activity_templates", base / "templates"],
                               entry_points=False)
    app = create_app({"CATALOG": catalog, "TESTING": True,
                      "SETTINGS": {"database_url": f"sqlite:///{base / 'shop.db'}",
                                   "long_poll_interval": 0.2}})
    running = LiveServer(app)
    running.merchant, _ = running.engine.create_merchant("Tea House")
    yield running
    running.close()


def live(server: Any, template: str, config: dict[str, Any] | None = None,
         guests: bool = False) -> str:
    engine = server.engine
    activity = engine.create_activity(server.merchant, template, config or CONFIGS[template],
                                      title=f"{template} test", guests=guests)
    engine.publish(server.merchant, activity["id"])
    return str(activity["id"])


def friend(browser: Any, server: Any, name: str, lang: str = "en") -> Any:  # noqa: F811
    """A friend's phone: a fresh context whose pages carry the friend's token."""
    page = new_page(browser, lang, PHONE)
    page.mc_token = server.engine.participant_token(server.merchant, name, name.title())[0]
    return page


def ready(page: Any) -> None:
    """Wait until the page shows the shopper's own state."""
    page.wait_for_selector("html[data-mc-ready='1']", state="attached")


def visit(page: Any, url: str) -> None:
    page.goto(f"{url}#token={page.mc_token}")
    ready(page)


def click_action(page: Any, action: str) -> str:
    """Click an action's button (or submit its form) and return the toast the page shows once
    it is answered. The last toast is put away first: a tap while an action is under way does
    nothing, so the next click must wait for this answer, not for a toast still showing from
    the one before."""
    page.locator("#mc-toast").evaluate("toast => { toast.hidden = true; }")
    page.locator(f"#mc-play button[data-action='{action}'], "
                 f"#mc-play form[data-action='{action}'] [type=submit]").first.click()
    toast = page.locator("#mc-toast:not([hidden])")
    toast.wait_for()
    page.wait_for_selector("#mc-play [aria-busy]", state="detached")
    return str(toast.inner_text())


def open_room(page: Any, action: str) -> None:
    """Click an action that opens a room (start, send): the page moves to the room's page."""
    page.locator(f"#mc-play button[data-action='{action}'], "
                 f"#mc-play form[data-action='{action}'] button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/s/\w+/r/\w+"))
    ready(page)


def take_share_link(page: Any) -> str:
    page.evaluate("navigator.share = undefined")  # the dialog, not the system sheet
    page.locator("#mc-play [data-share]").first.click()
    field = page.locator(".mc-share-url")
    field.wait_for()
    url = str(field.input_value())
    page.keyboard.press("Escape")
    return url


def sharing(server: Any, activity_id: str) -> dict[str, Any]:
    return dict(server.engine.stats(server.merchant, activity_id)["sharing"])


def no_sideways_scroll(page: Any) -> None:
    assert scroll_width(page) <= page.viewport_size["width"], "the page scrolls sideways"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_friends_cut_a_bargain_from_a_share_link(browser, server, lang):  # noqa: F811
    config = {**CONFIGS["bargain"], "helpers_needed": 2, "cut_min": 1000, "cut_max": 8000}
    aid = live(server, "bargain", config)
    amy = friend(browser, server, f"amy-{lang}", lang)
    visit(amy, f"{server.base}/s/{aid}")
    no_sideways_scroll(amy)
    open_room(amy, "start")
    link = take_share_link(amy)
    assert re.search(r"/j/[A-Za-z0-9]{1,32}$", link)
    price = amy.locator(".mc-big").inner_text()
    assert price == "¥100.00"

    for name in ("ben", "cat"):
        helper = friend(browser, server, f"{name}-{lang}", lang)
        visit(helper, link)  # /j/CODE leads to the room's page, carrying the code
        assert f"/s/{aid}/r/" in helper.url and "via=" not in helper.url
        said = click_action(helper, "help")
        assert re.search(r"¥\d+\.\d\d", said), said
        no_sideways_scroll(helper)
        shot(helper, f"shopper-bargain-helper-{name}-{lang}")
        helper.context.close()

    # Amy's page follows without a reload: the price reached the floor, and she can buy.
    amy.wait_for_function("document.querySelector('.mc-big').textContent === '¥10.00'")
    assert "reload" not in amy.evaluate("performance.getEntriesByType('navigation')[0].type")
    click_action(amy, "buy")
    amy.locator(".mc-ok").wait_for()
    shot(amy, f"shopper-bargain-bought-{lang}")
    no_sideways_scroll(amy)
    stats = sharing(server, aid)
    assert stats["invited"] == 2 and stats["deepest_generation"] == 1
    assert stats["by_generation"] == [{"generation": 0, "participants": 1},
                                      {"generation": 1, "participants": 2}]
    amy.context.close()


def test_a_group_of_three_fills_from_a_link(browser, server):  # noqa: F811
    aid = live(server, "group_buy")
    leader = friend(browser, server, "lena", "zh")
    visit(leader, f"{server.base}/s/{aid}")
    open_room(leader, "start")
    link = take_share_link(leader)
    for name in ("mo", "nia"):
        member = friend(browser, server, name, "zh")
        visit(member, link)
        assert "参团成功" in click_action(member, "join")
        member.context.close()
    leader.locator(".mc-ok", has_text="拼团成功").wait_for()
    assert leader.locator(".mc-seats li.is-taken").count() == 3
    shot(leader, "shopper-group-full-zh")
    no_sideways_scroll(leader)
    assert sharing(server, aid)["invited"] == 2
    leader.context.close()


def test_a_gift_sent_is_claimed_by_two_friends(browser, server):  # noqa: F811
    aid = live(server, "gift")
    sender = friend(browser, server, "sue", "en")
    visit(sender, f"{server.base}/s/{aid}")
    sender.fill("form[data-action='send'] input[name='shares']", "2")
    sender.fill("form[data-action='send'] input[name='message']", "For you")
    open_room(sender, "send")
    link = take_share_link(sender)
    for name in ("tom", "uma"):
        claimant = friend(browser, server, name, "en")
        visit(claimant, link)
        assert click_action(claimant, "claim") == "You claimed your friend's gift"
        claimant.locator(".mc-ok", has_text="You have claimed").wait_for()
        claimant.context.close()
    sender.locator("text=All claimed").wait_for()
    assert sender.locator(".mc-members li").count() == 2
    shot(sender, "shopper-gift-claimed-en")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_lottery_draw_shows_what_the_action_log_holds(browser, server, lang):  # noqa: F811
    aid = live(server, "lottery")
    player = friend(browser, server, f"pat-{lang}", lang)
    visit(player, f"{server.base}/s/{aid}")
    player.locator("#mc-play [data-action='draw']").click()
    # The animation runs while the request is out and lands on the server's answer.
    landed = player.wait_for_selector("[data-prize-index].is-won", state="attached")
    index = landed.get_attribute("data-prize-index")
    toast = player.locator("#mc-toast:not([hidden])")
    toast.wait_for()
    log, _ = server.engine.action_log(server.merchant, aid)
    assert len(log) == 1
    assert index == str(log[0]["result"]["index"])
    if log[0]["result"]["hit"]:
        assert toast.inner_text() == ("恭喜抽中：" if lang == "zh" else "You won: ") + "Coupon"
    else:  # the config's default no-prize text, in the page's language
        assert toast.inner_text() == ("谢谢参与" if lang == "zh" else "No prize this time")
    shot(player, f"shopper-lottery-drawn-{lang}")
    for viewport in (PHONE, DESKTOP):
        player.set_viewport_size(viewport)
        no_sideways_scroll(player)
    player.context.close()


def test_an_answer_lost_on_the_network_is_retried_with_one_effect(browser, server):  # noqa: F811
    aid = live(server, "lottery")
    player = friend(browser, server, "quinn")
    visit(player, f"{server.base}/s/{aid}")
    seen: list[str] = []

    def drop_first_answer(route: Any) -> None:
        seen.append(route.request.headers["idempotency-key"])
        if len(seen) == 1:
            route.fetch()  # the server acts…
            route.abort("connectionreset")  # …and the answer never arrives
        else:
            route.continue_()

    player.route("**/actions/draw", drop_first_answer)
    player.locator("#mc-play [data-action='draw']").click()
    player.locator("#mc-toast", has_text="trying again").wait_for()  # the page says so
    player.locator("#mc-toast.mc-toast-ok").wait_for(timeout=20_000)
    assert len(seen) == 2 and seen[0] == seen[1]  # the same Idempotency-Key, sent again
    log, _ = server.engine.action_log(server.merchant, aid)
    assert len(log) == 1  # exactly one effect
    player.context.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_template_without_a_page_is_playable_through_the_generic_page(
        browser, server, lang):  # noqa: F811
    sure = {**CONFIGS["lottery"], "prizes": [{"name": "Coupon", "type": "coupon", "stock": 5,
                                              "odds": 10000}]}
    aid = live(server, "spin", sure)
    player = friend(browser, server, f"rex-{lang}", lang)
    visit(player, f"{server.base}/s/{aid}")
    assert "spin test" in player.locator("#mc-play").inner_text()
    click_action(player, "draw")
    log, _ = server.engine.action_log(server.merchant, aid)
    assert [entry["action"] for entry in log] == ["draw"]
    # The prize won is listed as a shopper reads it: its name and when, not a raw record.
    won = player.locator("#mc-play .mc-items li").first
    won.wait_for()
    assert won.inner_text().startswith("Coupon"), won.inner_text()
    assert "{" not in player.locator("#mc-play").inner_text()
    player.locator("#mc-toast").evaluate("toast => { toast.hidden = true; }")
    shot(player, f"shopper-generic-{lang}")
    no_sideways_scroll(player)
    player.context.close()


def test_a_guest_joins_with_a_nickname_where_the_merchant_allows(browser, server):  # noqa: F811
    aid = live(server, "lottery", guests=True)
    guest = new_page(browser, "zh", PHONE)
    guest.goto(f"{server.base}/s/{aid}")
    guest.locator("#mc-play [data-action='draw']").click()
    guest.fill("#mc-dialog input[name=nickname]", "小红")
    guest.locator("#mc-dialog button[value=ok]").click()
    guest.locator("#mc-play [data-action='draw']").click()
    guest.locator("#mc-toast:not([hidden])").wait_for()
    log, _ = server.engine.action_log(server.merchant, aid)
    assert len(log) == 1 and log[0]["participant"].startswith("guest_")
    guest.context.close()

    closed = live(server, "lottery")
    stranger = new_page(browser, "en", PHONE)
    stranger.goto(f"{server.base}/s/{closed}")
    stranger.locator("#mc-play [data-action='draw']").click()
    assert "shop's app" in stranger.locator("#mc-toast").inner_text()
    stranger.context.close()


def test_the_first_load_is_light_and_a_reload_comes_from_the_cache(browser, server):  # noqa: F811
    aid = live(server, "lottery")
    page = new_page(browser, "en", PHONE)
    answers: list[Any] = []
    page.on("response", lambda response: answers.append(response))
    page.goto(f"{server.base}/s/{aid}")
    ready(page)
    assets = [r for r in answers if r.request.resource_type in ("script", "stylesheet")]
    weight = sum(len(r.body()) for r in assets)
    wire = sum(int(r.headers["content-length"]) for r in assets)
    print(f"first load: {len(assets)} scripts and styles, {weight} bytes, {wire} on the wire")
    assert {r.headers.get("content-encoding") for r in assets} == {"gzip"}
    assert wire < 22_000  # what a phone downloads: script and style together, gzipped
    assert weight < 64_000  # what it parses
    answers.clear()
    page.reload()
    ready(page)
    again = [r for r in answers if r.request.resource_type in ("script", "stylesheet")]
    assert {r.status for r in again} <= {200, 304}
    assert any(r.status == 304 for r in again), [(r.url, r.status) for r in again]
    page.context.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_friend_gives_the_missing_card_for_a_full_set(browser, server, lang):  # noqa: F811
    # One card comes up 10,000 times in 10,001: three draws leave the rare one missing.
    config = {"cards": [{"name": "Plum", "odds": 10000}, {"name": "Orchid", "odds": 1}],
              "prize_name": "Tea set", "prize_stock": 5, "draws_per_day": 3}
    aid = live(server, "collect_cards", config)
    amy = friend(browser, server, f"cara-{lang}", lang)
    visit(amy, f"{server.base}/s/{aid}")
    for _ in range(3):
        click_action(amy, "draw")
    amy.wait_for_selector("#mc-play [data-action='draw'][disabled]")
    drawn = amy.locator("[data-card][data-count='3']")
    assert drawn.count() == 1
    missing = str(amy.locator("form[data-action='ask'] input[name='card']").first.input_value())
    assert amy.locator(f"[data-card='{missing}'].is-gone").count() == 1
    no_sideways_scroll(amy)
    shot(amy, f"shopper-cards-drawn-{lang}")
    open_room(amy, "ask")
    link = take_share_link(amy)

    ben = friend(browser, server, f"dev-{lang}", lang)
    server.engine.merchant_act(server.merchant, aid, "grant", f"dev-{lang}", {"card": missing})
    visit(ben, link)
    assert missing in ben.locator("#mc-play h2").first.inner_text()
    said = click_action(ben, "give")
    assert ("已送出" if lang == "zh" else "Card given") in said, said
    ben.locator(".mc-ok").wait_for()
    no_sideways_scroll(ben)
    shot(ben, f"shopper-cards-given-{lang}")
    ben.context.close()

    # Amy's room page follows without a reload: the card arrived, the set is complete.
    amy.locator("#mc-play [data-action='redeem']").wait_for()
    assert amy.locator("[data-card].is-gone").count() == 0
    amy.locator("#mc-play [data-action='redeem']").click()
    amy.locator("#mc-toast", has_text="Tea set").wait_for()  # the share toast may linger
    amy.locator(".mc-ok", has_text="兑奖" if lang == "zh" else "exchanged").wait_for()
    shot(amy, f"shopper-cards-exchanged-{lang}")
    no_sideways_scroll(amy)
    log, _ = server.engine.action_log(server.merchant, aid)
    assert [e["action"] for e in log] == ["draw"] * 3 + ["ask", "grant", "give", "redeem"]
    assert sharing(server, aid)["invited"] == 1
    amy.context.close()


def test_an_answer_that_arrives_late_does_not_bring_back_an_older_state(
        browser, server):  # noqa: F811
    # Every play-part fetch is held, then answered newest first: the older answer must lose.
    config = {"cards": [{"name": "Plum", "odds": 10000}, {"name": "Orchid", "odds": 1}],
              "prize_name": "Tea set", "prize_stock": 5, "draws_per_day": 3}
    aid = live(server, "collect_cards", config)
    cara = friend(browser, server, "late-cara")
    visit(cara, f"{server.base}/s/{aid}")
    held: list[tuple[Any, Any]] = []
    cara.route(f"**/s/{aid}/part*", lambda route: held.append((route, route.fetch())))

    def plums(response: Any) -> int:
        found = re.search(r'data-card="Plum" data-count="(\d+)"', response.text())
        assert found, response.text()
        return int(found.group(1))

    def wait_until(check: Any) -> None:
        for _ in range(200):
            if check():
                return
            cara.wait_for_timeout(25)
        raise AssertionError("the page never asked for its play part")

    click_action(cara, "draw")
    wait_until(lambda: any(plums(answer) == 1 for _, answer in held))
    click_action(cara, "draw")
    wait_until(lambda: any(plums(answer) == 2 for _, answer in held))
    newest_first = sorted(held, key=lambda pair: -plums(pair[1]))
    for route, answer in newest_first:
        route.fulfill(response=answer)
    cara.locator("[data-card='Plum'][data-count='2']").wait_for()
    cara.unroute(f"**/s/{aid}/part*")
    cara.wait_for_timeout(300)  # time for the older answers to be read, were they to be shown
    assert cara.locator("[data-card='Plum']").get_attribute("data-count") == "2"
    cara.context.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_two_friends_check_in_and_collect_their_share(browser, server, lang):  # noqa: F811
    # The split comes a few seconds after the check-ins, on the server's real clock.
    split = int(server.engine.now()) + 8
    config = {"pool_amount": 100001, "days_required": 1, "daily_boost": 0,
              "settle_at": datetime.fromtimestamp(split, UTC).isoformat()}
    aid = live(server, "checkin_pool", config)
    phones = []
    for name in ("eve", "fay"):
        phone = friend(browser, server, f"{name}-{lang}", lang)
        visit(phone, f"{server.base}/s/{aid}")
        said = click_action(phone, "check_in")
        assert ("签到成功" if lang == "zh" else "Checked in") in said, said
        phone.wait_for_selector("#mc-play [data-action='check_in'][disabled]")
        no_sideways_scroll(phone)
        phones.append(phone)
    assert phones[1].locator("[data-days]").inner_text().startswith("1 / 1")
    shot(phones[1], f"shopper-pool-checked-in-{lang}")

    # After the split each page offers the share: ¥1,000.01 split in two, rounded down.
    for phone in phones:
        phone.locator("#mc-play [data-action='claim']").wait_for(timeout=40_000)
        assert "¥500.00" in phone.locator("[data-each]").inner_text()
        said = click_action(phone, "claim")
        assert "¥500.00" in said, said
        phone.locator(".mc-ok", has_text="¥500.00").wait_for()
        no_sideways_scroll(phone)
    shot(phones[0], f"shopper-pool-collected-{lang}")
    stats = server.engine.get_activity(server.merchant, aid)
    assert stats["status"] == "live"
    log, _ = server.engine.action_log(server.merchant, aid)
    assert sorted(e["action"] for e in log if e["participant"]) == [
        "check_in", "check_in", "claim", "claim"]
    for phone in phones:
        phone.context.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_tap_refused_as_the_activity_stops_is_told_in_the_pages_language(
        browser, server, lang):  # noqa: F811
    aid = live(server, "lottery")
    player = friend(browser, server, f"late-{lang}", lang)
    visit(player, f"{server.base}/s/{aid}")
    # The page has not re-rendered yet (its play part is held): its button is still on.
    player.route(f"**/s/{aid}/part*", lambda route: None)
    server.engine.pause(server.merchant, aid)
    said = click_action(player, "draw")
    assert said == ("活动已暂停" if lang == "zh" else "The activity is paused")  # the server's
    player.unroute(f"**/s/{aid}/part*")
    player.reload()
    ready(player)
    assert player.locator("#mc-play [data-action='draw']").is_disabled()
    assert ("活动暂停中" if lang == "zh" else "paused") in player.locator(".mc-why").inner_text()
    shot(player, f"shopper-lottery-paused-{lang}")
    no_sideways_scroll(player)
    player.context.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_refused_send_keeps_what_the_shopper_typed(browser, server, lang):  # noqa: F811
    config = {"gift_name": "Red packet", "mode": "amount", "split": "random", "min_share": 100,
              "max_amount": 5000, "max_shares": 5}
    aid = live(server, "gift", config)
    sender = friend(browser, server, f"typist-{lang}", lang)
    visit(sender, f"{server.base}/s/{aid}")
    form = "form[data-action='send']"
    sender.fill(f"{form} input[name='shares']", "2")
    # Under the ¥1.00 a share must hold (over ¥50.00 the field itself says no before sending).
    sender.fill(f"{form} input[name='amount']", "1.5")
    sender.fill(f"{form} input[name='message']", "Happy birthday")
    said = click_action(sender, "send")
    assert said == ("金额不足以分成这么多份" if lang == "zh"
                    else "The amount is too small for that many shares"), said
    sender.wait_for_timeout(500)  # time for a re-render, were there one
    assert sender.locator(f"{form} input[name='shares']").input_value() == "2"
    assert sender.locator(f"{form} input[name='amount']").input_value() == "1.5"
    assert sender.locator(f"{form} input[name='message']").input_value() == "Happy birthday"
    # Put right, it is sent: the page moves to the gift's own page, where the sender is told
    # it is theirs and is not offered to claim it.
    sender.fill(f"{form} input[name='amount']", "50")
    open_room(sender, "send")
    assert sender.locator("#mc-play h2").first.inner_text() == (
        "你送出的礼物" if lang == "zh" else "Your gift")
    assert sender.locator("#mc-play [data-action='claim']").count() == 0
    no_sideways_scroll(sender)
    shot(sender, f"shopper-gift-sent-{lang}")
    sender.context.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_draw_that_wins_nothing_says_so_in_the_pages_language(browser, server, lang):  # noqa: F811
    never = {**CONFIGS["lottery"], "prizes": [{"name": "Coupon", "type": "coupon", "stock": 5,
                                               "odds": 0}]}
    aid = live(server, "lottery", never)
    player = friend(browser, server, f"miss-{lang}", lang)
    visit(player, f"{server.base}/s/{aid}")
    assert click_action(player, "draw") == ("谢谢参与" if lang == "zh" else "No prize this time")
    assert player.locator("[data-prize-index='-1'] strong").inner_text() == (
        "谢谢参与" if lang == "zh" else "No prize")
    player.context.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_win_stays_in_sight_and_a_copied_link_is_said_in_the_dialog(
        browser, server, lang):  # noqa: F811
    sure = {**CONFIGS["lottery"], "prizes": [{"name": "Coupon", "type": "coupon", "stock": 5,
                                              "odds": 10000}]}
    aid = live(server, "lottery", sure)
    player = friend(browser, server, f"lucky-{lang}", lang)
    player.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base)
    visit(player, f"{server.base}/s/{aid}")
    click_action(player, "draw")
    won = player.locator("[data-last-win]")
    won.wait_for()
    player.locator("#mc-toast").evaluate("toast => { toast.hidden = true; }")  # as 3.5 s later
    assert "Coupon" in won.inner_text()
    box = won.bounding_box()
    assert box and box["y"] + box["height"] <= PHONE["height"]  # in sight, by the button
    assert player.locator("#mc-play .mc-list li").first.inner_text().startswith("Coupon")
    shot(player, f"shopper-lottery-won-{lang}")

    pool = live(server, "checkin_pool")
    visit(player, f"{server.base}/s/{pool}")
    player.evaluate("navigator.share = undefined")  # the dialog, not the system sheet
    player.locator("#mc-play [data-share]").first.click()
    copied = "链接已复制，发给好友吧" if lang == "zh" else "Link copied: send it to a friend"
    player.locator("#mc-dialog[open] h2", has_text=copied).wait_for()
    assert player.locator("#mc-toast").is_hidden()
    shot(player, f"shopper-share-copied-{lang}")
    player.context.close()


@pytest.mark.parametrize(("lang", "paused", "ended"), [
    ("en", "Paused for a moment", "This activity has ended"),
    ("zh", "活动暂停中", "活动已结束")])
def test_an_open_page_follows_a_pause_a_resume_and_the_end(browser, server, lang, paused,  # noqa: F811
                                                           ended):
    aid = live(server, "lottery")
    page = friend(browser, server, f"watcher-{lang}", lang)
    beats: list[str] = []
    page.on("request", lambda r: beats.append(r.url) if r.url.endswith("/heartbeat") else None)
    visit(page, f"{server.base}/s/{aid}")
    banner = page.locator("#mc-banner")
    assert banner.is_hidden()
    server.engine.pause(server.merchant, aid)
    page.wait_for_function("document.body.className === 'mc-status-paused'")
    assert banner.inner_text() == paused
    # the banner follows the status at once, the play part when it is fetched again
    expect(page.locator("#mc-play button[data-action='draw']")).to_be_disabled()
    while_paused = len(beats)
    server.engine.resume(server.merchant, aid)
    page.wait_for_function("document.body.className === 'mc-status-live'")
    assert banner.is_hidden()
    expect(page.locator("#mc-play button[data-action='draw']")).to_be_enabled()
    for _ in range(50):  # live again, the page beats again (the first beat goes at once)
        if len(beats) > while_paused:
            break
        page.wait_for_timeout(100)
    assert len(beats) > while_paused
    server.engine.end(server.merchant, aid)
    page.wait_for_function("document.body.className === 'mc-status-ended'")
    assert banner.inner_text() == ended
    page.context.close()


@pytest.mark.parametrize(("lang", "said"), [
    ("en", "No connection. Check your network and tap again: nothing is done twice."),
    ("zh", "网络连接失败，请检查网络后再点一次（不会重复生效）")])
def test_a_draw_left_without_an_answer_is_said_in_the_pages_words_and_sent_again_once(
        browser, server, lang, said):  # noqa: F811
    aid = live(server, "lottery")
    player = friend(browser, server, f"tunnel-{lang}", lang)
    visit(player, f"{server.base}/s/{aid}")
    keys: list[str] = []

    def gateway_down(route: Any) -> None:  # the server acts, a proxy answers 502 every time
        keys.append(route.request.headers["idempotency-key"])
        route.fetch()
        route.fulfill(status=502, body="<h1>Bad Gateway</h1>", content_type="text/html",
                      headers={"Retry-After": "0"})

    player.route("**/actions/draw", gateway_down)
    toast = click_action(player, "draw")
    assert toast == said  # not the client's English ("No definite answer … idempotency key")
    assert player.locator("#mc-play .is-won, #mc-play .is-lit").count() == 0  # nothing drawn
    player.unroute("**/actions/draw")
    sent: list[str] = []
    player.on("request", lambda r: sent.append(r.headers.get("idempotency-key", ""))
              if r.url.endswith("/actions/draw") else None)
    assert click_action(player, "draw") != said  # tapped again once the network is back…
    assert sent == [keys[0]] and len(set(keys)) == 1  # …with the same key: told, not redone
    log, _ = server.engine.action_log(server.merchant, aid)
    assert len(log) == 1
    player.context.close()


def test_every_control_on_a_phone_takes_a_44_px_tap(browser, server):  # noqa: F811
    aid = live(server, "gift", {"gift_name": "Red packet", "mode": "amount", "max_shares": 5})
    page = friend(browser, server, "thumb")
    visit(page, f"{server.base}/s/{aid}")
    small = page.evaluate("""() => [...document.querySelectorAll(
        '#mc-play button, #mc-play input:not([type=hidden]), #mc-play select')]
      .map((el) => [el.name || el.textContent.trim(), el.getBoundingClientRect()])
      .filter(([, r]) => r.height < 44).map(([name, r]) => `${name}: ${r.height}px`)""")
    assert small == []
    # The language switch is a small pill; the tap it takes reaches 22 px around its middle.
    reach = page.evaluate("""() => {
      const link = document.querySelector('.mc-lang'), r = link.getBoundingClientRect();
      const x = r.left + r.width / 2, y = r.top + r.height / 2;
      return [[x, y - 21], [x, y + 21], [x - 21, y], [x + 21, y]]
        .every(([px, py]) => document.elementFromPoint(px, py) === link);
    }""")
    assert reach
    page.context.close()


@pytest.mark.parametrize(("lang", "got"), [("en", "You got "), ("zh", "领到 ")])
def test_a_friend_who_claims_money_is_told_how_much(browser, server, lang, got):  # noqa: F811
    aid = live(server, "gift", {"gift_name": "Red packet", "mode": "amount", "split": "random"})
    sender = friend(browser, server, f"giver-{lang}", lang)
    visit(sender, f"{server.base}/s/{aid}")
    sender.fill("form[data-action='send'] input[name='shares']", "2")
    sender.fill("form[data-action='send'] input[name='amount']", "8.88")
    open_room(sender, "send")
    claimant = friend(browser, server, f"taker-{lang}", lang)
    visit(claimant, take_share_link(sender))
    said = click_action(claimant, "claim")
    log, _ = server.engine.action_log(server.merchant, aid)
    share = log[-1]["result"]["share"]
    assert said == f"{got}¥{share // 100}.{share % 100:02d}", said
    sender.context.close()
    claimant.context.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_friend_is_told_before_tapping_and_the_starter_hears_what_was_done(
        browser, server, lang):  # noqa: F811
    aid = live(server, "bargain")
    amy = friend(browser, server, f"amy-told-{lang}", lang)
    visit(amy, f"{server.base}/s/{aid}")
    open_room(amy, "start")
    # The start's words follow it to the room's page, said aloud too (the live region).
    started = "砍价已发起" if lang == "zh" else "Bargain started at ¥100.00"
    amy.locator("#mc-toast:not([hidden])", has_text=started).wait_for()
    amy.locator("#mc-live", has_text=started).wait_for(state="attached")
    link = take_share_link(amy)
    ben = friend(browser, server, f"ben-told-{lang}", lang)
    visit(ben, link)
    said = click_action(ben, "help")
    cut = server.engine.action_log(server.merchant, aid)[0][-1]["result"]["cut"]
    money = f"¥{cut // 100}.{cut % 100:02d}"
    assert said == (f"已帮好友砍掉 {money}" if lang == "zh"
                    else f"You cut {money} off your friend's price"), said
    # Said aloud too: the live region takes the words a moment after the toast.
    ben.locator("#mc-live", has_text=said).wait_for(state="attached")
    assert ben.locator("#mc-live").inner_text() == said
    # Helped: the button is off, saying why in the engine's words, before any tap.
    help_button = ben.locator("#mc-play button[data-action='help']")
    help_button.wait_for()
    assert help_button.is_disabled()
    why = "你已经帮砍过了" if lang == "zh" else "You have already helped this bargain"
    assert why in ben.locator("#mc-play").inner_text()
    shot(ben, f"shopper-bargain-helped-{lang}")
    amy.context.close()
    ben.context.close()


def test_while_an_action_is_retried_the_page_shows_where_things_stand(browser, server):  # noqa: F811
    aid = live(server, "checkin_pool")
    page = friend(browser, server, "flaky")
    visit(page, f"{server.base}/s/{aid}")
    # Noted by the page itself: the button drawn off (checked in) while the tap is still busy.
    page.evaluate("""() => { window.seenWhileBusy = false;
      new MutationObserver(() => {
        const b = document.querySelector("#mc-play button[data-action='check_in']");
        if (b && b.disabled && b.getAttribute("aria-busy")) window.seenWhileBusy = true;
      }).observe(document.getElementById("mc-play"), {childList: true, subtree: true}); }""")
    sent: list[str] = []

    def first_answer_lost(route: Any) -> None:
        sent.append(route.request.headers["idempotency-key"])
        if len(sent) == 1:
            route.fetch()  # the server checks in…
            route.abort("connectionreset")  # …and its answer is lost
        else:
            route.continue_()

    page.route("**/actions/check_in", first_answer_lost)
    page.locator("#mc-play [data-action='check_in']").click()
    page.locator("#mc-toast.mc-toast-ok").wait_for(timeout=20_000)
    assert "Checked in" in page.locator("#mc-toast").inner_text()
    assert len(sent) == 2 and sent[0] == sent[1]
    assert page.evaluate("window.seenWhileBusy")  # re-rendered while it was retried
    log, _ = server.engine.action_log(server.merchant, aid)
    assert len(log) == 1
    page.context.close()


def test_every_control_of_a_room_page_takes_a_44_px_tap_and_is_labelled(
        browser, server):  # noqa: F811
    aid = live(server, "bargain")
    amy = friend(browser, server, "amy-thumb")
    visit(amy, f"{server.base}/s/{aid}")
    open_room(amy, "start")
    ben = friend(browser, server, "ben-thumb")
    visit(ben, take_share_link(amy))
    click_action(ben, "help")
    visit(ben, f"{server.base}/s/{aid}")  # lists the bargain he helped: a link
    for page in (amy, ben):
        page.reload()
        ready(page)
        small = page.evaluate("""() => [...document.querySelectorAll(
            '#mc-play button, #mc-play a, #mc-play input:not([type=hidden]), #mc-play select')]
          .map((el) => [el.textContent.trim() || el.name, el.getBoundingClientRect()])
          .filter(([, r]) => r.height < 44).map(([name, r]) => `${name}: ${r.height}px`)""")
        assert small == []
        assert page.locator("#mc-play a").count() > 0 or page is amy
    # The share dialog's field is labelled, as every field is.
    amy.evaluate("navigator.share = undefined")
    amy.locator("#mc-play [data-share]").first.click()
    amy.locator(".mc-share-url").wait_for()
    unlabelled = amy.evaluate("""() => [...document.querySelectorAll(
        'input:not([type=hidden]), select, textarea')].filter((el) => !el.closest('label')
          || !el.closest('label').textContent.trim()).map((el) => el.outerHTML)""")
    assert unlabelled == []
    amy.context.close()
    ben.context.close()
