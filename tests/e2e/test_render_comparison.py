"""The hub's comparer on frames rendered by real Blender through the render plugin, as two nodes
would return them: renders with 1 and with 2 threads agree; a black frame, the frame shifted by
one pixel, another frame's pixels and a frame at far fewer samples, each passed off as the frame
asked for, do not. The figures behind the tolerance: bench/render_tolerance.py.

Run just these with `pytest -m blender`; without Blender they are skipped, saying so.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest
from PIL import Image as Picture
from PIL import ImageChops

from witengine.hub.comparing import PluginComparer
from witengine.plugins.registry import build_library
from witengine.plugins.render import plugin as render_plugin
from witengine.plugins.render import render_frame
from witengine.plugins.render.blender import _WARM
from witengine.plugins.render.types import Frame, Image, RenderOptions, Scene
from witengine.runtime.blobs import LocalBlobStore
from witengine.runtime.context import ActivityContext
from witengine.testing.scenes import make_sample_scene

pytestmark = [
    pytest.mark.blender,
    pytest.mark.timeout(120),
    pytest.mark.skipif(
        shutil.which("blender") is None,
        reason="blender not installed (scripts/bootstrap.sh blender)",
    ),
]
ACTIVITY = "Renderer.RenderFrame"


@dataclass
class Renders:
    blobs: LocalBlobStore  # the hub's, where both nodes' images arrive
    comparer: PluginComparer
    one_thread: Image  # frame 3, as every other render here
    two_threads: Image
    next_frame: Image  # frame 4
    one_sample: Image  # frame 3 at 1 sample instead of 4


@pytest.fixture(scope="module", autouse=True)
def no_blender_left() -> Iterator[None]:
    yield
    _WARM.close()  # the serving Blender this process keeps for a next batch of a scene


@pytest.fixture(scope="module")
def renders(tmp_path_factory: pytest.TempPathFactory) -> Renders:
    folder = tmp_path_factory.mktemp("comparison")
    scene_file = make_sample_scene(folder / "tiny.blend", frames=6, width=64, height=36, samples=4)
    blobs = LocalBlobStore(folder / "blobs")
    scene = Scene.from_value(blobs.put_file(scene_file))

    def node(threads: int) -> ActivityContext:
        (folder / f"work-{threads}").mkdir()
        return ActivityContext(blobs, folder / f"work-{threads}", threads=threads)

    one, two = node(1), node(2)
    return Renders(
        blobs,
        PluginComparer(build_library([render_plugin]), blobs),
        render_frame(one, Frame(scene, 3)),
        render_frame(two, Frame(scene, 3)),
        render_frame(two, Frame(scene, 4)),
        render_frame(two, Frame(scene, 3, RenderOptions(samples=1))),
    )


def passed_off(renders: Renders, pixels: Image | Picture.Image) -> Image:
    """Other pixels sent as frame 3's image: everything in the result but the file is right."""
    if isinstance(pixels, Image):
        return replace(renders.one_thread, sha256=pixels.sha256, size=pixels.size)
    data = io.BytesIO()
    pixels.save(data, "PNG")
    blob = renders.blobs.put_bytes(data.getvalue(), renders.one_thread.name)
    return replace(renders.one_thread, sha256=blob.sha256, size=blob.size)


def opened(renders: Renders, image: Image) -> Picture.Image:
    with Picture.open(renders.blobs.path(image)) as picture:
        return picture.copy()


async def agree(renders: Renders, other: Image) -> bool:
    return await renders.comparer.agree(ACTIVITY, renders.one_thread.to_json(), other.to_json())


async def test_frames_rendered_with_1_and_with_2_threads_agree(renders: Renders) -> None:
    assert renders.comparer.can_compare(ACTIVITY)
    assert await agree(renders, renders.two_threads)


async def test_a_black_frame_does_not_agree(renders: Renders) -> None:
    reference = opened(renders, renders.one_thread)
    black = Picture.new(reference.mode, reference.size)
    assert not await agree(renders, passed_off(renders, black))


async def test_the_frame_shifted_by_one_pixel_does_not_agree(renders: Renders) -> None:
    reference = opened(renders, renders.one_thread)
    moved = ImageChops.offset(reference, 1, 0)
    moved.paste(reference.crop((0, 0, 1, reference.height)), (0, 0))
    assert not await agree(renders, passed_off(renders, moved))


async def test_another_frames_pixels_do_not_agree(renders: Renders) -> None:
    assert not await agree(renders, renders.next_frame)  # its frame number alone tells
    assert not await agree(renders, passed_off(renders, renders.next_frame))


async def test_a_frame_rendered_at_far_fewer_samples_does_not_agree(renders: Renders) -> None:
    assert not await agree(renders, passed_off(renders, renders.one_sample))
