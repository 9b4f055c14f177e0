# ruff: noqa: F811  (fixtures imported from a shared module are named as arguments)
"""Sharing from the console (Flask's test client): the shopper page's link and QR code, the
poster, the shopper page in the preview's phone frame, and who brought whom."""

from __future__ import annotations

import re

import pytest
import segno
from test_console import signed_in, text_of, web, web_app  # noqa: F401  (fixtures)

from magic_cube.engine import Participant


def test_the_share_page_gives_the_link_its_qr_code_and_a_poster(signed_in):
    activity_id = signed_in.live("lottery")
    r = signed_in.get(f"/console/activities/{activity_id}/share?lang=en")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    link = f"http://localhost/s/{activity_id}"
    assert f'value="{link}"' in html
    assert "<svg" in html and "Who brought whom" in html

    svg = signed_in.get(f"/console/activities/{activity_id}/qr.svg")
    assert svg.mimetype == "image/svg+xml" and "attachment" in svg.headers["Content-Disposition"]
    png = signed_in.get(f"/console/activities/{activity_id}/qr.png")
    assert png.mimetype == "image/png" and png.data.startswith(b"\x89PNG")
    # The QR code holds exactly the link (segno makes the same symbol from the same text).
    expected = segno.make(link, error="m", micro=False)
    size = expected.symbol_size(scale=10, border=2)[0]
    body = svg.get_data(as_text=True)
    assert f'width="{size}"' in body and f"<title>{link}</title>" in body

    poster = signed_in.get(f"/console/activities/{activity_id}/poster.svg?lang=zh")
    text = poster.get_data(as_text=True)
    assert poster.mimetype == "image/svg+xml"
    assert "Tea House" in text and "扫码参与" in text and link in text


def test_the_share_page_counts_who_brought_whom(signed_in):
    activity_id = signed_in.live("lottery")
    engine = signed_in.engine
    code = engine.share(activity_id, Participant("amy", "Amy"))["code"]
    engine.act(activity_id, "draw", Participant("amy", "Amy"))
    engine.act(activity_id, "draw", Participant("ben", "Ben"), via=code)
    engine.open_share(code)
    page = text_of(signed_in.get(f"/console/activities/{activity_id}/share?lang=zh")
                   .get_data(as_text=True))
    assert "谁带来了谁" in page and "A***" in page and "Amy" not in page
    assert re.search(r"受邀参与者\s*1", page) and re.search(r"链接打开次数\s*1", page)


def test_the_preview_shows_the_shopper_page_in_a_phone_frame(signed_in):
    activity_id = signed_in.create("bargain")  # a draft
    html = signed_in.get(f"/console/activities/{activity_id}/preview").get_data(as_text=True)
    frame = re.search(r'<iframe src="([^"]+)"', html)
    assert frame, "the phone frame"
    src = frame.group(1).replace("&amp;", "&")
    assert f"/s/{activity_id}?preview=" in src
    shown = signed_in.client.get(src.removeprefix("http://localhost"))
    assert shown.status_code == 200
    assert re.search(r'data-action="start"[^>]*disabled', shown.get_data(as_text=True))


@pytest.mark.parametrize(("lang", "banner"), [("zh", "预览"), ("en", "Preview")])
def test_the_phone_frame_speaks_the_consoles_language(signed_in, lang, banner):
    """The shopper page in the frame follows the console's language, not the browser's."""
    activity_id = signed_in.create("bargain")
    for page in ("preview", "share"):
        html = signed_in.get(f"/console/activities/{activity_id}/{page}?lang={lang}",
                             headers={"Accept-Language": "en" if lang == "zh" else "zh"}
                             ).get_data(as_text=True)
        src = re.search(r'<iframe src="([^"]+)"', html).group(1).replace("&amp;", "&")
        shown = signed_in.client.get(src.removeprefix("http://localhost"),
                                     headers={"Accept-Language": "en" if lang == "zh" else "zh"})
        assert banner in shown.get_data(as_text=True), page


def test_another_merchants_share_page_is_404(signed_in, engine):
    other, _ = engine.create_merchant("Rival")
    theirs = engine.create_activity(other, "lottery", {
        "prizes": [{"name": "Mug", "type": "physical", "stock": 1, "odds": 100}],
        "draws_per_day": 1, "draws_total": 1})
    for path in ("share", "qr.svg", "qr.png", "poster.svg"):
        assert signed_in.get(f"/console/activities/{theirs['id']}/{path}").status_code == 404
