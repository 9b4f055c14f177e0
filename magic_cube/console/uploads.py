"""Image uploads from the config form: `POST /console/uploads`.

The form's image fields (docs/templates.md, "Image fields") post a chosen file here with
`fetch` (multipart, field `file`, the console's CSRF token) and put the answered URL in the
field. The file is checked by its content (`magic_cube.images`: PNG, JPEG, GIF or WebP, with
sane dimensions) and kept by `magic_cube.media`, which serves it at `/media/<name>`. Answers
are JSON: `201 {"url", "name", "type", "width", "height", "bytes"}`, or an error body
`{"error", "status", "message"}` whose `message` is in the console's language.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, session
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import RequestEntityTooLarge

from magic_cube.console.context import get_engine
from magic_cube.images import ImageRejected, inspect
from magic_cube.media import media_folder, url_for_name

bp = Blueprint("uploads", __name__)
ENDPOINT = "console.uploads.upload"
FORM_OVERHEAD = 16 * 1024  # the multipart framing and the CSRF token around the file


def error(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify(error=code, status=status, message=message), status


def rejection_message(code: str) -> str:
    messages = {
        "empty_file": _("The file is empty."),
        "unsupported_image_type": _("Upload a PNG, JPEG, GIF or WebP image."),
        "unreadable_image": _("The image is damaged or cut short."),
        "image_dimensions": _("The image's width or height is zero or too large."),
    }
    return messages.get(code, _("The file cannot be used as an image."))


def too_large() -> tuple[Response, int]:
    limit = get_engine().settings.upload_max_bytes
    return error(413, "upload_too_large",
                 _("The image is larger than %(size)s.", size=human_size(limit)))


def human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f}".removesuffix(".0") + " MB"
    if size >= 1024:
        return f"{size // 1024} KB"
    return f"{size} B"


def allow_upload_body() -> None:
    """The upload's body may be larger than `max_body_bytes`. A `before_request` hook of the
    console's, run before CSRF protection's, which reads the body first."""
    if request.endpoint == ENDPOINT:
        limit = int(get_engine().settings.upload_max_bytes)
        request.max_content_length = limit + FORM_OVERHEAD


@bp.post("/uploads")
def upload() -> Any:
    merchant_id = session.get("merchant_id")
    if not merchant_id or get_engine().get_merchant(merchant_id) is None:
        return error(401, "not_signed_in", _("Sign in to upload images."))
    stored = request.files.get("file")
    if stored is None:
        return error(422, "upload_missing", _("Choose an image file to upload."))
    limit = int(get_engine().settings.upload_max_bytes)
    data = stored.read(limit + 1)
    if len(data) > limit:
        return too_large()
    try:
        info = inspect(data)
    except ImageRejected as exc:
        return error(422, exc.code, rejection_message(exc.code))
    name = media_folder().save(data, info.extension)
    current_app.logger.info("image uploaded: %s (%d bytes) by merchant %s", name, len(data),
                            merchant_id)
    return jsonify(url=url_for_name(name), name=name, type=info.media_type, width=info.width,
                   height=info.height, bytes=len(data)), 201


@bp.errorhandler(RequestEntityTooLarge)
def body_too_large(_exc: RequestEntityTooLarge) -> Any:
    return too_large()


@bp.errorhandler(CSRFError)
def csrf_failed(_exc: CSRFError) -> Any:
    return error(400, "csrf_failed", _("The form has expired. Reload the page and try again."))
