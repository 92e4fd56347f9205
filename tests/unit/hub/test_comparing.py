"""The hub's comparer: two nodes' results for one item agree as the activity's plugin declares,
equal JSON, images within a tolerance (real image files in a real blob store, made with Pillow
here; rendered by Blender in tests/e2e/test_render_comparison.py) or the plugin's function; an
activity that declares nothing cannot be compared."""

from __future__ import annotations

import asyncio
import io
import math
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from witengine.errors import ActivityError
from witengine.hub.comparing import PluginComparer, image_difference
from witengine.plugins.api import EXACT, ImagesWithin, Int, Plugin, TrustedCrop
from witengine.plugins.registry import build_library
from witengine.runtime.blobs import LocalBlobStore
from witengine.scheduling.cropping import Crop

WIDTH, HEIGHT = 40, 25  # one square (SQUARE is 64) that may have 4 pixels apart at 0.001


def demo_plugin() -> Plugin:
    plugin = Plugin("demo", version="1.0")

    @plugin.activity("Demo.Exact", compare=EXACT)
    def exact(n: Int) -> object:
        return n

    @plugin.activity("Demo.Picture", compare=ImagesWithin(level=2, share=0.001))
    def picture(n: Int) -> object:
        return n

    @plugin.activity("Demo.Parity", compare=lambda first, second: first % 2 == second % 2)
    def parity(n: Int) -> Int:
        return n

    @plugin.activity("Demo.Broken", compare=lambda first, second: first / 0 > 1)
    def broken(n: Int) -> Int:
        return n

    @plugin.activity("Demo.Costly", compare=TrustedCrop(by="Demo.Crop", share=0.1))
    def costly(n: Int) -> object:
        return n

    @plugin.activity("Demo.Unchecked")
    def unchecked(n: Int) -> Int:
        return n

    return plugin


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


@pytest.fixture
def comparer(blobs: LocalBlobStore) -> PluginComparer:
    return PluginComparer(build_library([demo_plugin()]), blobs)


def gradient(width: int = WIDTH, height: int = HEIGHT, mode: str = "RGB") -> Image.Image:
    image = Image.new(mode, (width, height))
    image.putdata(
        [
            (x * 6 % 256, y * 10 % 256, (x + y) * 3 % 256, 255)[: len(mode)]
            for y in range(height)
            for x in range(width)
        ]
    )
    return image


def changed(image: Image.Image, pixels: int, by: int) -> Image.Image:
    """The image with its first `pixels` pixels' red channel raised by `by`."""
    copy = image.copy()
    for index in range(pixels):
        x, y = index % image.width, index // image.width
        red, *rest = copy.getpixel((x, y))  # type: ignore[misc]
        copy.putpixel((x, y), (min(red + by, 255), *rest))
    return copy


def stored(blobs: LocalBlobStore, image: Image.Image, frame: int = 3, **options: Any) -> Any:
    """An image file in the blob store, as a render result's JSON (an Image of the render
    plugin: a blob with its frame number and size)."""
    data = io.BytesIO()
    image.save(data, "PNG", **options)
    blob = blobs.put_bytes(data.getvalue(), f"frame_{frame:05d}.png")
    return {
        "sha256": blob.sha256,
        "size": blob.size,
        "name": blob.name,
        "frame": frame,
        "width": image.width,
        "height": image.height,
    }


async def test_exact_results_agree_when_they_are_the_same_json(comparer: PluginComparer) -> None:
    assert await comparer.agree("Demo.Exact", {"a": 1, "b": [1, 2]}, {"b": [1, 2], "a": 1})
    assert not await comparer.agree("Demo.Exact", {"a": 1, "b": [1, 2]}, {"a": 1, "b": [2, 1]})
    assert not await comparer.agree("Demo.Exact", 1, 1.5)
    assert await comparer.agree("Demo.Exact", None, None)


async def test_only_activities_that_declare_a_comparison_can_be_compared(
    comparer: PluginComparer,
) -> None:
    assert comparer.can_compare("Demo.Exact") and comparer.can_compare("Demo.Picture")
    assert comparer.can_compare("Demo.Parity")
    assert not comparer.can_compare("Demo.Unchecked")
    assert not comparer.can_compare("Demo.Nowhere")
    with pytest.raises(ActivityError, match=r"^Demo.Unchecked: its plugin declares no way to"):
        await comparer.agree("Demo.Unchecked", 1, 1)


async def test_a_plugins_function_compares_the_results_as_python_values(
    comparer: PluginComparer,
) -> None:
    assert await comparer.agree("Demo.Parity", 2, 4)
    assert not await comparer.agree("Demo.Parity", 2, 3)
    assert not await comparer.agree("Demo.Parity", 2, "two")  # not an Int: agrees with nothing


async def test_a_failing_comparison_function_is_an_error_naming_the_activity(
    comparer: PluginComparer,
) -> None:
    with pytest.raises(
        ActivityError, match=r"^Demo.Broken: its compare function failed: ZeroDivisionError"
    ):
        await comparer.agree("Demo.Broken", 1, 1)


async def test_images_of_the_same_pixels_agree_whatever_their_files_bytes(
    comparer: PluginComparer, blobs: LocalBlobStore
) -> None:
    first = stored(blobs, gradient())
    second = stored(blobs, gradient(), compress_level=1)  # other bytes, the same pixels
    assert first["sha256"] != second["sha256"]
    assert await comparer.agree("Demo.Picture", first, second)


async def test_images_agree_up_to_the_share_of_pixels_beyond_the_level(
    comparer: PluginComparer, blobs: LocalBlobStore
) -> None:
    first = stored(blobs, gradient())
    assert await comparer.agree("Demo.Picture", first, stored(blobs, changed(gradient(), 999, 2)))
    assert await comparer.agree("Demo.Picture", first, stored(blobs, changed(gradient(), 4, 3)))
    assert not await comparer.agree("Demo.Picture", first, stored(blobs, changed(gradient(), 5, 3)))


def spread(image: Image.Image, points: list[tuple[int, int]]) -> Image.Image:
    """The image with the pixels at `points` turned white."""
    copy = image.copy()
    for point in points:
        copy.putpixel(point, (255, 255, 255))
    return copy


async def test_the_share_holds_in_every_square_so_a_wrong_patch_is_not_averaged_away(
    comparer: PluginComparer, blobs: LocalBlobStore
) -> None:
    large = gradient(640, 640)  # 100 squares; 0.001 of the whole would be 409 pixels
    first = stored(blobs, large)
    patch = [(x, y) for x in range(10, 15) for y in range(10, 15)]  # 25 pixels in one square
    scattered = [(64 * (n % 10) + 5, 64 * (n // 10) + 5) for n in range(25)]  # 1 per square
    assert not await comparer.agree("Demo.Picture", first, stored(blobs, spread(large, patch)))
    assert await comparer.agree("Demo.Picture", first, stored(blobs, spread(large, scattered)))


async def test_a_square_cut_short_at_the_edge_may_differ_as_much_as_a_whole_one(
    comparer: PluginComparer, blobs: LocalBlobStore
) -> None:
    image = gradient(70, 64)  # a whole square and one 6 pixels wide
    edge = [(69, y) for y in range(4)]
    first = stored(blobs, image)
    assert await comparer.agree("Demo.Picture", first, stored(blobs, spread(image, edge)))
    more = [*edge, (68, 0)]
    assert not await comparer.agree("Demo.Picture", first, stored(blobs, spread(image, more)))


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(lambda: Image.new("RGB", (WIDTH, HEIGHT)), id="black"),
        pytest.param(
            lambda: gradient().transform(
                gradient().size, Image.Transform.AFFINE, (1, 0, -1, 0, 1, 0)
            ),
            id="shifted",
        ),
        pytest.param(lambda: gradient(WIDTH, HEIGHT + 1), id="taller"),
        pytest.param(
            lambda: gradient(mode="RGBA").transpose(Image.Transpose.FLIP_LEFT_RIGHT), id="mirrored"
        ),
    ],
)
async def test_images_apart_do_not_agree(
    comparer: PluginComparer, blobs: LocalBlobStore, other: Any
) -> None:
    first = stored(blobs, gradient())
    assert not await comparer.agree("Demo.Picture", first, stored(blobs, other()))


async def test_the_rest_of_a_result_holding_images_must_be_equal(
    comparer: PluginComparer, blobs: LocalBlobStore
) -> None:
    first, second = stored(blobs, gradient(), frame=3), stored(blobs, gradient(), frame=4)
    assert not await comparer.agree("Demo.Picture", first, second)
    assert not await comparer.agree("Demo.Picture", first, {**first, "width": 41})
    assert not await comparer.agree("Demo.Picture", first, {**first, "extra": 1})
    assert not await comparer.agree("Demo.Picture", [first, first], [first])
    assert await comparer.agree("Demo.Picture", [first, {"n": 1}], [first, {"n": 1}])


async def test_a_result_naming_a_file_that_is_missing_or_no_image_agrees_with_nothing(
    comparer: PluginComparer, blobs: LocalBlobStore
) -> None:
    first = stored(blobs, gradient())
    text = blobs.put_bytes(b"not an image", "frame_00003.png")
    not_image = {**first, "sha256": text.sha256, "size": text.size}
    missing = {**first, "sha256": "0" * 64}
    assert not await comparer.agree("Demo.Picture", first, not_image)
    assert not await comparer.agree("Demo.Picture", missing, first)
    assert not await comparer.agree("Demo.Picture", first, {**first, "sha256": "no digest"})


def test_the_difference_of_two_images_counts_pixels_by_their_largest_channel_difference(
    tmp_path: Path,
) -> None:
    one, other = tmp_path / "one.png", tmp_path / "other.png"
    gradient().save(one)
    changed(gradient(), 10, 5).save(other)
    difference = image_difference(one, other, 4)
    assert difference is not None
    assert (difference.pixels, difference.largest) == (1000, 5)
    assert difference.share_beyond(4) == 0.01 and difference.share_beyond(5) == 0
    assert difference.squared == 10 * 25
    assert (difference.level, difference.worst_square) == (4, 10)
    assert difference.psnr == pytest.approx(10 * math.log10(255**2 / (250 / 3000)))
    same = image_difference(one, one, 4)
    assert same is not None and same.psnr == math.inf and same.largest == 0


async def test_many_comparisons_at_once_each_get_their_own_answer(
    comparer: PluginComparer, blobs: LocalBlobStore
) -> None:
    first = stored(blobs, gradient())
    near, far = stored(blobs, changed(gradient(), 1, 9)), stored(blobs, changed(gradient(), 9, 9))
    answers = await asyncio.gather(
        *(comparer.agree("Demo.Picture", first, near if n % 2 else far) for n in range(10))
    )
    assert answers == [n % 2 == 1 for n in range(10)]


async def test_16_bit_grey_images_are_compared_by_their_pixels_not_turned_white(
    comparer: PluginComparer, blobs: LocalBlobStore
) -> None:
    def grey(offset: int) -> Image.Image:  # 16-bit grey, as Blender writes BW at 16 bits
        image = Image.new("I;16", (WIDTH, HEIGHT))
        image.putdata(
            [(x * 1000 + y * 300 + offset) % 65536 for y in range(HEIGHT) for x in range(WIDTH)]
        )
        return image

    first = stored(blobs, grey(0))
    assert await comparer.agree("Demo.Picture", first, stored(blobs, grey(300)))  # 1 of 255
    assert not await comparer.agree("Demo.Picture", first, stored(blobs, grey(20000)))


FRAME = 160, 90  # several 64x64 squares
BOX = Crop(50, 20, 48, 30)


def region(image: Image.Image, box: Crop = BOX) -> Image.Image:
    return image.crop((box.x, box.y, box.x + box.width, box.y + box.height))


async def test_a_frame_agrees_with_a_trusted_crop_of_it_within_the_tolerance(
    comparer: PluginComparer, blobs: LocalBlobStore
) -> None:
    frame = gradient(*FRAME)
    whole = stored(blobs, frame)
    assert comparer.crop_check("Demo.Costly") == TrustedCrop(by="Demo.Crop", share=0.1)
    assert comparer.crop_check("Demo.Picture") is None
    crop = stored(blobs, changed(region(frame), 4, 9))  # another machine's rounding
    assert await comparer.crop_agrees("Demo.Costly", whole, crop, BOX)
    # Two whole frames (a spot check's) are compared within the same tolerance.
    assert await comparer.agree("Demo.Costly", whole, stored(blobs, changed(frame, 4, 9)))
    assert not await comparer.agree("Demo.Costly", whole, stored(blobs, changed(frame, 5, 9)))


async def test_a_black_shifted_or_wrong_sized_frame_disagrees_with_the_crop(
    comparer: PluginComparer, blobs: LocalBlobStore
) -> None:
    frame = gradient(*FRAME)
    crop = stored(blobs, region(frame))
    shifted = Image.new("RGB", FRAME)
    shifted.paste(frame, (1, 0))
    for wrong in (
        Image.new("RGB", FRAME),
        shifted,
        changed(frame, 60 * 160, 9),
        frame.resize((80, 45)),
    ):
        assert not await comparer.crop_agrees("Demo.Costly", stored(blobs, wrong), crop, BOX)
    whole = stored(blobs, frame)
    # A crop of another size than asked, a box outside the frame, a crop the hub lacks.
    assert not await comparer.crop_agrees(
        "Demo.Costly", whole, stored(blobs, region(frame, Crop(50, 20, 48, 29))), BOX
    )
    assert not await comparer.crop_agrees("Demo.Costly", whole, crop, Crop(130, 20, 48, 30))
    assert not await comparer.crop_agrees("Demo.Costly", whole, {**crop, "sha256": "0" * 64}, BOX)
    assert not await comparer.crop_agrees("Demo.Costly", [whole, whole], crop, BOX)
    with pytest.raises(ActivityError, match=r"Demo\.Picture: its plugin declares no TrustedCrop"):
        await comparer.crop_agrees("Demo.Picture", whole, crop, BOX)
