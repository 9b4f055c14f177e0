"""Small image files made in the test, byte by byte (no image library): a real PNG a browser
shows, and headers of the other accepted formats. Shared by tests/test_uploads.py and
tests/test_uploads_browser.py."""

from __future__ import annotations

import base64
import struct
import zlib


def png(width: int = 8, height: int = 8, rgb: tuple[int, int, int] = (228, 57, 60)) -> bytes:
    """A valid PNG of one colour."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    row = b"\x00" + bytes(rgb) * width
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * height))
            + chunk(b"IEND", b""))


def png_header(width: int, height: int) -> bytes:
    """Only the signature and IHDR, claiming any size."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr
            + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF))


def jpeg(width: int = 20, height: int = 10, progressive: bool = False) -> bytes:
    """SOI, a JFIF APP0 segment, a fill byte, then a baseline (or progressive) frame header."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = (b"\xff" + (b"\xc2" if progressive else b"\xc0") + struct.pack(">HBHHB", 11, 8, height,
                                                                       width, 1)
           + b"\x01\x11\x00")
    return b"\xff\xd8" + app0 + b"\xff" + sof + b"\xff\xd9"


# A 1×1 GIF and a 1×1 lossless WebP (VP8L), both complete files.
GIF = base64.b64decode("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")
WEBP = base64.b64decode("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")


def webp_vp8x(width: int, height: int) -> bytes:
    """An extended WebP header (canvas size stored minus one, 24 bits each)."""
    body = (b"WEBP" + b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
            + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little"))
    return b"RIFF" + struct.pack("<I", len(body)) + body


def webp_vp8(width: int, height: int) -> bytes:
    """A lossy WebP's frame header: frame tag, start code, 14-bit width and height."""
    frame = b"\x00\x00\x00" + b"\x9d\x01\x2a" + struct.pack("<HH", width, height)
    body = b"WEBP" + b"VP8 " + struct.pack("<I", len(frame)) + frame
    return b"RIFF" + struct.pack("<I", len(body)) + body
