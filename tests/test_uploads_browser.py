# ruff: noqa: F811  (fixtures imported from a shared module are named as arguments)
"""Image upload in the console form, in a real browser (Debian's Chromium through Playwright,
see tests/browser.py): at 390 and 1280 px, in Chinese and English, a merchant picks an image
for a lottery prize, sees its thumbnail, saves, and the preview's shopper page shows it.
Screenshots go to test-output/screenshots/upload-*.png."""

from __future__ import annotations

from typing import Any

import pytest
from browser import DESKTOP, PHONE, LiveServer, browser, new_page, scroll_width, shot  # noqa: F401
from image_files import png

from magic_cube.app import create_app

PASSWORD = "upload-pass-1"
IMAGE = "#field-config-prizes-0-image"


@pytest.fixture(scope="module")
def server(tmp_path_factory, catalog, browser):
    folder = tmp_path_factory.mktemp("uploads")
    app = create_app({"CATALOG": catalog, "TESTING": True,
                      "SETTINGS": {"database_url": f"sqlite:///{folder / 'console.db'}",
                                   "upload_folder": str(folder / "media")}})
    running = LiveServer(app)
    yield running
    running.close()


def sign_up(page: Any, server: LiveServer, email: str) -> None:
    page.goto(f"{server.base}/console/signup")
    page.fill("#field-name", "Shop " + email.split("@")[0])
    page.fill("#field-email", email)
    page.fill("#field-password", PASSWORD)
    page.click("form.narrow-form button[type=submit]")
    assert page.input_value("#api-key").startswith("mck_")


def new_prize(page: Any, server: LiveServer) -> None:
    page.goto(f"{server.base}/console/activities/new/lottery")
    page.wait_for_selector(IMAGE)  # the form starts with the one prize row a lottery needs
    page.fill("#field-config-prizes-0-name", "Tea cup")
    page.fill("#field-config-prizes-0-stock", "10")
    page.fill("#field-config-prizes-0-odds", "5000")


def choose(page: Any, data: bytes, name: str = "prize.png", kind: str = "image/png") -> None:
    page.set_input_files(f"{IMAGE}-file", files=[{"name": name, "mimeType": kind,
                                                  "buffer": data}])


def wait_uploaded(page: Any) -> None:
    # A function, not an expression: the console's CSP forbids the eval an expression needs.
    page.wait_for_function(f"() => document.querySelector('{IMAGE}').value.startsWith('/media/')")


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["390", "1280"])
def test_upload_a_prize_image_save_and_see_it_in_the_preview(browser, server, lang, size):
    page = new_page(browser, lang, size)
    try:
        email = f"upload-{lang}-{size['width']}@example.com"
        sign_up(page, server, email)
        new_prize(page, server)
        assert page.get_attribute(IMAGE, "readonly") is not None  # the picker fills it
        assert page.locator(f"{IMAGE}-file + label").is_visible()

        choose(page, png(120, 80))
        wait_uploaded(page)
        url = page.input_value(IMAGE)
        assert url.endswith(".png")
        thumbnail = page.locator(".field--image [data-image-preview] img").first
        assert thumbnail.is_visible() and thumbnail.get_attribute("src") == url
        page.wait_for_function("img => img.complete && img.naturalWidth === 120",
                               arg=thumbnail.element_handle())
        status = page.locator(f"{IMAGE}-status").inner_text()
        assert status == ("图片已上传" if lang == "zh" else "Image uploaded")
        assert page.locator(".field--image [data-image-remove]").first.is_visible()
        assert scroll_width(page) <= size["width"]
        thumbnail.scroll_into_view_if_needed()  # at 390 px the prize table scrolls sideways
        shot(page, f"upload-form-{lang}-{size['width']}")

        # After a full-page screenshot Chromium may scroll on the next mousedown (the focused
        # odds input sits in a sideways-scrolled table), so the click would miss: focus first.
        page.focus("button[name=_save]")
        page.click("button[name=_save]")
        page.wait_for_url("**/preview")
        activity_id = page.url.split("/")[-2]
        owner = server.engine.merchant_by_email(email)
        config = server.engine.get_activity(owner, activity_id)["config"]
        assert config["prizes"][0]["image"] == url

        frame = page.frame_locator(".phone-frame iframe")
        prize = frame.locator(f"img.mc-prize-image[src='{url}']")
        prize.wait_for()
        page.wait_for_function("img => img.complete && img.naturalWidth === 120",
                               arg=prize.element_handle())
        assert scroll_width(page) <= size["width"]
        shot(page, f"upload-preview-{lang}-{size['width']}")
    finally:
        page.context.close()


def test_a_refused_file_says_why_and_remove_empties_the_field(browser, server):
    page = new_page(browser, "zh", PHONE)
    try:
        sign_up(page, server, "refused@example.com")
        new_prize(page, server)
        choose(page, b'<svg xmlns="http://www.w3.org/2000/svg"/>', "logo.svg", "image/svg+xml")
        status = page.locator(f"{IMAGE}-status")
        page.wait_for_function(f"() => document.querySelector('{IMAGE}-status').textContent !== "
                               "'正在上传…' && document.querySelector('"
                               f"{IMAGE}-status').textContent !== ''")
        assert status.inner_text() == "请上传 PNG、JPEG、GIF 或 WebP 格式的图片。"
        assert page.input_value(IMAGE) == ""
        shot(page, "upload-refused-zh-390")

        choose(page, png(10, 10))
        wait_uploaded(page)
        page.click(".field--image [data-image-remove]")
        assert page.input_value(IMAGE) == ""
        assert page.locator(".field--image [data-image-preview]").first.is_hidden()
        assert status.inner_text() == "图片已移除"
        page.click("button[name=_save]")
        page.wait_for_url("**/preview")
        activity_id = page.url.split("/")[-2]
        owner = server.engine.merchant_by_email("refused@example.com")
        prize = server.engine.get_activity(owner, activity_id)["config"]["prizes"][0]
        assert "image" not in prize
    finally:
        page.context.close()
