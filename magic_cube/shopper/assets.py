"""The shopper page's script and style, compressed for phones.

A phone on a mobile network pays for every byte of the first load, and the page's script and
style compress to about a third. Each file is gzipped once and kept until it changes on disk;
a reload is answered 304 from its ETag, as Flask's own static route does. A script goes out
with its comment-only lines emptied: the comments are for the people who read the source, and
the line numbers stay, so a phone's stack trace still points at the right line.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import os
import re
import stat
from pathlib import Path
from typing import NamedTuple

from flask import Response, abort, request
from werkzeug.security import safe_join

STATIC = Path(__file__).parent / "static"


class Asset(NamedTuple):
    mtime_ns: int
    plain: bytes
    gzipped: bytes
    etag: str
    mimetype: str


_assets: dict[str, Asset] = {}
SCRIPTS = (".js", ".mjs")
_BACKTICK = re.compile(r"(?<!\\)`")


def blank_comment_lines(source: str) -> str:
    """`source` with each line that holds nothing but a comment emptied, every line kept.

    Only whole lines go, and never inside a template literal (tracked by its backticks): a
    `//` or `/*` that starts a line outside one is always a comment, and a line inside a
    block comment is one too. A comment after code stays, so no code is read as a comment.
    """
    out: list[str] = []
    in_block = in_template = False
    for line in source.split("\n"):
        text = line.strip()
        if in_block:
            end = text.find("*/")
            in_block = end == -1
            out.append("" if in_block or end + 2 == len(text) else line)
            continue
        if not in_template:
            if text.startswith("//"):
                out.append("")
                continue
            if text.startswith("/*"):
                end = text.find("*/", 2)
                in_block = end == -1
                if in_block or end + 2 == len(text):
                    out.append("")
                    continue
        if len(_BACKTICK.findall(line)) % 2:
            in_template = not in_template
        out.append(line)
    return "\n".join(out)


def load(filename: str) -> Asset | None:
    """The file under static/ (None if there is none), compressed again only once it changed."""
    path = safe_join(str(STATIC), filename)
    try:
        found = os.stat(path) if path else None
    except OSError:
        found = None
    if path is None or found is None or not stat.S_ISREG(found.st_mode):
        return None
    mtime_ns = found.st_mtime_ns
    kept = _assets.get(path)
    if kept is None or kept.mtime_ns != mtime_ns:
        plain = Path(path).read_bytes()
        if path.endswith(SCRIPTS):
            plain = blank_comment_lines(plain.decode("utf-8")).encode("utf-8")
        kept = Asset(mtime_ns, plain, gzip.compress(plain, 9, mtime=0),
                     hashlib.sha256(plain).hexdigest()[:20],
                     mimetypes.guess_type(path)[0] or "application/octet-stream")
        _assets[path] = kept
    return kept


def serve(filename: str) -> Response:
    asset = load(filename)
    if asset is None:
        abort(404)
    zipped = request.accept_encodings["gzip"] > 0
    response = Response(asset.gzipped if zipped else asset.plain, mimetype=asset.mimetype)
    if zipped:
        response.headers["Content-Encoding"] = "gzip"
    # The two encodings are different bytes, so they have different strong ETags.
    response.set_etag(f"{asset.etag}-gz" if zipped else asset.etag)
    response.headers["Vary"] = "Accept-Encoding"
    response.cache_control.no_cache = True  # kept, and asked again with its ETag: a 304
    response.make_conditional(request)
    return response
