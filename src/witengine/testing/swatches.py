"""A plugin for tests of the dashboard: activities that make small images, as frames of a render.

`Swatch.Make(item, ms)` waits ms milliseconds and returns a PNG of one colour, named after the
item, so a test can watch thumbnails arrive without Blender. Its results compare as rendered
images do (`ImagesWithin`), so it stands in for a render on untrusted nodes too;
`Swatch.Frame(item)` stands in for an expensive frame, checked by a trusted node's
`Swatch.Crop` of it (`TrustedCrop`). Load it with
`WIT_PLUGINS=witengine.testing.swatches:plugin` on the hub and the nodes.
"""

from __future__ import annotations

import struct
import time
import zlib

from witengine import __version__
from witengine.plugins.api import ActivityContext, Blob, ImagesWithin, Int, Plugin, TrustedCrop

plugin = Plugin("swatches", version=__version__, summary="small images for dashboard tests")


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


@plugin.activity("Swatch.Make", compare=ImagesWithin())
def make(context: ActivityContext, item: Int, ms: Int = 0) -> Blob:
    """A 64x48 PNG whose colour depends on the item, named frame-NNNN.png."""
    if ms:
        time.sleep(ms / 1000)
    colour = ((item * 67) % 256, (item * 151 + 80) % 256, (item * 29 + 160) % 256)
    return context.save_bytes(png(64, 48, colour), f"frame-{item:04d}.png")


@plugin.activity("Swatch.Frame", compare=TrustedCrop(by="Swatch.Crop", share=0.1))
def swatch_frame(context: ActivityContext, item: Int) -> Blob:
    """A 64x48 PNG of one colour, as Swatch.Make's, checked by a trusted crop of it."""
    return make(context, item)


@plugin.activity("Swatch.Crop")
def swatch_crop(
    context: ActivityContext, item: Int, x: Int, y: Int, width: Int, height: Int
) -> Blob:
    """The width x height crop at (x, y) of Swatch.Frame(item): one colour too."""
    colour = ((item * 67) % 256, (item * 151 + 80) % 256, (item * 29 + 160) % 256)
    return context.save_bytes(png(width, height, colour), f"crop-{item:04d}.png")
