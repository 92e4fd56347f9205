"""Is a written image a whole image of the expected size? PNG is decoded far enough to know
(every chunk's checksum, the pixel data inflated to its exact length); JPEG is walked marker by
marker to its end. Pure functions of the file's bytes.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # PNG colour type -> samples per pixel
_ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)


class ImageDefect(ValueError):
    """The bytes are not a whole image of their format."""


@dataclass(frozen=True)
class ImageFacts:
    width: int
    height: int


def image_facts(data: bytes, format: str) -> ImageFacts:
    """The size of an image in `format` (PNG or JPEG); ImageDefect says what is wrong."""
    if format == "PNG":
        return png_facts(data)
    if format == "JPEG":
        return jpeg_facts(data)
    raise ImageDefect(f"cannot check images in the format {format}")


def png_facts(data: bytes) -> ImageFacts:
    if not data.startswith(PNG_SIGNATURE):
        raise ImageDefect("not a PNG file (wrong signature)")
    position = len(PNG_SIGNATURE)
    header: tuple[int, ...] | None = None
    compressed = bytearray()
    while True:
        if position + 8 > len(data):
            raise ImageDefect("the PNG file ends before its IEND chunk")
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        crc = data[position + 8 + length : position + 12 + length]
        if len(body) != length or len(crc) != 4:
            raise ImageDefect(f"the PNG chunk {kind!r} is cut short")
        if zlib.crc32(kind + body) != struct.unpack(">I", crc)[0]:
            raise ImageDefect(f"the PNG chunk {kind!r} fails its checksum")
        position += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            compressed += body
        elif kind == b"IEND":
            break
    if header is None:
        raise ImageDefect("the PNG file has no IHDR chunk")
    width, height, depth, colour, _, _, interlace = header
    if colour not in _CHANNELS or width == 0 or height == 0:
        raise ImageDefect(f"the PNG header is invalid ({width}x{height}, colour type {colour})")
    try:
        pixels = zlib.decompress(bytes(compressed))
    except zlib.error as error:
        raise ImageDefect(f"the PNG pixel data does not inflate: {error}") from None
    expected = _png_data_length(width, height, depth * _CHANNELS[colour], interlace)
    if len(pixels) != expected:
        raise ImageDefect(f"the PNG pixel data is {len(pixels)} bytes, not {expected}")
    return ImageFacts(width, height)


def _png_data_length(width: int, height: int, bits_per_pixel: int, interlace: int) -> int:
    def rows(w: int, h: int) -> int:
        return 0 if w == 0 or h == 0 else h * (1 + (w * bits_per_pixel + 7) // 8)

    if not interlace:
        return rows(width, height)
    return sum(
        rows((width - x + dx - 1) // dx, (height - y + dy - 1) // dy) for x, y, dx, dy in _ADAM7
    )


def jpeg_facts(data: bytes) -> ImageFacts:
    if not data.startswith(b"\xff\xd8"):
        raise ImageDefect("not a JPEG file (no start-of-image marker)")
    if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise ImageDefect("the JPEG file is cut short (no end-of-image marker)")
    position, size = 2, None
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        length = struct.unpack(">H", data[position + 2 : position + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            size = ImageFacts(width, height)
        if marker == 0xDA:  # start of scan: the entropy-coded data follows
            break
        position += 2 + length
    if size is None or size.width == 0 or size.height == 0:
        raise ImageDefect("the JPEG file has no frame header with a size")
    return size
