"""Whether two nodes' results for one item agree, as each activity's plugin declares (`compare=`,
witengine.runtime.comparisons): equal JSON, images within a tolerance, or the plugin's own
function. It decides agreement only; what follows (another replica, a blocklist) is the
dispatcher's.

Image files are read from the hub's blob store, decoded with Pillow and compared in a worker
thread, as is a plugin's function: the hub's event loop never waits on either. A result that
names a file the hub lacks, or a file that is not an image, agrees with nothing: the node that
sent it cannot show its work.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageChops

from witengine.errors import ActivityError, WitError
from witengine.jsontext import canonical
from witengine.runtime.blobs import Blob, LocalBlobStore
from witengine.runtime.comparisons import Agreeing, Comparison, Exact, ImagesWithin, TrustedCrop
from witengine.runtime.library import ActivityDef, Library
from witengine.runtime.values import ConversionError
from witengine.scheduling.cropping import Crop

Json = Any
# ImagesWithin's share applies to every square of this many pixels a side, not to the image as a
# whole: a wrong patch of a large frame (or a shift, which shows only at the edges of a clean
# render) is not averaged away by the rest of it.
SQUARE = 64
_BLOB_BYTES = ("sha256", "size")  # what differs between two images of nearly the same pixels


class PluginComparer:
    """The hub's `Comparer`: each activity compared as its plugin declares; an activity that
    declares nothing cannot be compared, so it never runs where results must be verified."""

    def __init__(self, library: Library, blobs: LocalBlobStore, at_once: int = 2) -> None:
        self._library = library
        self._blobs = blobs
        # Two decoded frames and their difference per comparison: a farm's worth of them at
        # once would hold gigabytes, so at most `at_once` compare images at a time.
        self._decoding = asyncio.Semaphore(at_once)

    def can_compare(self, activity: str) -> bool:
        return self._comparison(activity) is not None

    async def agree(self, activity: str, first: Json, second: Json) -> bool:
        """Whether two results of the activity for one item agree. ActivityError when the
        activity declares no comparison, or when the plugin's function fails."""
        compare = self._comparison(activity)
        if compare is None:
            raise ActivityError(
                f"{activity}: its plugin declares no way to compare two of its results "
                "(compare=…), so it runs on trusted nodes only"
            )
        if isinstance(compare, Exact):
            return bool(canonical(first) == canonical(second))
        if isinstance(compare, TrustedCrop):
            compare = compare.within  # two whole results: a spot check's
        if isinstance(compare, ImagesWithin):
            async with self._decoding:
                return await asyncio.to_thread(self._images_agree, compare, first, second)
        definition = self._library.activities[activity]
        return await asyncio.to_thread(
            _plugin_agrees, self._library, definition, compare, first, second
        )

    def crop_check(self, activity: str) -> TrustedCrop | None:
        """How the activity's results are checked by a trusted crop, if they are."""
        compare = self._comparison(activity)
        return compare if isinstance(compare, TrustedCrop) else None

    async def crop_agrees(self, activity: str, frame: Json, crop: Json, box: Crop) -> bool:
        """Whether the image in `frame` (a result of the activity) equals, in the region `box`,
        the image in `crop` (the trusted node's render of that region) within the plugin's
        tolerance. A result with no image or more than one, an image the hub lacks, or a crop
        of another size than the box agrees with nothing."""
        check = self.crop_check(activity)
        if check is None:
            raise ActivityError(f"{activity}: its plugin declares no TrustedCrop(…) check")
        async with self._decoding:
            return await asyncio.to_thread(self._crop_within, check.within, frame, crop, box)

    async def image_size(self, result: Json) -> tuple[int, int] | None:
        """The width and height of the one image in a result, as its file says; None when the
        result holds no image or more than one, or a file the hub lacks or cannot read."""
        return await asyncio.to_thread(self._image_size, result)

    def _image_size(self, result: Json) -> tuple[int, int] | None:
        try:
            path = self._only_image(result)
            if path is None:
                return None
            with Image.open(path) as image:  # reads the header only
                return image.size
        except (OSError, ValueError, Image.DecompressionBombError):
            return None

    def _crop_within(self, tolerance: ImagesWithin, frame: Json, crop: Json, box: Crop) -> bool:
        try:
            whole, part = (self._only_image(result) for result in (frame, crop))
        except ValueError:
            return False
        if whole is None or part is None:
            return False
        difference = region_difference(whole, part, box, tolerance.level)
        return difference is not None and difference.within(tolerance)

    def _only_image(self, result: Json) -> Path | None:
        images: list[tuple[Json, Json]] = []
        _alike(result, result, images)
        if len(images) != 1:
            return None
        try:
            return self._blobs.path(Blob(str(images[0][0]["sha256"]), int(images[0][0]["size"])))
        except (WitError, TypeError, KeyError) as error:
            raise ValueError(str(error)) from error

    def _comparison(self, activity: str) -> Comparison | None:
        definition = self._library.activities.get(activity)
        return None if definition is None else definition.compare

    def _images_agree(self, tolerance: ImagesWithin, first: Json, second: Json) -> bool:
        pairs: list[tuple[Json, Json]] = []
        if not _alike(first, second, pairs):
            return False
        return all(self._within(tolerance, one, other) for one, other in pairs)

    def _within(self, tolerance: ImagesWithin, first: Json, second: Json) -> bool:
        if first["sha256"] == second["sha256"]:
            return True
        try:
            one, other = (
                self._blobs.path(Blob(str(b["sha256"]), int(b["size"]))) for b in (first, second)
            )
        except (WitError, TypeError, ValueError):
            return False
        difference = image_difference(one, other, tolerance.level)
        return difference is not None and difference.within(tolerance)


def _alike(first: Json, second: Json, images: list[tuple[Json, Json]]) -> bool:
    """Whether two results are equal but for the bytes of the files in them: their pairs of
    files are added to `images`, to be compared by their pixels."""
    if isinstance(first, dict) and isinstance(second, dict):
        if first.keys() != second.keys():
            return False
        if "sha256" in first:
            images.append((first, second))
            keys = [key for key in first if key not in _BLOB_BYTES]
        else:
            keys = list(first)
        return all(_alike(first[key], second[key], images) for key in keys)
    if isinstance(first, list) and isinstance(second, list):
        return len(first) == len(second) and all(
            _alike(one, other, images) for one, other in zip(first, second, strict=True)
        )
    return bool(canonical(first) == canonical(second))


def _plugin_agrees(
    library: Library, definition: ActivityDef, compare: Agreeing, first: Json, second: Json
) -> bool:
    returns = definition.spec.returns
    decode: Callable[[Json], Any] = (
        library.decode_dynamic if returns is None else lambda data: library.decode(data, returns)
    )
    try:
        values = decode(first), decode(second)
    except (ConversionError, KeyError, TypeError, ValueError):
        return False  # a result that is not a value of the activity's type agrees with nothing
    try:
        return bool(compare.function(*values))
    except Exception as error:  # a plugin's bug, reported with the activity's name
        raise ActivityError(
            f"{definition.name}: its compare function failed: {type(error).__name__}: {error}"
        ) from error


@dataclass(frozen=True)
class ImageDifference:
    """How far apart two images of one size are, in 8-bit channels: for each pixel, the largest
    difference of any of its channels (`counts[d]` pixels differ by d); the squared difference
    summed over every channel of every pixel; and, for the `level` it was measured at, the most
    pixels beyond it in any one square of the image (see `SQUARE`)."""

    counts: tuple[int, ...]  # 256 of them
    squared: int
    channels: int  # per pixel
    level: int
    worst_square: int

    @property
    def pixels(self) -> int:
        return sum(self.counts)

    @property
    def largest(self) -> int:
        """The largest difference of any channel of any pixel, 0 to 255."""
        return max((d for d, count in enumerate(self.counts) if count), default=0)

    def share_beyond(self, level: int) -> float:
        """The part of the pixels with a channel more than `level` apart."""
        return sum(self.counts[level + 1 :]) / self.pixels

    @property
    def psnr(self) -> float:
        """Peak signal-to-noise ratio in decibels; infinite for equal pixels."""
        if self.squared == 0:
            return math.inf
        mean = self.squared / (self.pixels * self.channels)
        return 10 * math.log10(255**2 / mean)

    def within(self, tolerance: ImagesWithin) -> bool:
        """Whether no square of the images has more than the tolerance's share of a whole
        square's pixels beyond its level."""
        if tolerance.level != self.level:
            raise ValueError(f"measured at level {self.level}, not {tolerance.level}")
        return self.worst_square <= tolerance.share * SQUARE * SQUARE


def image_difference(first: Path, second: Path, level: int) -> ImageDifference | None:
    """How far apart the images in two files are, with the squares counted beyond `level`;
    None when they differ in size or either is not an image Pillow can read. Blocks: call it in
    a worker thread."""
    try:
        with Image.open(first) as one, Image.open(second) as other:
            if one.size != other.size:
                return None
            return _difference(one, other, level)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def region_difference(frame: Path, crop: Path, box: Crop, level: int) -> ImageDifference | None:
    """How far the frame's pixels in `box` are from the crop's (an image of the box's size);
    None when the box is not inside the frame, the crop is not its size, or either file is not
    an image Pillow can read. Blocks: call it in a worker thread."""
    try:
        with Image.open(frame) as whole, Image.open(crop) as part:
            if not box.inside(*whole.size) or part.size != (box.width, box.height):
                return None
            region = whole.crop((box.x, box.y, box.x + box.width, box.y + box.height))
            return _difference(region, part, level)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def _difference(one: Image.Image, other: Image.Image, level: int) -> ImageDifference:
    mode = "RGBA" if _has_alpha(one) or _has_alpha(other) else "RGB"
    difference = ImageChops.difference(
        _eight_bits(one).convert(mode), _eight_bits(other).convert(mode)
    )
    bands = difference.split()
    largest = bands[0]
    for band in bands[1:]:
        largest = ImageChops.lighter(largest, band)
    histogram = difference.histogram()  # 256 counts per band, band after band
    squared = sum(count * (value % 256) ** 2 for value, count in enumerate(histogram))
    beyond = largest.point([0] * (level + 1) + [1] * (255 - level)).convert("F")
    return ImageDifference(
        tuple(largest.histogram()), squared, len(bands), level, _worst_square(beyond)
    )


def _worst_square(beyond: Image.Image) -> int:
    """The most 1s in any square of a 0-or-1 image (squares at its edges cut short)."""
    means = beyond.reduce(SQUARE)  # each square's mean, over the pixels it has
    width, height = beyond.size
    worst = 0.0
    for row in range(means.height):
        for column in range(means.width):
            mean = means.getpixel((column, row))
            assert isinstance(mean, float)
            area = min(SQUARE, width - column * SQUARE) * min(SQUARE, height - row * SQUARE)
            worst = max(worst, mean * area)
    return round(worst)


def _eight_bits(image: Image.Image) -> Image.Image:
    """The image with 8-bit channels. A 16-bit grey image (Blender's BW at 16 bits) would turn
    white whole if converted as it is, and any two such images would agree."""
    if image.mode.startswith("I;16") or image.mode == "I":
        return image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    return image


def _has_alpha(image: Image.Image) -> bool:
    return "A" in image.getbands() or "transparency" in image.info
