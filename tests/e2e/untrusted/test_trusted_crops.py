"""Checking a frame by a trusted render of a random crop of it, with real Blender: the crop
Blender renders alone (a border render) has the pixels of the whole frame's render in that
region, within the render plugin's tolerance, wherever the crop falls; a black frame, the
frame shifted by one pixel and the next frame do not. And on a real farm: a hub, a trusted
node, one honest volunteer and two cheaters of other owners (a black frame, a frame shifted by
a pixel), every frame expensive enough to be checked by a crop. With one honest owner only no
frame can be verified by a second owner's render: the job completes by crops alone, every
committed frame agrees with a local render, and both cheaters end blocked.

Run just these with `pytest -m blender`; without Blender they are skipped, saying so.
"""

from __future__ import annotations

import hashlib
import io
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as Picture
from PIL import ImageChops
from volunteers import POOL, online, open_pool, reputation, volunteer

from witengine.hub.comparing import PluginComparer
from witengine.plugins.registry import build_library
from witengine.plugins.render import plugin as render_plugin
from witengine.plugins.render import render_crop, render_frame
from witengine.plugins.render.blender import _WARM, render_frames
from witengine.plugins.render.errors import RenderError
from witengine.plugins.render.types import Frame, Image, Scene
from witengine.runtime.blobs import Blob, LocalBlobStore
from witengine.runtime.context import ActivityContext
from witengine.scheduling.cropping import choose_crop
from witengine.testing.processes import ProcessFarm, free_port
from witengine.testing.scenes import make_sample_scene

pytestmark = [
    pytest.mark.blender,
    pytest.mark.slow,
    pytest.mark.timeout(300),
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
    scene_file = make_sample_scene(
        tmp_path / "tiny.blend", frames=2, width=WIDTH, height=HEIGHT, samples=8
    )
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
    scene_file = make_sample_scene(
        tmp_path / "tiny.blend", frames=1, width=WIDTH, height=HEIGHT, samples=8
    )
    scene = Scene.from_value(blobs.put_file(scene_file))
    (tmp_path / "work").mkdir()
    here = ActivityContext(blobs, tmp_path / "work", threads=1)
    with pytest.raises(RenderError, match=r"the crop 40x40 at \(150, 0\) is not inside"):
        render_crop(here, Frame(scene, 1), 150, 0, 40, 40)


ACTIVITY = "Renderer.RenderFrame"
FRAMES = 4
SCRIPT = """\
Job:Frames(FrameCollection:frames)
{
    ImageCollection:images = Grid.ForEach(frame in frames, ProcessingOptions("Queued"))
        => Renderer.RenderFrame(frame);
}
"""
NODE = ("--threads", "1", "--slots", "1", "--no-bench")


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[ProcessFarm]:
    farm = ProcessFarm(tmp_path, free_port())
    try:
        farm.start_hub()
        open_pool(farm)
        farm.start_node("studio", *NODE)  # the hub's own pool: trusted
        volunteer(farm, "ada", "ada", *NODE, wait=False)
        volunteer(farm, "eve-black", "eve", *NODE, cheat=("black", 1), wait=False)
        volunteer(farm, "mal-shifted", "mal", *NODE, cheat=("shifted", 2), wait=False)
        online(farm, "studio", "ada", "eve-black", "mal-shifted")
        yield farm
    finally:
        farm.stop()


def upload(farm: ProcessFarm, path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    response = farm.api("PUT", f"/blobs/{digest}", content=data, timeout=30)
    assert response.status_code in (200, 201, 204), response.text
    return {"sha256": digest, "size": len(data), "name": path.name}


async def test_volunteers_frames_are_committed_by_trusted_crops_and_cheaters_are_caught(
    farm: ProcessFarm, tmp_path: Path
) -> None:
    # 64 x 36 pixels at 512 samples: 1.2 million pixel-samples, checked by a crop.
    scene_file = make_sample_scene(
        tmp_path / "costly.blend", frames=FRAMES, width=64, height=36, samples=512
    )
    files = {"frames": [upload(farm, scene_file)]}
    answer = farm.api(
        "POST",
        "/jobs",
        json={"script": SCRIPT, "filename": "frames.wit", "files": files, "pools": [POOL],
              "parameters": {"frames": f"costly.blend@1-{FRAMES}"}},
        timeout=30,
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    job = farm.wait_done(answer.json()["id"], 150)
    assert job["status"] == "completed", job["error"]

    blobs = LocalBlobStore(tmp_path / "blobs")
    comparer = PluginComparer(build_library([render_plugin]), blobs)
    scene = Scene.from_value(blobs.put_file(scene_file))
    (tmp_path / "work").mkdir()
    here = ActivityContext(blobs, tmp_path / "work", threads=1)
    images = job["variables"]["images"]
    assert [image["frame"] for image in images] == list(range(1, FRAMES + 1))
    for image in images:
        fetched = farm.api("GET", f"/blobs/{image['sha256']}", timeout=30)
        assert fetched.status_code == 200
        blobs.put_bytes(fetched.content)
    # Every committed frame against a local render of it (one Blender process for them all).
    local = dict(render_frames(here, [Frame(scene, image["frame"]) for image in images]))
    for position, image in enumerate(images):
        assert isinstance(local[position], Image), local[position]
        assert await comparer.agree(ACTIVITY, local[position].to_json(), image), image
    for cheater in ("eve-black", "mal-shifted"):
        assert reputation(farm, cheater)[ACTIVITY]["state"] == "blocked"
    honest = reputation(farm, "ada")[ACTIVITY]
    assert honest["state"] != "blocked" and honest["accepted"] >= 1, honest
