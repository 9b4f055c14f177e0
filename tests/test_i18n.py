"""Our own words outside the console and shopper templates: the gettext catalog of
magic_cube/translations, read through magic_cube.i18n with an explicit language."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from magic_cube import i18n
from magic_cube.catalog.errors import BUILTIN_ERRORS

ROOT = Path(__file__).resolve().parents[1]
PO_FILE = i18n.TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.po"
MO_FILE = PO_FILE.with_suffix(".mo")
BABEL_CFG = i18n.TRANSLATIONS / "babel.cfg"
KEYWORDS = {"N_": None, "gettext": (2,)}  # what DEVELOPERS.md extracts with


def test_every_message_has_a_chinese_translation():
    with PO_FILE.open("rb") as f:
        catalog = read_po(f, locale="zh")
    ids = {m.id for m in catalog if m.id}
    assert [m.id for m in catalog if m.id and not m.string] == []
    assert [m.id for m in catalog if m.id and m.fuzzy] == []
    # The catalog is up to date with the sources, and compiled.
    with BABEL_CFG.open(encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f)
    found = {msg[2] for msg in extract_from_dir(str(ROOT), method_map, options_map,
                                                keywords=KEYWORDS)}
    assert found, "the extraction found nothing: check babel.cfg"
    assert found ^ ids == set(), "run the steps in DEVELOPERS.md to update the catalog"
    with MO_FILE.open("rb") as f:
        compiled = read_mo(f)
    assert {m.id: m.string for m in compiled if m.id} == {
        m.id: m.string for m in catalog if m.id}


def test_gettext_picks_the_language_and_fills_values():
    assert i18n.gettext("zh-CN", "Must be at least {limit}", limit=3) == "不能小于 3"
    assert i18n.gettext("en", "Must be at least {limit}", limit=3) == "Must be at least 3"
    assert i18n.gettext("fr", "This field is required") == "This field is required"
    assert i18n.gettext(None, "Not in the catalog") == "Not in the catalog"


def test_builtin_errors_are_worded_in_every_language():
    assert BUILTIN_ERRORS["room_full"] == (409, {"en": "The room is full", "zh": "房间已满"})
    for _, messages in BUILTIN_ERRORS.values():
        assert set(messages) == set(i18n.LANGUAGES) and messages["zh"] != messages["en"]


def test_an_api_refusal_speaks_the_requests_language(shop, client):
    live = shop.live("lottery")
    for lang, said in (("zh-CN", "参与者令牌缺失、格式错误或被伪造"),
                       ("en", "The participant token is missing, malformed or forged")):
        r = client.get(f"/v1/activities/{live['id']}/me",
                       headers={"Authorization": "Bearer forged", "Accept-Language": lang})
        assert (r.status_code, r.get_json()["error"]) == (401, "invalid_token")
        assert r.get_json()["message"] == said, r.get_json()
    r = client.get("/v1/nowhere", headers={"Accept-Language": "zh"})
    assert r.get_json()["message"] == "接口不存在"


def test_an_activity_that_is_not_live_says_so_in_the_requests_language(shop, client):
    # The refusal a shopper meets most (an activity paused or over) is shown as it is worded.
    live = shop.live("lottery")
    assert shop.lifecycle(live["id"], "pause").status_code == 200
    token = shop.token("amy")
    for lang, said in (("zh-CN", "活动已暂停"), ("en", "The activity is paused")):
        r = client.post(f"/v1/activities/{live['id']}/actions/draw",
                        headers={"Authorization": f"Bearer {token}", "Accept-Language": lang})
        body = r.get_json()
        assert (r.status_code, body["error"]) == (409, "activity_not_live")
        assert body["message"] == said
        assert body["errors"] == {"status": [{"code": "paused", "message": said}]}
    r = client.post(f"/v1/activities/{live['id']}/actions/draw", headers={"Accept-Language": "zh"})
    assert r.get_json()["message"] == "需要参与者令牌"


@pytest.mark.parametrize("header, lang", [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
    ("zh-CN, en;q=0.9", "zh"),          # only `en` matches exactly, but `zh-CN` weighs more
    ("zh-Hans-CN", "zh"),
    ("en;q=0.5, zh-TW;q=0.9", "zh"),
    ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
    ("fr, zh;q=0.1", "zh"),
    ("zh;q=0, en;q=0.1", "en"),           # q=0: not acceptable
    ("zh;q=nan, fr", "en"),
    ("zh;q=x", "en"),
    ("", "en"), (None, "en"), ("*", "en"), (";;,,=", "en"),
])
def test_one_negotiation_of_accept_language_serves_the_api_console_and_pages(
        client, shop, header, lang):
    assert i18n.negotiate(header) == lang
    headers = {} if header is None else {"Accept-Language": header}
    activity = shop.live("lottery")["id"]
    api = client.get("/v1/merchant/activities/nope", headers={**shop.headers, **headers})
    assert api.get_json()["message"] == i18n.gettext(lang, "No such activity")
    page = client.get(f"/s/{activity}", headers=headers).get_data(as_text=True)
    assert f'<html lang="{lang}' in page
    console = client.get("/console/login", headers=headers).get_data(as_text=True)
    assert f'<html lang="{lang}' in console
