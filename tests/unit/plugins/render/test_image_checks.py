"""An image counts only if it is whole: PNG and JPEG files are checked from their bytes."""

from __future__ import annotations

import struct
import zlib

import pytest

from witengine.plugins.render.images import ImageDefect, ImageFacts, image_facts


def png(
    width: int, height: int, *, colour: int = 2, interlace: int = 0, rows: bytes | None = None
) -> bytes:
    channels = {0: 1, 2: 3, 6: 4}[colour]

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    raw = (
        rows
        if rows is not None
        else b"".join(b"\x00" + bytes(width * channels) for _ in range(height))
    )
    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, interlace)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"tEXt", b"Frame\x0001")
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def jpeg(width: int, height: int) -> bytes:
    frame_header = struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return (
        b"\xff\xd8"
        + b"\xff\xe0\x00\x04\x00\x00"
        + b"\xff\xc0"
        + frame_header
        + b"\xff\xda\x00\x02"
        + b"\x12\x34"
        + b"\xff\xd9"
    )


def test_a_whole_png_gives_its_size() -> None:
    assert image_facts(png(7, 3), "PNG") == ImageFacts(7, 3)
    assert image_facts(png(2, 2, colour=6), "PNG") == ImageFacts(2, 2)


def test_a_whole_jpeg_gives_its_size() -> None:
    assert image_facts(jpeg(640, 360), "JPEG") == ImageFacts(640, 360)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GIF89a", "not a PNG file (wrong signature)"),
        (png(4, 4)[:-20], "the PNG chunk b'IDAT' is cut short"),
        (png(4, 4)[:40] + b"X" + png(4, 4)[41:], "fails its checksum"),
        (png(4, 4, rows=b"\x00" * 10), "the PNG pixel data is 10 bytes, not 52"),
        (png(4, 4)[:-12], "the PNG file ends before its IEND chunk"),
    ],
)
def test_a_damaged_png_is_refused_with_the_reason(data: bytes, message: str) -> None:
    with pytest.raises(ImageDefect) as caught:
        image_facts(data, "PNG")

    assert message in str(caught.value)


def test_a_cut_jpeg_is_refused() -> None:
    with pytest.raises(ImageDefect, match="cut short"):
        image_facts(jpeg(8, 8)[:-2], "JPEG")
