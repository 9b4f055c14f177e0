"""Image uploads from the console (`POST /console/uploads`) and their serving (`/media/<name>`),
through Flask's test client on a real SQLite file, with the images kept in tmp_path."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path
from typing import Any

import pytest
from image_files import GIF, WEBP, jpeg, png, png_header, webp_vp8, webp_vp8x
from werkzeug.datastructures import MultiDict

from magic_cube.app import create_app
from magic_cube.images import ImageRejected, inspect
from magic_cube.media import folder_path

MB = 1024 * 1024


@pytest.fixture
def upload_app(tmp_path, catalog, clock):
    app = create_app({"CATALOG": catalog, "TESTING": True, "CLOCK": clock,
                      "SETTINGS": {"database_url": f"sqlite:///{tmp_path / 'store.db'}",
                                   "upload_folder": str(tmp_path / "uploads")}})
    yield app
    app.extensions["magic_cube"].store.close()


class Browser:
    """A merchant's browser: the session cookie and the page's CSRF token."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def token(self) -> str:
        html = self.client.get("/console/login").get_data(as_text=True)
        found = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert found
        return found.group(1)

    def sign_up(self) -> None:
        r = self.client.post("/console/signup", data={
            "csrf_token": self.token(), "name": "Tea House", "email": "tea@example.com",
            "password": "correct horse"})
        assert r.status_code == 303  # on to the welcome page

    def upload(self, data: bytes, filename: str = "photo.png", *, token: bool = True,
               field: str = "file", **kw: Any) -> Any:
        form: dict[str, Any] = {field: (io.BytesIO(data), filename)}
        if token:
            form["csrf_token"] = self.token()
        return self.client.post("/console/uploads", data=form,
                                content_type="multipart/form-data", **kw)


@pytest.fixture
def anonymous(upload_app) -> Browser:
    return Browser(upload_app.test_client())


@pytest.fixture
def merchant(anonymous) -> Browser:
    anonymous.sign_up()
    return anonymous


def stored(tmp_path: Path) -> list[str]:
    folder = tmp_path / "uploads"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# what an image is ------------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "expected"), [
    (png(30, 20), ("png", 30, 20)),
    (jpeg(640, 480), ("jpg", 640, 480)),
    (jpeg(33, 44, progressive=True), ("jpg", 33, 44)),
    (GIF, ("gif", 1, 1)),
    (WEBP, ("webp", 1, 1)),
    (webp_vp8(300, 200), ("webp", 300, 200)),
    (webp_vp8x(1200, 800), ("webp", 1200, 800)),
])
def test_each_format_is_read_from_its_header(data, expected):
    info = inspect(data)
    assert (info.extension, info.width, info.height) == expected


@pytest.mark.parametrize(("data", "code"), [
    (b"", "empty_file"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
     "unsupported_image_type"),
    (b"<?xml version='1.0'?><svg/>", "unsupported_image_type"),
    (b"<!doctype html><html><script>alert(1)</script></html>", "unsupported_image_type"),
    (b"%PDF-1.7 ...", "unsupported_image_type"),
    (bytes(range(256)) * 4, "unsupported_image_type"),
    (b"\x89PNG\r\n\x1a\n", "unreadable_image"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "unreadable_image"),
    (b"GIF89a\x01", "unreadable_image"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8Z", "unreadable_image"),
    (png_header(0, 10), "image_dimensions"),
    (png_header(100_000, 10), "image_dimensions"),
    (png_header(8000, 8000), "image_dimensions"),  # each side fits, the pixels do not
])
def test_what_is_not_an_acceptable_image_is_refused_with_a_code(data, code):
    with pytest.raises(ImageRejected) as refused:
        inspect(data)
    assert refused.value.code == code


def test_the_folder_defaults_to_uploads_in_the_instance_folder(tmp_path):
    assert folder_path("", "/srv/instance") == Path("/srv/instance/uploads")
    assert folder_path("media", "/srv/instance") == Path("/srv/instance/media")
    assert folder_path(str(tmp_path), "/srv/instance") == tmp_path


# uploading -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "filename", "media_type", "size"), [
    (png(30, 20), "a.png", "image/png", (30, 20)),
    (jpeg(640, 480), "b.jpg", "image/jpeg", (640, 480)),
    (GIF, "c.gif", "image/gif", (1, 1)),
    (WEBP, "d.webp", "image/webp", (1, 1)),
])
def test_an_accepted_image_is_stored_by_content_and_served_for_a_year(
        merchant, tmp_path, data, filename, media_type, size):
    r = merchant.upload(data, filename)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    digest = hashlib.sha256(data).hexdigest()
    extension = media_type.split("/")[1].replace("jpeg", "jpg")
    assert body == {"url": f"/media/{digest}.{extension}", "name": f"{digest}.{extension}",
                    "type": media_type, "width": size[0], "height": size[1],
                    "bytes": len(data)}
    assert stored(tmp_path) == [body["name"]]

    served = merchant.client.get(body["url"])
    assert served.status_code == 200
    assert served.data == data
    assert served.mimetype == media_type
    assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert served.headers["ETag"] == f'"{digest}"'
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    again = merchant.client.get(body["url"], headers={"If-None-Match": f'"{digest}"'})
    assert again.status_code == 304 and again.data == b""


def test_the_type_comes_from_the_content_not_the_name(merchant):
    r = merchant.upload(png(4, 4), "picture.gif")
    assert r.status_code == 201 and r.get_json()["type"] == "image/png"
    assert r.get_json()["url"].endswith(".png")


def test_the_same_image_twice_is_stored_once(merchant, tmp_path):
    first = merchant.upload(png(10, 10), "one.png").get_json()
    second = merchant.upload(png(10, 10), "two.png").get_json()
    other = merchant.upload(png(10, 10, (0, 0, 255)), "three.png").get_json()
    assert first["url"] == second["url"] != other["url"]
    assert stored(tmp_path) == sorted([first["name"], other["name"]])


@pytest.mark.parametrize(("data", "filename"), [
    (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "logo.svg"),
    (b"<!doctype html><script>alert(1)</script>", "page.png"),
    (bytes(range(256)) * 8, "noise.jpg"),
    (b"PK\x03\x04 not an image", "archive.webp"),
])
def test_svg_html_and_garbage_are_refused(merchant, tmp_path, data, filename):
    r = merchant.upload(data, filename)
    assert r.status_code == 422
    assert r.get_json() == {"error": "unsupported_image_type", "status": 422,
                            "message": "Upload a PNG, JPEG, GIF or WebP image."}
    assert stored(tmp_path) == []


@pytest.mark.parametrize(("data", "code"), [
    (b"", "empty_file"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 4, "unreadable_image"),
    (png_header(20_000, 20), "image_dimensions"),
])
def test_empty_damaged_and_oversized_pictures_are_refused(merchant, tmp_path, data, code):
    r = merchant.upload(data)
    assert r.status_code == 422 and r.get_json()["error"] == code
    assert r.get_json()["message"]
    assert stored(tmp_path) == []


def test_a_post_without_a_file_is_refused(merchant):
    r = merchant.upload(png(), field="picture")
    assert r.status_code == 422 and r.get_json()["error"] == "upload_missing"


def test_a_file_over_the_limit_is_413_whether_or_not_the_body_fits(merchant, tmp_path):
    # Just over 2 MB: the body fits the request limit (file + form overhead), the file does not.
    just_over = png(4, 4) + b"\x00" * (2 * MB + 1 - len(png(4, 4)))
    r = merchant.upload(just_over)
    assert r.status_code == 413
    assert r.get_json() == {"error": "upload_too_large", "status": 413,
                            "message": "The image is larger than 2 MB."}
    # Far over: refused while the body is read, before the CSRF token is even looked at.
    r = merchant.upload(png(4, 4) + b"\x00" * (3 * MB))
    assert r.status_code == 413 and r.get_json()["error"] == "upload_too_large"
    assert stored(tmp_path) == []
    assert merchant.upload(png(4, 4) + b"\x00" * (2 * MB - 200)).status_code == 201


def test_the_limit_is_a_setting(tmp_path, catalog, clock):
    app = create_app({"CATALOG": catalog, "TESTING": True, "CLOCK": clock,
                      "SETTINGS": {"database_url": f"sqlite:///{tmp_path / 'store.db'}",
                                   "upload_folder": str(tmp_path / "uploads"),
                                   "upload_max_bytes": 1000}})
    try:
        browser = Browser(app.test_client())
        browser.sign_up()
        assert browser.upload(png(2, 2)).status_code == 201
        r = browser.upload(png(2, 2) + b"\x00" * 1000)
        assert r.status_code == 413 and r.get_json()["message"] == \
            "The image is larger than 1000 B."
    finally:
        app.extensions["magic_cube"].store.close()


def test_only_a_signed_in_merchant_uploads(anonymous, tmp_path):
    r = anonymous.upload(png())
    assert r.status_code == 401
    assert r.get_json()["error"] == "not_signed_in"
    assert stored(tmp_path) == []


def test_an_upload_without_the_csrf_token_is_refused(merchant, tmp_path):
    r = merchant.upload(png(), token=False)
    assert r.status_code == 400 and r.get_json()["error"] == "csrf_failed"
    assert stored(tmp_path) == []


def test_the_token_may_come_in_the_header_as_fetch_sends_it(merchant):
    r = merchant.client.post("/console/uploads", data={"file": (io.BytesIO(png()), "x.png")},
                             content_type="multipart/form-data",
                             headers={"X-CSRFToken": merchant.token()})
    assert r.status_code == 201


def test_errors_are_in_the_console_language(merchant):
    merchant.client.get("/console/login?lang=zh")
    r = merchant.upload(b"<svg/>", "x.svg")
    assert r.status_code == 422
    assert r.get_json()["message"] == "请上传 PNG、JPEG、GIF 或 WebP 格式的图片。"


# serving ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "0" * 64 + ".png",  # well formed, never stored
    "secret_key", "..%2Fsecret_key", "x.svg", "0" * 64 + ".svg", "0" * 63 + ".png",
])
def test_unknown_names_are_404(anonymous, name):
    assert anonymous.client.get(f"/media/{name}").status_code == 404


def test_media_is_public(merchant, upload_app):
    url = merchant.upload(png()).get_json()["url"]
    assert upload_app.test_client().get(url).status_code == 200  # no session


# the form --------------------------------------------------------------------------------------

def form_fields(html: str) -> MultiDict:
    """The form's text inputs and selects as a browser without JavaScript submits them."""
    form = html[html.index('class="activity-form"'):]
    form = form[:form.index("</form>")]
    fields: list[tuple[str, str]] = []
    for tag in re.findall(r"<input\b[^>]*>", form):
        name = re.search(r'name="([^"]+)"', tag)
        if not name or "disabled" in tag or re.search(r'type="(file|submit|checkbox|radio)"',
                                                      tag):
            continue
        value = re.search(r'value="([^"]*)"', tag)
        fields.append((name.group(1), value.group(1) if value else ""))
    for name, options in re.findall(r'<select\b[^>]*name="([^"]+)"[^>]*>(.*?)</select>', form,
                                    re.S):
        values = re.findall(r'<option value="([^"]*)"( selected)?', options)
        chosen = [v for v, on in values if on] or [v for v, _on in values[:1]]
        fields = [f for f in fields if f[0] != name] + [(name, chosen[0])]
    return MultiDict(fields)


def test_the_lottery_form_has_an_image_picker_and_saves_the_url(merchant, upload_app):
    url = merchant.upload(png(12, 12)).get_json()["url"]
    client = merchant.client
    # A new lottery's form starts with the one prize row it needs, with its image picker.
    html = client.get("/console/activities/new/lottery").get_data(as_text=True)
    picker = re.search(r'<span class="image-picker"[^>]*>', html)
    assert picker and 'data-upload-url="/console/uploads"' in picker.group(0)
    assert 'data-max-bytes="2097152"' in picker.group(0)
    assert re.search(r'<input type="file" id="field-config-prizes-0-image-file" '
                     r'accept="image/png,image/jpeg,image/gif,image/webp"', html)
    assert 'id="field-config-prizes-0-image" name="config.prizes.0.image"' in html

    data = form_fields(html)
    for key, value in {"config.prizes.0.name": "Tea", "config.prizes.0.stock": "3",
                       "config.prizes.0.odds": "100", "config.prizes.0.image": url}.items():
        data[key] = value
    data["_save"] = "1"
    r = client.post("/console/activities/new/lottery", data=data)
    assert r.status_code == 302, r.get_data(as_text=True)[:3000]
    activity_id = r.headers["Location"].split("/")[-2]
    engine = upload_app.extensions["magic_cube"]
    owner = engine.merchant_by_email("tea@example.com")
    assert engine.get_activity(owner, activity_id)["config"]["prizes"][0]["image"] == url

    edit = client.get(f"/console/activities/{activity_id}/edit").get_data(as_text=True)
    assert f'<img src="{url}"' in edit  # the thumbnail, without JavaScript too
    assert 'data-image-remove>' in edit  # a remove button while there is an image


def test_an_image_must_be_ours_or_https(merchant):
    client = merchant.client
    data = form_fields(client.get("/console/activities/new/bargain").get_data(as_text=True))
    values = {"product_name": "Tea", "original_price": "100", "floor_price": "10",
              "helpers_needed": "3", "cut_min": "10", "cut_max": "50", "stock": "5",
              "product_image": "javascript:alert(1)"}
    for key, value in values.items():
        data[f"config.{key}"] = value
    data["_save"] = "1"
    r = client.post("/console/activities/new/bargain", data=data)
    assert r.status_code == 422 or (r.status_code == 200 and "field--invalid" in r.text)
    assert 'id="field-config-product_image-error"' in r.get_data(as_text=True)


@pytest.mark.parametrize(("template", "field", "page_class"), [
    ("bargain", "product_image", "mc-product"),
    ("group_buy", "product_image", "mc-product"),
    ("gift", "gift_image", "mc-product"),
    ("lottery", "prizes.0.image", "mc-prize-image"),
])
def test_the_shopper_page_shows_the_image(merchant, upload_app, template, field, page_class):
    from activity_configs import CONFIGS

    url = merchant.upload(png(16, 16)).get_json()["url"]
    engine = upload_app.extensions["magic_cube"]
    owner = engine.merchant_by_email("tea@example.com")
    config = {**CONFIGS[template]}
    if template == "lottery":
        config["prizes"] = [{**config["prizes"][0], "image": url}]
    else:
        config[field] = url
    activity = engine.create_activity(owner, template, config)
    preview = merchant.client.get(f"/console/activities/{activity['id']}/preview?lang=zh").text
    facts = preview[preview.index('class="phone"'):]
    assert url not in facts and "image" not in facts.lower()  # a URL is no fact to read
    engine.publish(owner, activity["id"])
    page = merchant.client.get(f"/s/{activity['id']}").get_data(as_text=True)
    assert re.search(rf'<img class="{page_class}" src="{re.escape(url)}"', page)

    plain = engine.create_activity(owner, template, CONFIGS[template])
    engine.publish(owner, plain["id"])
    assert f'class="{page_class}"' not in merchant.client.get(f"/s/{plain['id']}").text


def test_a_live_image_change_reads_as_words_on_the_dashboard(merchant, upload_app):
    from activity_configs import CONFIGS

    url = merchant.upload(png(20, 20)).get_json()["url"]
    engine = upload_app.extensions["magic_cube"]
    owner = engine.merchant_by_email("tea@example.com")
    activity = engine.create_activity(owner, "bargain", CONFIGS["bargain"])
    engine.publish(owner, activity["id"])
    engine.update_activity(owner, activity["id"], {"config": {**CONFIGS["bargain"],
                                                              "product_image": url}})
    page = merchant.client.get(f"/console/activities/{activity['id']}/dashboard?lang=zh").text
    assert "商品图片: 新图片" in page
    assert url not in page
