"""What an uploaded image is, read from its bytes: PNG, JPEG, GIF or WebP, and its size.

The type is decided by the file's first bytes (its magic number), never by its name or the
Content-Type a browser sent, and the width and height are read from the format's header, so
that no image library is needed. Anything else (SVG, HTML, a PDF, random bytes) is refused:
an SVG or HTML file can carry script, and these files are served to shoppers.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAX_SIDE = 8192  # pixels, per side
MAX_PIXELS = 40_000_000  # width × height

# extension -> media type, of the formats accepted
MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "gif": "image/gif",
               "webp": "image/webp"}


class ImageRejected(ValueError):
    """The bytes are not an image we accept; `code` says why (stable, for an API answer)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(detail or code)
        self.code = code


@dataclass(frozen=True)
class ImageInfo:
    extension: str  # png, jpg, gif or webp
    width: int
    height: int

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.extension]


def inspect(data: bytes) -> ImageInfo:
    """The type and size of an image file's bytes, or `ImageRejected`:
    `empty_file`, `unsupported_image_type`, `unreadable_image` or `image_dimensions`."""
    if not data:
        raise ImageRejected("empty_file")
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        info = _png(data)
    elif data.startswith(b"\xff\xd8\xff"):
        info = _jpeg(data)
    elif data[:6] in (b"GIF87a", b"GIF89a"):
        info = _gif(data)
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        info = _webp(data)
    else:
        raise ImageRejected("unsupported_image_type")
    if not (0 < info.width <= MAX_SIDE and 0 < info.height <= MAX_SIDE) \
            or info.width * info.height > MAX_PIXELS:
        raise ImageRejected("image_dimensions", f"{info.width}×{info.height}")
    return info


def _unreadable(what: str) -> ImageRejected:
    return ImageRejected("unreadable_image", what)


def _png(data: bytes) -> ImageInfo:
    # The first chunk is IHDR: length, "IHDR", width and height (big-endian).
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise _unreadable("PNG without an IHDR chunk")
    width, height = struct.unpack(">II", data[16:24])
    return ImageInfo("png", width, height)


def _gif(data: bytes) -> ImageInfo:
    if len(data) < 10:
        raise _unreadable("GIF header cut short")
    width, height = struct.unpack("<HH", data[6:10])
    return ImageInfo("gif", width, height)


# Start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) share the range.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(data: bytes) -> ImageInfo:
    """Walk the segments after SOI up to the first start-of-frame."""
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            raise _unreadable("JPEG segment without a marker")
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # standalone markers
            at += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame header
            break
        (length,) = struct.unpack(">H", data[at + 2:at + 4])
        if length < 2:
            break
        if marker in _SOF:
            if at + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[at + 5:at + 9])
            return ImageInfo("jpg", width, height)
        at += 2 + length
    raise _unreadable("JPEG without a frame header")


def _webp(data: bytes) -> ImageInfo:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return ImageInfo("webp", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        (bits,) = struct.unpack("<I", data[21:25])
        return ImageInfo("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return ImageInfo("webp", width, height)
    raise _unreadable("WebP without a known image chunk")
