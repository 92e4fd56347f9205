"""Checking a frame by a trusted render of a random crop of it, with real Blender: the crop
Blender renders alone (a border render) has the pixels of the whole frame's render in that
region, within the render plugin's tolerance, wherever the crop falls; a black frame, the
frame shifted by one pixel and the next frame do not.

Run just these with `pytest -m blender`; without Blender they are skipped, saying so.
"""

from __future__ import annotations

import io
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as Picture
from PIL import ImageChops

from witengine.hub.comparing import PluginComparer
from witengine.plugins.registry import build_library
from witengine.plugins.render import plugin as render_plugin
from witengine.plugins.render import render_crop, render_frame
from witengine.plugins.render.blender import _WARM
from witengine.plugins.render.errors import RenderError
from witengine.plugins.render.types import Frame, Scene
from witengine.runtime.blobs import Blob, LocalBlobStore
from witengine.runtime.context import ActivityContext
from witengine.scheduling.cropping import choose_crop
from witengine.testing.scenes import make_sample_scene

pytestmark = [
    pytest.mark.blender,
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        shutil.which("blender") is None,
        reason="blender not installed (scripts/bootstrap.sh blender)",
    ),
]
WIDTH, HEIGHT = 160, 90


def stored(blobs: LocalBlobStore, picture: Picture.Image) -> dict[str, Any]:
    data = io.BytesIO()
    picture.save(data, "PNG")
    blob = blobs.put_bytes(data.getvalue(), "frame.png")
    return {"sha256": blob.sha256, "size": blob.size, "name": blob.name}


@pytest.fixture(scope="module", autouse=True)
def no_blender_left() -> Iterator[None]:
    yield
    _WARM.close()


async def test_a_trusted_crop_agrees_with_the_frame_and_not_with_a_black_or_shifted_one(
    tmp_path: Path,
) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    scene_file = make_sample_scene(tmp_path / "tiny.blend", frames=2, width=WIDTH, height=HEIGHT, samples=8)
    scene = Scene.from_value(blobs.put_file(scene_file))
    (tmp_path / "work").mkdir()
    here = ActivityContext(blobs, tmp_path / "work", threads=1)
    comparer = PluginComparer(build_library([render_plugin]), blobs)
    check = comparer.crop_check("Renderer.RenderFrame")
    assert check is not None and check.by == "Renderer.RenderCrop"

    frame = render_frame(here, Frame(scene, 1)).to_json()
    following = render_frame(here, Frame(scene, 2)).to_json()
    with Picture.open(blobs.path(Blob(frame["sha256"], frame["size"]))) as whole:
        black = Picture.new(whole.mode, whole.size)
        shifted = ImageChops.offset(whole, 1, 0)
        wrong = [stored(blobs, black), stored(blobs, shifted)]
    rng = random.Random(7)
    for _ in range(3):
        box = choose_crop(WIDTH, HEIGHT, check.share, rng)
        crop = render_crop(here, Frame(scene, 1), box.x, box.y, box.width, box.height)
        assert (crop.width, crop.height) == (box.width, box.height)
        assert await comparer.crop_agrees("Renderer.RenderFrame", frame, crop.to_json(), box)
        for cheat in [following, *wrong]:
            assert not await comparer.crop_agrees(
                "Renderer.RenderFrame", cheat, crop.to_json(), box
            ), (box, cheat)


def test_a_crop_outside_the_frame_fails_saying_so(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    scene_file = make_sample_scene(tmp_path / "tiny.blend", frames=1, width=WIDTH, height=HEIGHT, samples=8)
    scene = Scene.from_value(blobs.put_file(scene_file))
    (tmp_path / "work").mkdir()
    here = ActivityContext(blobs, tmp_path / "work", threads=1)
    with pytest.raises(RenderError, match=r"the crop 40x40 at \(150, 0\) is not inside"):
        render_crop(here, Frame(scene, 1), 150, 0, 40, 40)
