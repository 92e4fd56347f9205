"""Renders from untrusted nodes, with real Blender: two honest volunteers and two cheaters, one
returning a black frame and one the frame shifted by a pixel (`witengine.testing.cheaters`
alters the file before it is uploaded), each of its own owner. A frame is committed only once a
second owner's render agrees with it within the render plugin's tolerance: every committed frame
agrees with a local render of it, and both cheaters end blocked.

Run just these with `pytest -m blender`; without Blender they are skipped, saying so.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as Picture
from volunteers import online, open_pool, reputation, volunteer

from witengine.hub.comparing import PluginComparer
from witengine.plugins.registry import build_library
from witengine.plugins.render import plugin as render_plugin
from witengine.plugins.render import render_frame
from witengine.plugins.render.blender import _WARM
from witengine.plugins.render.types import Frame, Scene
from witengine.runtime.blobs import LocalBlobStore
from witengine.runtime.context import ActivityContext
from witengine.testing.processes import ProcessFarm, free_port
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
ACTIVITY = "Renderer.RenderFrame"
FRAMES = 6
SCRIPT = """\
Job:Frames(FrameCollection:frames)
{
    ImageCollection:images = Grid.ForEach(frame in frames, ProcessingOptions("Queued"))
        => Renderer.RenderFrame(frame);
}
"""
NODE = ("--threads", "1", "--slots", "1", "--no-bench")


@pytest.fixture(scope="module", autouse=True)
def no_blender_left() -> Iterator[None]:
    yield
    _WARM.close()  # the serving Blender this process keeps for the reference renders


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[ProcessFarm]:
    farm = ProcessFarm(tmp_path, free_port())
    try:
        farm.start_hub()
        open_pool(farm)
        for owner in ("ada", "bob"):
            volunteer(farm, owner, owner, *NODE, wait=False)
        volunteer(farm, "eve-black", "eve", *NODE, cheat=("black", 1), wait=False)
        volunteer(farm, "mal-shifted", "mal", *NODE, cheat=("shifted", 2), wait=False)
        online(farm, "ada", "bob", "eve-black", "mal-shifted")
        yield farm
    finally:
        farm.stop()


def upload(farm: ProcessFarm, path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    response = farm.api("PUT", f"/blobs/{digest}", content=data, timeout=30)
    assert response.status_code in (200, 201, 204), response.text
    return {"sha256": digest, "size": len(data), "name": path.name}


async def test_frames_are_committed_only_as_two_owners_render_them(
    farm: ProcessFarm, tmp_path: Path
) -> None:
    scene_file = make_sample_scene(
        tmp_path / "tiny.blend", frames=FRAMES, width=64, height=36, samples=4
    )
    files = {"frames": [upload(farm, scene_file)]}
    answer = farm.api(
        "POST",
        "/jobs",
        json={"script": SCRIPT, "filename": "frames.wit", "files": files, "pools": ["volunteers"],
              "parameters": {"frames": f"tiny.blend@1-{FRAMES}"}},
        timeout=30,
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    job = farm.wait_done(answer.json()["id"], 150)
    assert job["status"] == "completed", job["error"]

    # Each committed frame, fetched from the hub, against a local render of the same frame.
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
        with Picture.open(blobs.path(blobs.put_bytes(fetched.content))) as picture:
            assert picture.getextrema() != ((0, 0),) * len(picture.getbands()), "a black frame"
        local = render_frame(here, Frame(scene, image["frame"]))
        assert await comparer.agree(ACTIVITY, local.to_json(), image), image
    for cheater in ("eve-black", "mal-shifted"):
        record = reputation(farm, cheater)
        assert record[ACTIVITY]["state"] == "blocked", record
    for honest in ("ada", "bob"):
        assert reputation(farm, honest)[ACTIVITY]["state"] != "blocked"
