"""Uploaded images: kept by content in a folder, served at `/media/<name>`.

A file's name is the SHA-256 of its bytes and the extension of its type
(`3a7bd3e2….png`): the same image uploaded twice is stored once, a name never changes what it
shows, so it is served with a year-long, immutable cache lifetime and its hash as the ETag.
The folder is the setting `upload_folder` (relative: inside the instance folder), by default
`instance/uploads/`, created when first needed. Uploads are files, not activity data: they do
not go through the engine or the store.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from pathlib import Path

from flask import Blueprint, Flask, Response, abort, current_app, send_file

from magic_cube.images import MEDIA_TYPES

EXTENSION = "magic_cube.media"
NAME = re.compile(r"^([0-9a-f]{64})\.(png|jpg|gif|webp)$")
CACHE_FOREVER = "public, max-age=31536000, immutable"

bp = Blueprint("media", __name__)


class MediaFolder:
    """A folder of content-addressed files."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def save(self, data: bytes, extension: str) -> str:
        """Store `data` (once) and answer its name."""
        if extension not in MEDIA_TYPES:
            raise ValueError(f"unknown extension {extension!r}")
        name = f"{hashlib.sha256(data).hexdigest()}.{extension}"
        target = self.path / name
        if target.exists():
            return name
        self.path.mkdir(parents=True, exist_ok=True)
        draft = self.path / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
        with open(draft, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # A file appears whole under its name; a concurrent upload of the same bytes wrote the
        # same content, so whichever rename lands last changes nothing.
        os.replace(draft, target)
        return name

    def find(self, name: str) -> Path | None:
        """The file of a well-formed, stored name, else None."""
        if not NAME.match(name):
            return None
        path = self.path / name
        return path if path.is_file() else None


def folder_path(setting: str, instance_path: str) -> Path:
    """The `upload_folder` setting as a path (empty: `uploads` in the instance folder)."""
    path = Path(setting or "uploads")
    return path if path.is_absolute() else Path(instance_path) / path


def media_folder() -> MediaFolder:
    return current_app.extensions[EXTENSION]


def url_for_name(name: str) -> str:
    return f"/media/{name}"


@bp.get("/media/<name>")
def file(name: str) -> Response:
    path = media_folder().find(name)
    match = NAME.match(name)
    if path is None or match is None:
        abort(404)
    response = send_file(path, mimetype=MEDIA_TYPES[match.group(2)], conditional=True,
                         etag=match.group(1), max_age=31536000)
    response.headers["Cache-Control"] = CACHE_FOREVER
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def init_app(app: Flask) -> None:
    """Serve `/media/…` from the folder the settings name (`app.extensions["magic_cube"]`)."""
    settings = app.extensions["magic_cube"].settings
    app.extensions[EXTENSION] = MediaFolder(folder_path(settings.upload_folder,
                                                        app.instance_path))
    if "media" not in app.blueprints:
        app.register_blueprint(bp)
