"""The shopper pages through Flask's test client: a page per activity and per room for every
bundled template in both languages, the play part re-rendered with the shopper's own views,
the sandbox around template partials, and the generic page of a template with no partial."""

from __future__ import annotations

import json
import re
import shutil
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from magic_cube.app import create_app
from magic_cube.catalog import Catalog
from magic_cube.engine import EngineError
from magic_cube.shopper.partials import Formatter, render_partial

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "activity_templates"

# What each bundled template's page must show at first paint, in each language.
FIRST_PAINT = {
    "bargain": {"en": ["Tea set", "¥10.00", "Start a bargain", "How it works"],
                "zh": ["Tea set", "¥10.00", "发起砍价", "活动规则"]},
    "group_buy": {"en": ["Rice cooker", "¥199.00", "Start a group"],
                  "zh": ["Rice cooker", "¥199.00", "开团"]},
    "lottery": {"en": ["Coupon", "50%", "Draw", "Rules and odds"],
                "zh": ["Coupon", "50%", "抽奖", "活动规则与概率"]},
    "gift": {"en": ["Coffee", "Send a gift", "Shares"], "zh": ["Coffee", "送礼给好友", "份数"]},
    "collect_cards": {"en": ["Tea set", "Orchid", "30%", "Draw a card", "Rules and odds"],
                      "zh": ["Tea set", "Orchid", "30%", "抽卡", "活动规则与概率"]},
    "checkin_pool": {"en": ["¥1,000.00", "14 Nov 12:00", "Check in", "How it works"],
                     "zh": ["¥1,000.00", "11月14日 12:00", "签到", "活动规则"]},
}


def text(response: Any) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("template", sorted(FIRST_PAINT))
def test_every_bundled_template_has_a_page_in_both_languages(shop, client, template, lang):
    activity = shop.live(template)
    r = client.get(f"/s/{activity['id']}", headers={"Accept-Language": lang})
    assert r.status_code == 200
    assert r.mimetype == "text/html"
    shown = text(r)
    for words in FIRST_PAINT[template][lang]:
        assert words in shown, (words, shown[:3000])
    html = r.get_data(as_text=True)
    assert f'lang="{"zh-CN" if lang == "zh" else "en"}"' in html
    config = json.loads(re.search(r'id="mc-config">(.*?)</script>', html, re.S).group(1))
    assert config["activity"] == activity["id"] and config["lang"] == lang


@pytest.mark.parametrize(("n", "en", "zh"), [
    (1, "1st", "第1"), (2, "2nd", "第2"), (3, "3rd", "第3"), (4, "4th", "第4"),
    (11, "11th", "第11"), (12, "12th", "第12"), (13, "13th", "第13"), (21, "21st", "第21"),
    (102, "102nd", "第102"), (111, "111th", "第111")])
def test_a_partial_writes_positions_and_counts_as_a_reader_would(n, en, zh):
    assert Formatter("en", "Asia/Shanghai", "CNY").ordinal(n) == en
    assert Formatter("zh", "Asia/Shanghai", "CNY").ordinal(n) == zh
    words = Formatter("en", "Asia/Shanghai", "CNY").plural(n, "friend", "friends")
    assert words == (f"{n} friend" if n == 1 else f"{n} friends")


def test_one_friend_is_one_friend_on_a_bargains_page(shop, client, configs):
    config = {**configs["bargain"], "helpers_needed": 1, "cut_max": 9000, "time_limit_hours": 1}
    activity = shop.live("bargain", config)
    shown = text(client.get(f"/s/{activity['id']}?lang=en"))
    assert "ask 1 friend to help" in shown and "the 1st friend" in shown, shown
    assert "lasts 1 hour;" in shown
    config = {**configs["bargain"], "helpers_needed": 2, "time_limit_hours": 24}
    shown = text(client.get(f"/s/{shop.live('bargain', config)['id']}?lang=en"))
    assert "ask 2 friends to help" in shown and "the 2nd friend" in shown, shown
    assert "lasts 24 hours;" in shown


def test_the_language_switch_is_remembered(shop, client):
    activity = shop.live("bargain")
    r = client.get(f"/s/{activity['id']}?lang=zh", headers={"Accept-Language": "en"})
    assert "发起砍价" in text(r)
    assert "mc_lang=zh" in r.headers["Set-Cookie"]
    r = client.get(f"/s/{activity['id']}", headers={"Accept-Language": "en"})
    assert "发起砍价" in text(r)


def test_a_room_page_shows_the_room_a_friend_opens(shop, client):
    activity = shop.live("bargain")
    room = shop.act(activity["id"], "start", "alice").get_json()["room"]
    shop.act(activity["id"], "help", "bob", room=room)
    r = client.get(f"/s/{activity['id']}/r/{room}", headers={"Accept-Language": "en"})
    assert r.status_code == 200
    shown = text(r)
    assert "Help " in shown and "2 more friends needed" in shown
    assert "bob" not in shown and "alice" not in shown  # masked names, never ids
    assert 'data-countdown="' in r.get_data(as_text=True)


def test_the_play_part_shows_the_shoppers_own_state(shop, client):
    activity = shop.live("bargain")
    room = shop.act(activity["id"], "start", "alice").get_json()["room"]
    url = f"/s/{activity['id']}/part?room={room}&lang=en"
    mine = client.get(url, headers=shop.as_("alice"))
    assert mine.status_code == 200
    assert "My bargain" in text(mine) and "Ask friends to help" in text(mine)
    assert mine.headers["Cache-Control"] == "no-store"
    assert int(mine.headers["X-Server-Time"]) > 0
    friend = client.get(url, headers=shop.as_("bob"))
    assert "Help cut" in text(friend) and "My bargain" not in text(friend)
    anonymous = client.get(url, headers={"Authorization": "Bearer forged"})
    assert anonymous.status_code == 200  # a bad token is shown the public page


@pytest.mark.parametrize(("lang", "heading", "unused", "used"), [
    ("en", "My codes", "Not used yet", "Used "), ("zh", "我的核销码", "未使用", "使用")])
def test_a_winner_is_shown_the_code_to_claim_with(shop, client, engine, lang, heading, unused,
                                                  used):
    config = {"prizes": [{"name": "Teapot", "type": "physical", "stock": 5, "odds": 10000}],
              "draws_per_day": 3, "draws_total": 3}
    activity = shop.live("lottery", config)
    url = f"/s/{activity['id']}/part?lang={lang}"
    assert heading not in text(client.get(url, headers=shop.as_("alice")))
    assert shop.act(activity["id"], "draw", "alice").status_code == 200
    [code] = engine.redemptions(shop.merchant, activity["id"])
    shown = text(client.get(url, headers=shop.as_("alice")))
    assert heading in shown and unused in shown
    assert f"{code['code'][:5]} {code['code'][5:]}" in shown and "Teapot" in shown
    assert heading not in text(client.get(url, headers=shop.as_("bob")))  # only the winner's
    engine.redeem_code(shop.merchant, code["code"])
    after = text(client.get(url, headers=shop.as_("alice")))
    assert used in after and unused not in after


@pytest.mark.parametrize(("template", "said"), [
    ("bargain", "You have started all the bargains you can"),
    ("group_buy", "You have started or joined as many groups as you can")])
def test_a_shopper_who_has_started_all_they_may_is_told_so_not_offered_more(
        shop, client, template, said):
    activity = shop.live(template)  # one start per participant
    url = f"/s/{activity['id']}/part?lang=en"
    button = re.compile(r'<button[^>]*data-action="start"[^>]*>')
    before = client.get(url, headers=shop.as_("alice")).get_data(as_text=True)
    assert "disabled" not in button.search(before).group(0) and said not in before
    assert shop.act(activity["id"], "start", "alice").status_code == 200
    after = client.get(url, headers=shop.as_("alice")).get_data(as_text=True)
    assert "disabled" in button.search(after).group(0) and said in after
    other = client.get(url, headers=shop.as_("bob")).get_data(as_text=True)
    assert "disabled" not in button.search(other).group(0)


@pytest.mark.parametrize("path", ["/s/act_missing", "/s/act_missing/r/x", "/j/badcode123"])
@pytest.mark.parametrize(("lang", "said"), [("en", "This page is not available"),
                                            ("zh", "这个页面打不开了")])
def test_a_bad_link_is_a_page_in_the_shoppers_language(client, path, lang, said):
    r = client.get(path, headers={"Accept-Language": lang})
    assert r.status_code == 404 and r.mimetype == "text/html"
    assert said in text(r) and "not_found" not in text(r)


def test_drafts_and_unknown_rooms_are_404(shop, client):
    draft = shop.create("lottery")
    assert client.get(f"/s/{draft['id']}").status_code == 404
    live = shop.live("bargain")
    assert client.get(f"/s/{live['id']}/r/no-such-room").status_code == 404


@pytest.mark.parametrize(("lang", "left"), [("zh", "剩余 "), ("en", "Left ")])
def test_a_lotterys_stock_is_counted_with_separators_on_one_line(shop, client, configs, lang,
                                                                  left):
    config = {**configs["lottery"], "prizes": [
        {"name": "Coupon", "type": "coupon", "stock": 12000, "odds": 100}]}
    activity = shop.live("lottery", config)
    html = client.get(f"/s/{activity['id']}", headers={"Accept-Language": lang}).get_data(
        as_text=True)
    assert f'{left}<span class="mc-nowrap">12,000/12,000</span>' in html
    assert Formatter(lang, "Asia/Shanghai", "CNY").number(1234567) == "1,234,567"


def test_money_is_in_yuan_with_two_decimals(shop, client, configs):
    config = {**configs["bargain"], "original_price": 123456, "floor_price": 1}
    config.update(cut_min=1, cut_max=123455, helpers_needed=1)
    activity = shop.live("bargain", config)
    shown = text(client.get(f"/s/{activity['id']}", headers={"Accept-Language": "zh"}))
    assert "¥1,234.56" in shown and "¥0.01" in shown


# partials from template folders -----------------------------------------------------------

def catalog_with(tmp_path: Path, name: str, page: str | None, base: str = "lottery") -> Catalog:
    """The bundled templates plus a copy of `base` named `name`, with `page` as its partial."""
    folder = tmp_path / "templates" / name
    shutil.copytree(TEMPLATES / base, folder)
    doc = json.loads((folder / "template.json").read_text(encoding="utf-8"))
    doc["id"] = name
    doc["$schema"] = str(ROOT / "schemas" / "template.schema.json")
    (folder / "template.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    (folder / "page.html").unlink()
    if page is not None:
        (folder / "page.html").write_text(page, encoding="utf-8")
    return Catalog.discover([TEMPLATES, tmp_path / "templates"], entry_points=False)


def app_with(tmp_path: Path, catalog: Catalog, clock: Any) -> Any:
    return create_app({"CATALOG": catalog, "TESTING": True, "CLOCK": clock,
                       "SETTINGS": {"database_url": f"sqlite:///{tmp_path / 'db.sqlite'}"}})


def live_activity(app: Any, template: str, config: dict[str, Any]) -> tuple[Any, str]:
    engine = app.extensions["magic_cube"]
    merchant, _key = engine.create_merchant("Shop")
    activity = engine.create_activity(merchant, template, config, title="Spin")
    engine.publish(merchant, activity["id"])
    return engine, activity["id"]


@pytest.mark.parametrize("page", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",  # the sandbox refuses
    "{{ config }}{{ request }}{{ url_for }}",  # the app's names are not there: empty
    "{% include 'nothing.html' %}",
])
def test_a_partial_cannot_reach_the_app(tmp_path, clock, configs, page):
    app = app_with(tmp_path, catalog_with(tmp_path, "spin", page), clock)
    _engine, activity_id = live_activity(app, "spin", configs["lottery"])
    r = app.test_client().get(f"/s/{activity_id}", headers={"Accept-Language": "en"})
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "subclasses" not in html and "<class" not in html
    assert "SECRET" not in html and "Config" not in html


@pytest.mark.parametrize("page", [
    "{% if activity.view %}<p>{{ activity.view }</p>",  # does not compile
    "{{ undefined_helper() }}",  # fails as it renders
])
def test_a_broken_partial_falls_back_to_the_generic_page(tmp_path, clock, configs, page, caplog):
    app = app_with(tmp_path, catalog_with(tmp_path, "spin", page), clock)
    _engine, activity_id = live_activity(app, "spin", configs["lottery"])
    client = app.test_client()
    for _ in range(2):  # a partial that does not compile is read (and logged) once
        r = client.get(f"/s/{activity_id}", headers={"Accept-Language": "en"})
        assert r.status_code == 200
        assert 'data-action="draw"' in r.get_data(as_text=True)
    assert any("page partial of spin" in m for m in caplog.messages)


def test_a_template_without_a_partial_gets_the_generic_page(tmp_path, clock, configs):
    app = app_with(tmp_path, catalog_with(tmp_path, "spin", None), clock)
    engine, activity_id = live_activity(app, "spin", configs["lottery"])
    client = app.test_client()
    shown = text(client.get(f"/s/{activity_id}", headers={"Accept-Language": "en"}))
    assert "Spin" in shown and "Draw" in shown
    assert 'data-action="draw"' in client.get(f"/s/{activity_id}").get_data(as_text=True)


def test_a_partial_shipped_in_the_folder_is_used(tmp_path, clock, configs):
    page = ('{% import "mc.html" as mc with context %}<p id="own">{{ tr(zh="你好", en="Hello") }}'
            ' {{ money(activity.view.prize_stock[0] * 100) }}</p>{{ mc.action("draw", "Go") }}')
    app = app_with(tmp_path, catalog_with(tmp_path, "spin", page), clock)
    _engine, activity_id = live_activity(app, "spin", configs["lottery"])
    client = app.test_client()
    assert "Hello ¥5.00" in text(client.get(f"/s/{activity_id}?lang=en"))
    assert "你好 ¥5.00" in text(client.get(f"/s/{activity_id}?lang=zh"))


def test_a_partial_names_a_form_by_its_action_as_it_names_a_button(tmp_path, clock, configs):
    page = ('{% import "mc.html" as mc with context %}{{ mc.form("ask", label="Ask a friend") }}'
            '{{ mc.form(actions_by_name.ask, label="Again") }}')
    app = app_with(tmp_path, catalog_with(tmp_path, "cards", page, base="collect_cards"), clock)
    _engine, activity_id = live_activity(app, "cards", configs["collect_cards"])
    html = app.test_client().get(f"/s/{activity_id}?lang=en").get_data(as_text=True)
    forms = re.findall(r'<form class="mc-form" data-action="ask".*?</form>', html, re.S)
    assert len(forms) == 2
    assert all('name="card"' in form for form in forms)


# preview and translations ---------------------------------------------------------------------

def test_the_merchant_previews_a_draft_and_nothing_can_be_done(shop, client, engine):
    draft = shop.create("bargain")
    token = engine.preview_token(shop.merchant, draft["id"])
    r = client.get(f"/s/{draft['id']}?preview={token}&lang=en")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "Preview" in text(r) and "Start a bargain" in text(r)
    assert re.search(r'data-action="start"[^>]*disabled', html)
    assert r.headers["Cache-Control"] == "no-store"
    # The language switch keeps the preview: without its token a draft is no page at all.
    switch = re.search(r'<a class="mc-lang" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert switch == f"?preview={token}&lang=zh"
    assert "预览" in text(client.get(f"/s/{draft['id']}{switch}"))
    assert client.get(f"/s/{draft['id']}?preview=forged").status_code == 404
    other = engine.create_merchant("Rival")[0]
    assert client.get(f"/s/{draft['id']}?preview="
                      f"{engine.preview_token(shop.merchant, shop.create('lottery')['id'])}"
                      ).status_code == 404  # a token names one activity
    with pytest.raises(EngineError) as refused:
        engine.preview_token(other, draft["id"])  # another merchant's activity
    assert refused.value.code == "activity_not_found"


def test_every_shopper_message_has_a_chinese_translation():
    from babel.messages.extract import extract_from_dir
    from babel.messages.mofile import read_mo
    from babel.messages.pofile import read_po
    folder = ROOT / "magic_cube" / "shopper"
    po = folder / "translations" / "zh" / "LC_MESSAGES" / "messages.po"
    with po.open(encoding="utf-8") as f:
        catalog = read_po(f)
    done = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    used = {m[2] for m in extract_from_dir(str(folder), method_map, keywords={"_": None})}
    assert used - done == set(), "update the shopper catalog (DEVELOPERS.md, Translations)"
    with po.with_suffix(".mo").open("rb") as f:
        assert {m.id for m in read_mo(f) if m.id} == {m.id for m in catalog if m.id}


def test_the_generic_page_shows_records_and_lists_as_a_shopper_reads_them():
    fmt = Formatter("en", "Asia/Shanghai", "CNY")
    won = 1796516190  # 2026-12-06 08:16 in Shanghai
    context = {
        "activity": {"title": "Spin", "view": {"prize_images": [None, None], "names": ["A", "B"],
                                               "price": 1999, "still_empty": [],
                                               "release": "daily", "winner": ""}},
        "room": None, "now": won + 60, "template": {"description": ""}, "actions": [],
        "labels": {"type": "Kind"}, "money_keys": ["price"], "preview": False,
        "value_labels": {"release": {"daily": "Each day"}},
        "me": {"view": {"prizes": [{"name": "Coupon", "type": "coupon", "index": 0, "at": won},
                                   {"name": "Mug", "type": None, "index": 3, "at": won}]},
               "rooms": []},
    }
    html = str(render_partial(("spin", "h"), None, context, fmt))
    shown = text_of(html)
    assert "{" not in shown and "'" not in shown and "None" not in shown, shown
    assert re.search(r"Prize images –", shown) and "Still empty –" in shown
    assert "Winner –" in shown  # a text not set yet (no winner) is a dash, not a blank
    assert "Names A, B" in shown and "Price ¥19.99" in shown and "Release Each day" in shown
    items = re.findall(r"<li>(.*?)</li>", html, re.S)
    assert [text_of(i) for i in items] == ["Coupon Kind: coupon · 06 Dec 08:16",
                                           "Mug 06 Dec 08:16"]


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


# each language reads whole ----------------------------------------------------------------

def test_tr_falls_back_only_for_a_language_left_out():
    en, zh = Formatter("en", "Asia/Shanghai", "CNY"), Formatter("zh", "Asia/Shanghai", "CNY")
    assert en.tr(zh="砍一刀") == "砍一刀" and zh.tr(en="Help") == "Help"  # left out: the other
    assert en.tr(zh=" 购买", en="") == "" and zh.tr(zh="", en=" every day") == ""  # "" is nothing
    assert en.tr(zh="砍", en="Cut") == "Cut" and zh.tr(zh="砍", en="Cut") == "砍"
    assert en.tr() == ""


def button_texts(html: str) -> list[str]:
    return [text_of(b) for b in re.findall(r"<button[^>]*>(.*?)</button>", html, re.S)]


def test_buttons_and_sentences_are_in_one_language(shop, client, configs):
    config = {**configs["bargain"], "helpers_needed": 1, "cut_min": 9000, "cut_max": 9000}
    bargain = shop.live("bargain", config)
    room = shop.act(bargain["id"], "start", "alice").get_json()["room"]
    shop.act(bargain["id"], "help", "bob", room=room)
    url = f"/s/{bargain['id']}/part?room={room}&lang="
    buttons = button_texts(client.get(url + "en", headers=shop.as_("alice")).get_data(as_text=True))
    assert "Buy at ¥10.00" in buttons, buttons
    buttons = button_texts(client.get(url + "zh", headers=shop.as_("alice")).get_data(as_text=True))
    assert "以 ¥10.00 购买" in buttons, buttons

    group = shop.live("group_buy")
    room = shop.act(group["id"], "start", "carol").get_json()["room"]
    url = f"/s/{group['id']}/part?room={room}&lang="
    buttons = button_texts(client.get(url + "en", headers=shop.as_("dave")).get_data(as_text=True))
    assert "Join at ¥199.00" in buttons, buttons
    buttons = button_texts(client.get(url + "zh", headers=shop.as_("dave")).get_data(as_text=True))
    assert "以 ¥199.00 参团" in buttons, buttons

    pool = shop.live("checkin_pool")
    zh = text(client.get(f"/s/{pool['id']}?lang=zh"))
    en = text(client.get(f"/s/{pool['id']}?lang=en"))
    assert "奖池加码 ¥10.00" in zh and "every day" not in zh, zh
    assert "The pool grows by ¥10.00 every day at" in en and "奖池" not in en, en


# a page that is not live invites no tap ---------------------------------------------------

CLOSED_WORDS = {"paused": {"zh": "活动暂停中", "en": "The activity is paused"},
                "ended": {"zh": "活动已结束", "en": "The activity has ended"}}


def controls(html: str) -> list[str]:
    """Every action button, and every action form's submit button and fields."""
    found = re.findall(r'<button[^>]*data-action="[^"]*"[^>]*>', html)
    for form in re.findall(r'<form[^>]*data-action="[^"]*".*?</form>', html, re.S):
        found += re.findall(r"<(?:button|input(?![^>]*hidden)|select)[^>]*>", form)
    return found


def open_room(shop: Any, template: str, activity_id: str) -> str | None:
    """A room of `template` opened by alice, that bob may act on (none for templates without)."""
    first = {"bargain": ("start", None), "group_buy": ("start", None),
             "gift": ("send", {"shares": 2}), "collect_cards": ("ask", {"card": "Orchid"})}
    if template not in first:
        shop.act(activity_id, "draw" if template == "lottery" else "check_in", "alice")
        return None
    action, params = first[template]
    r = shop.act(activity_id, action, "alice", params=params)
    assert r.status_code == 200, r.get_json()
    return str(r.get_json()["room"])


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("template", sorted(FIRST_PAINT))
def test_a_paused_or_ended_activity_offers_no_action_and_says_why(shop, client, template, lang):
    activity = shop.live(template)
    room = open_room(shop, template, activity["id"])
    pages = [f"/s/{activity['id']}/part?lang={lang}"]
    if room:
        pages.append(f"/s/{activity['id']}/part?lang={lang}&room={room}")
    for verb, status in (("pause", "paused"), ("end", "ended")):
        assert shop.lifecycle(activity["id"], verb).status_code == 200
        for url in pages:
            for who in ("alice", "bob"):
                html = client.get(url, headers=shop.as_(who)).get_data(as_text=True)
                found = controls(html)
                assert all(" disabled" in c for c in found), (status, url, who, found)
                if found:
                    assert CLOSED_WORDS[status][lang] in text_of(html), (status, url, who)
                # nor counts what is left to do today
                assert not re.search(r"left today|send today|今日剩余|今日还可", text_of(html)), url
        if status == "paused":
            shop.lifecycle(activity["id"], "resume")
            shop.lifecycle(activity["id"], "pause")
    # Before the end the page still offers something: the checks above were not vacuous.
    assert controls(client.get(f"/s/{shop.live(template)['id']}?lang={lang}").get_data(
        as_text=True))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_scheduled_activity_says_when_it_starts(shop, client, clock, lang):
    draft = shop.create("lottery")
    starts = clock.now + 3 * 3600  # 13:00 in Shanghai
    shop.engine.publish(shop.merchant, draft["id"], starts_at=starts)
    html = client.get(f"/s/{draft['id']}?lang={lang}").get_data(as_text=True)
    button = re.search(r'<button[^>]*data-action="draw"[^>]*>', html).group(0)
    assert " disabled" in button
    said = text_of(re.search(r'<p class="mc-why">(.*?)</p>', html, re.S).group(1))
    starts_at = "活动 11月11日 13:00 开始" if lang == "zh" else "Starts 11 Nov 13:00 · in"
    assert said.startswith(starts_at), said
    assert f'data-countdown="{starts}"' in html


def test_an_ended_lottery_shows_its_seed_beside_the_commitment(shop, client):
    activity = shop.live("lottery")
    html = client.get(f"/s/{activity['id']}?lang=en").get_data(as_text=True)
    assert "data-seed" not in html  # kept secret while it runs
    shop.lifecycle(activity["id"], "end")
    fairness = client.get(f"/v1/activities/{activity['id']}").get_json()["fairness"]
    assert fairness["seed"]
    for lang in ("en", "zh"):
        html = client.get(f"/s/{activity['id']}?lang={lang}").get_data(as_text=True)
        assert fairness["seed_commitment"] in html
        assert re.search(rf"<code[^>]*data-seed>{fairness['seed']}</code>", html)


# stock that is gone ---------------------------------------------------------------------------

def button(html: str, action: str) -> str:
    """An action's button with the reason shown under it, if any."""
    found = re.search(rf'<button[^>]*data-action="{action}"[^>]*>.*?</button>'
                      r'(\s*<p class="mc-why">.*?</p>)?', html, re.S)
    assert found, (action, html)
    return found.group(0)


@pytest.mark.parametrize(("lang", "gone", "all_gone"), [
    ("en", "Gone", "All the prizes are gone"), ("zh", "已抽完", "奖品已全部抽完")])
def test_a_lottery_whose_prizes_are_gone_says_so_and_takes_no_draw(
        shop, client, configs, lang, gone, all_gone):
    config = {**configs["lottery"], "prizes": [
        {"name": "Coupon", "type": "coupon", "stock": 1, "odds": 6000},
        {"name": "Mug", "type": "physical", "stock": 0, "odds": 1000}]}
    activity = shop.live("lottery", config)
    url = f"/s/{activity['id']}/part?lang={lang}"
    html = client.get(url, headers=shop.as_("bob")).get_data(as_text=True)
    cells = [text_of(c) for c in re.findall(r"<li data-prize-index.*?</li>", html, re.S)]
    # The mug is gone: its 10% is the miss's now (30% + 10%), not the mug's.
    assert cells[0].startswith("Coupon 60%") and cells[1].startswith(f"Mug {gone}"), cells
    assert cells[2].endswith("40%"), cells
    assert "disabled" not in button(html, "draw") and all_gone not in html
    drawers = (f"p{i}" for i in range(1000))  # one draw each: no daily limit in the way
    while shop.act(activity["id"], "draw", next(drawers)).get_json()["result"]["hit"] is False:
        pass  # until someone wins the last coupon
    html = client.get(url, headers=shop.as_("bob")).get_data(as_text=True)
    cells = [text_of(c) for c in re.findall(r"<li data-prize-index.*?</li>", html, re.S)]
    assert cells[0].startswith(f"Coupon {gone}") and cells[2].endswith("100%"), cells
    assert all_gone in text_of(html)
    assert " disabled" in button(html, "draw")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_bargain_or_group_with_no_stock_left_offers_no_buy_help_or_join(
        shop, client, configs, lang):
    sold_out = "已售罄" if lang == "zh" else "Sold out"
    config = {**configs["bargain"], "helpers_needed": 1, "cut_min": 9000, "cut_max": 9000,
              "stock": 1}
    bargain = shop.live("bargain", config)
    mine = shop.act(bargain["id"], "start", "alice").get_json()["room"]
    shop.act(bargain["id"], "help", "bob", room=mine)  # alice's bargain is at the floor
    theirs = shop.act(bargain["id"], "start", "carol").get_json()["room"]
    open_ = shop.act(bargain["id"], "start", "erin").get_json()["room"]
    shop.act(bargain["id"], "help", "dave", room=theirs)
    url = f"/s/{bargain['id']}/part?lang={lang}&room="
    html = client.get(url + mine, headers=shop.as_("alice")).get_data(as_text=True)
    assert "disabled" not in button(html, "buy")
    assert shop.act(bargain["id"], "buy", "carol", room=theirs).status_code == 200  # the last one
    html = client.get(url + mine, headers=shop.as_("alice")).get_data(as_text=True)
    assert " disabled" in button(html, "buy") and sold_out in button(html, "buy")
    html = client.get(url + open_, headers=shop.as_("frank")).get_data(as_text=True)
    assert " disabled" in button(html, "help") and sold_out in button(html, "help")

    group = shop.live("group_buy", {**configs["group_buy"], "stock": 1})
    room = shop.act(group["id"], "start", "gina").get_json()["room"]  # holds the last unit
    html = client.get(f"/s/{group['id']}/part?lang={lang}&room={room}",
                      headers=shop.as_("hank")).get_data(as_text=True)
    assert " disabled" in button(html, "join") and sold_out in button(html, "join")
    assert " disabled" in button(html, "start")


# what the engine would refuse, and what a done action says ------------------------------------

@pytest.mark.parametrize(("lang", "helped", "done"), [
    ("zh", "你已经帮砍过了", "已帮好友砍掉 {cut|money}"),
    ("en", "You have already helped this bargain", "You cut {cut|money} off your friend's price")])
def test_a_friend_who_has_helped_sees_the_engines_reason_before_tapping(
        shop, client, lang, helped, done):
    aid = shop.live("bargain")["id"]
    room = shop.act(aid, "start", "alice").get_json()["room"]
    url = f"/s/{aid}/part?lang={lang}&room={room}"
    before = button(client.get(url, headers=shop.as_("bob")).get_data(as_text=True), "help")
    assert " disabled" not in before and f'data-done="{done}"' in unescape(before)
    assert shop.act(aid, "help", "bob", room=room).status_code == 200
    after = button(client.get(url, headers=shop.as_("bob")).get_data(as_text=True), "help")
    assert " disabled" in after and helped in unescape(after)
    # Tapped anyway (an old page), the action says the same.
    refused = shop.act(aid, "help", "bob", room=room, headers={"Accept-Language": lang})
    assert refused.get_json()["message"] == helped


def test_a_phone_that_has_helped_is_told_so_on_another_account(shop, client):
    aid = shop.live("bargain")["id"]
    room = shop.act(aid, "start", "alice").get_json()["room"]
    phone = {"Magic-Cube-Device": "phone-of-bob-1"}
    assert shop.act(aid, "help", "bob", room=room, headers=phone).status_code == 200
    url = f"/s/{aid}/part?lang=en&room={room}"
    other = client.get(url, headers=shop.as_("bob2", extra=phone)).get_data(as_text=True)
    assert "This phone has already helped this bargain" in button(other, "help")
    fresh = client.get(url, headers=shop.as_("carl")).get_data(as_text=True)
    assert " disabled" not in button(fresh, "help")


@pytest.mark.parametrize("template", sorted(FIRST_PAINT))
def test_every_button_of_a_bundled_page_says_what_its_action_did(shop, client, template):
    aid = shop.live(template)["id"]
    for lang in ("zh", "en"):
        html = client.get(f"/s/{aid}?lang={lang}").get_data(as_text=True)
        actions = re.findall(r'<(?:button|form)[^>]*data-action="(\w+)"([^>]*)>', html)
        assert actions, html
        for name, attributes in actions:
            assert 'data-done="' in attributes, (template, lang, name)


def test_other_participants_names_are_masked_wherever_a_page_shows_them(shop, client, configs):
    config = {**configs["bargain"], "helpers_needed": 2}
    aid = shop.live("bargain", config)["id"]
    r = shop.client.post(f"/v1/activities/{aid}/actions/start", json={},
                         headers=shop.as_("zhang", "张三丰"))
    room = r.get_json()["room"]
    assert shop.client.post(f"/v1/activities/{aid}/actions/help", json={"room": room},
                            headers=shop.as_("ali", "Alice Lee")).status_code == 200
    for lang in ("zh", "en"):
        url = f"/s/{aid}/r/{room}?lang={lang}"
        part = f"/s/{aid}/part?room={room}&lang={lang}"
        for viewer in ("ali", "carl"):  # a friend who helped, one who has not yet
            shown = text(client.get(part, headers=shop.as_(viewer)))
            assert "张三丰" not in shown and "三丰" not in shown and "Alice" not in shown, shown
            assert "张**" in shown and "A***" in shown, shown
        first = text(client.get(url))  # the page as a share link opens it, before the token
        assert "张三丰" not in first and "Alice" not in first and "张**" in first


# gifts ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("lang", "yours", "from_"), [
    ("en", "Your gift", "A gift from"), ("zh", "你送出的礼物", "送出的礼物")])
def test_the_sender_of_a_gift_is_not_offered_to_claim_it(shop, client, lang, yours, from_):
    activity = shop.live("gift")
    room = shop.act(activity["id"], "send", "alice", params={"shares": 2}).get_json()["room"]
    url = f"/s/{activity['id']}/part?lang={lang}&room={room}"
    sender = client.get(url, headers=shop.as_("alice")).get_data(as_text=True)
    heading = text_of(re.search(r"<h2>(.*?)</h2>", sender, re.S).group(1))
    assert heading == yours and 'data-action="claim"' not in sender
    friend = client.get(url, headers=shop.as_("bob")).get_data(as_text=True)
    heading = text_of(re.search(r"<h2>(.*?)</h2>", friend, re.S).group(1))
    assert from_ in heading and "a***" in heading and heading != yours
    assert "disabled" not in button(friend, "claim")


@pytest.mark.parametrize(("lang", "said"), [("en", "At most 4 shares a gift"),
                                            ("zh", "每个礼包最多 4 份")])
def test_the_send_form_states_the_activitys_own_limit(shop, client, lang, said):
    activity = shop.live("gift", {"gift_name": "Coffee", "mode": "units", "max_shares": 4})
    html = client.get(f"/s/{activity['id']}?lang={lang}").get_data(as_text=True)
    field = re.search(r'<label class="mc-field"><span>[^<]*</span>\s*<input[^>]*name="shares".*?'
                      r"</label>", html, re.S).group(0)
    assert 'max="4"' in field and said in text_of(field), field



@pytest.mark.parametrize(("lang", "said"), [("zh", "每个礼包最多 ¥50.00"),
                                            ("en", "At most ¥50.00 a gift")])
def test_the_send_form_states_the_largest_amount_a_gift_may_hold(shop, client, lang, said):
    activity = shop.live("gift", {"gift_name": "Red packet", "mode": "amount", "max_amount": 5000})
    html = client.get(f"/s/{activity['id']}?lang={lang}").get_data(as_text=True)
    field = re.search(r'<label class="mc-field"><span>[^<]*</span>\s*<input[^>]*name="amount".*?'
                      r"</label>", html, re.S).group(0)
    assert 'max="50.0"' in field and " required" in field and said in text_of(field), field

# the participant's rooms ------------------------------------------------------------------------

def room_lists(html: str) -> dict[str, list[str]]:
    """The room lists of a page: heading -> the lines it lists."""
    return {text_of(h): [unescape(text_of(li)) for li in re.findall(r"<li>(.*?)</li>", items, re.S)]
            for h, items in re.findall(r'<h2>([^<]*)</h2>\s*<ul class="mc-links">(.*?)</ul>',
                                       html, re.S)}


def test_a_bargain_page_lists_the_bargains_started_apart_from_those_helped(shop, client,
                                                                           configs):
    activity = shop.live("bargain", {**configs["bargain"], "launches_per_participant": 2})
    aid = activity["id"]
    first = shop.act(aid, "start", "alice").get_json()["room"]
    second = shop.act(aid, "start", "alice").get_json()["room"]
    carols = shop.act(aid, "start", "carol").get_json()["room"]
    shop.act(aid, "help", "alice", room=carols)
    shop.act(aid, "help", "bob", room=first)
    html = client.get(f"/s/{aid}/part?lang=en&room={first}", headers=shop.as_("alice")).get_data(
        as_text=True)
    assert re.findall(r"<h2>(.*?)</h2>", html).count("My bargain") == 1
    lists = room_lists(html)
    # The bargain shown is not listed again; each line says where the bargain stands.
    assert lists["Bargains I started"] == ["¥100.00 · 3 more friends needed →"], lists
    assert len(lists["Bargains I helped"]) == 1
    assert re.fullmatch(r"c\*\*\*'s bargain · ¥\d+\.\d\d · open →", lists["Bargains I helped"][0])
    assert not re.search(r"#[0-9a-f]{6}", text_of(html))
    assert f'href="/s/{aid}/r/{second}"' in html and f'href="/s/{aid}/r/{carols}"' in html

    # Bob only helped: alice's bargain is not his.
    html = client.get(f"/s/{aid}/part?lang=zh", headers=shop.as_("bob")).get_data(as_text=True)
    lists = room_lists(html)
    assert list(lists) == ["我帮砍过的"], lists
    assert re.fullmatch(r"a\*\*\* 的砍价 · ¥\d+\.\d\d · 进行中 →", lists["我帮砍过的"][0])


def test_a_member_who_only_joined_is_told_what_limits_them(shop, client):
    aid = shop.live("group_buy")["id"]  # one group per participant, started or joined
    room = shop.act(aid, "start", "lena").get_json()["room"]
    assert shop.act(aid, "join", "mo", room=room).status_code == 200
    html = client.get(f"/s/{aid}/part?lang=en", headers=shop.as_("mo")).get_data(as_text=True)
    assert room_lists(html) == {"Groups I joined": ["l***'s group · 2 of 3 people · open →"]}
    start = button(html, "start")
    assert " disabled" in start and "started or joined as many groups" in start
    other = shop.act(aid, "start", "nia").get_json()["room"]
    html = client.get(f"/s/{aid}/part?lang=zh&room={other}", headers=shop.as_("mo")).get_data(
        as_text=True)
    assert " disabled" in button(html, "join") and "开团/参团次数已用完" in button(html, "join")
    html = client.get(f"/s/{aid}/part?lang=zh", headers=shop.as_("lena")).get_data(as_text=True)
    assert room_lists(html) == {"我开的团": ["2/3 人 · 进行中 →"]}


def test_a_gift_page_lists_the_gifts_sent_apart_from_those_claimed(shop, client):
    aid = shop.live("gift")["id"]
    room = shop.act(aid, "send", "sue", params={"shares": 2}).get_json()["room"]
    shop.act(aid, "claim", "tom", room=room)
    html = client.get(f"/s/{aid}/part?lang=en", headers=shop.as_("sue")).get_data(as_text=True)
    assert room_lists(html) == {"Gifts I sent": ["1 of 2 shares left · open →"]}
    html = client.get(f"/s/{aid}/part?lang=zh", headers=shop.as_("tom")).get_data(as_text=True)
    assert room_lists(html) == {"我领取的礼物": ["s*** 送出的礼物 · 进行中 →"]}


def test_the_generic_page_lists_rooms_by_where_they_stand_not_by_id(tmp_path, clock, configs):
    app = app_with(tmp_path, catalog_with(tmp_path, "cards", None, base="collect_cards"), clock)
    engine = app.extensions["magic_cube"]
    merchant, _key = engine.create_merchant("Shop")
    activity_id = engine.create_activity(merchant, "cards", configs["collect_cards"])["id"]
    engine.publish(merchant, activity_id)
    client = app.test_client()
    token = engine.participant_token(merchant, "alice")[0]
    headers = {"Authorization": f"Bearer {token}"}
    r = client.post(f"/v1/activities/{activity_id}/actions/ask", json={"params": {"card": "Plum"}},
                    headers=headers)
    assert r.status_code == 200, r.get_json()
    html = client.get(f"/s/{activity_id}/part?lang=en", headers=headers).get_data(as_text=True)
    assert room_lists(html) == {"My rooms": ["open →"]}


@pytest.mark.parametrize(("lang", "miss", "missed"), [
    ("en", "No prize", "No prize this time"), ("zh", "谢谢参与", "谢谢参与")])
def test_the_default_no_prize_text_is_in_the_pages_language(shop, client, configs, lang, miss,
                                                             missed):
    activity = shop.live("lottery")  # miss_name left to its default, 谢谢参与
    html = client.get(f"/s/{activity['id']}?lang={lang}").get_data(as_text=True)
    cell = text_of(re.search(r'<li data-prize-index="-1">(.*?)</li>', html, re.S).group(1))
    assert cell == f"{miss} 50%", cell
    assert f'data-missed="{missed}"' in button(html, "draw")
    own = shop.live("lottery", {**configs["lottery"], "miss_name": "下次好运"})
    html = client.get(f"/s/{own['id']}?lang={lang}").get_data(as_text=True)
    cell = text_of(re.search(r'<li data-prize-index="-1">(.*?)</li>', html, re.S).group(1))
    assert cell == "下次好运 50%"  # the merchant's own words, as typed
    assert 'data-missed="下次好运"' in button(html, "draw")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_generic_page_offers_no_action_either_once_ended(tmp_path, clock, configs, lang):
    app = app_with(tmp_path, catalog_with(tmp_path, "spin", None), clock)
    engine = app.extensions["magic_cube"]
    merchant, _key = engine.create_merchant("Shop")
    activity_id = engine.create_activity(merchant, "spin", configs["lottery"])["id"]
    engine.publish(merchant, activity_id)
    html = app.test_client().get(f"/s/{activity_id}?lang={lang}").get_data(as_text=True)
    assert "disabled" not in button(html, "draw")
    engine.end(merchant, activity_id)
    html = app.test_client().get(f"/s/{activity_id}?lang={lang}").get_data(as_text=True)
    assert " disabled" in button(html, "draw")
    assert CLOSED_WORDS["ended"][lang] in text_of(button(html, "draw"))
    assert "data-share" not in html


def test_the_pages_script_and_style_go_out_gzipped_and_come_back_as_304(client):
    import gzip

    plain = client.get("/s/static/page.js")
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers
    assert plain.mimetype == "text/javascript" and b"createClient" in plain.data
    zipped = client.get("/s/static/client/client.js", headers={"Accept-Encoding": "gzip, br"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert zipped.headers["Vary"] == "Accept-Encoding"
    body = gzip.decompress(zipped.data)
    assert b"export function createClient" in body and len(zipped.data) < len(body) / 2
    again = client.get("/s/static/client/client.js",
                       headers={"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    # An ETag is of one encoding's bytes: the plain one does not validate the gzipped copy.
    other = client.get("/s/static/client/client.js",
                       headers={"Accept-Encoding": "gzip", "If-None-Match": plain.headers["ETag"]})
    assert other.status_code == 200
    for path in ("/s/static/../pages.py", "/s/static/%2e%2e/pages.py", "/s/static/nothing.js",
                 "/s/static/client"):
        assert client.get(path).status_code == 404, path


@pytest.mark.parametrize(("lang", "kind", "pool"), [("zh", "类型: 优惠券", "奖池 ¥1,000.00"),
                                                    ("en", "Type: Coupon", "Pool ¥1,000.00")])
def test_the_generic_page_says_a_records_fields_and_money_as_the_merchants_form_did(
        tmp_path, clock, configs, lang, kind, pool):
    catalog_with(tmp_path, "spin", None)
    shutil.copytree(TEMPLATES / "checkin_pool", tmp_path / "templates" / "pool")
    doc = json.loads((tmp_path / "templates" / "pool" / "template.json").read_text("utf-8"))
    doc.update(id="pool", view_labels={**doc.get("view_labels", {}),
                                       "pool": {"zh": "奖池", "en": "Pool"}})
    doc["$schema"] = str(ROOT / "schemas" / "template.schema.json")
    (tmp_path / "templates" / "pool" / "template.json").write_text(json.dumps(doc), "utf-8")
    (tmp_path / "templates" / "pool" / "page.html").unlink()
    catalog = Catalog.discover([TEMPLATES, tmp_path / "templates"], entry_points=False)
    app = app_with(tmp_path, catalog, clock)
    engine = app.extensions["magic_cube"]
    merchant, _key = engine.create_merchant("Shop")
    spin = engine.create_activity(merchant, "spin", {**configs["lottery"], "prizes": [
        {"name": "Mug", "type": "coupon", "stock": 5, "odds": 10000}]})["id"]
    pooled = engine.create_activity(merchant, "pool", configs["checkin_pool"])["id"]
    for activity_id in (spin, pooled):
        engine.publish(merchant, activity_id)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {engine.participant_token(merchant, 'ann')[0]}"}
    assert client.post(f"/v1/activities/{spin}/actions/draw", headers=headers).status_code == 200
    # A prize won, a record: its fields by their labels and choices, not "Type: coupon".
    shown = text(client.get(f"/s/{spin}/part?lang={lang}", headers=headers))
    assert f"Mug {kind}" in shown and "Odds:" not in shown and "coupon ·" not in shown, shown
    # A pool the console shows in yuan is in yuan here too (it read "100000").
    assert pool in text(client.get(f"/s/{pooled}?lang={lang}"))
