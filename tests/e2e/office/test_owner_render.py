"""A render job whose node's owner comes back mid-frame: Blender is frozen with its batch process
(state T) and the hub shows the node suspended; when the owner leaves it goes on where it stopped,
and every frame of the job is identical, pixel for pixel, to plain Blender's."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from owners import (
    batch_processes,
    nodes,
    office_farm,
    owner_at,
    start_office_node,
    status,
    wait_frozen,
    working,
)
from test_blender_render import MISSING, pixels
from test_render_farm import FRAMES, HEIGHT, WIDTH, blenders_of, upload

from witengine.testing.processes import ProcessFarm, progress, wait_until
from witengine.testing.scenes import make_sample_scene

pytestmark = [
    pytest.mark.blender,
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        bool(MISSING),
        reason=f"{' and '.join(MISSING)} not installed (scripts/bootstrap.sh blender ffmpeg)",
    ),
]


# A frame per batch (Queued): no copy of a frame is sent to a second node near the end, so the
# frame frozen on a is a's to finish, and nothing else could have rendered it.
RENDER = """\
Job:RenderFrames(FrameCollection:frames)
{
    ImageCollection:images = Grid.ForEach(frame in frames, "Queued") => Renderer.RenderFrame(frame);
}
"""


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[ProcessFarm]:
    yield from office_farm(tmp_path)


def test_a_render_frozen_while_its_owner_is_back_goes_on_and_its_frames_are_plain_blender_s(
    farm: ProcessFarm, tmp_path: Path
) -> None:
    keyboards = {name: start_office_node(farm, name, "1h", "--threads", "1") for name in "ab"}
    working(farm, "a", "b")
    scene = make_sample_scene(
        tmp_path / "farm.blend", frames=FRAMES, width=WIDTH, height=HEIGHT, samples=16
    )
    files = {"frames": [upload(farm, scene)]}
    response = farm.api(
        "POST",
        "/jobs",
        json={
            "script": RENDER,
            "filename": "frames.wit",
            "parameters": {"frames": f"farm.blend@1-{FRAMES}"},
            "files": files,
        },
        timeout=30,
    )
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]
    wait_until(
        lambda: progress(farm, job_id) >= 1 and blenders_of(farm, "a"),
        90,
        "node a's Blender to render, a first frame back",
    )
    frozen = batch_processes(farm, "a")
    blender = [p for p in frozen if "blender" in p.name().lower()]
    assert blender, [p.name() for p in frozen]
    with owner_at(keyboards["a"]):
        took = wait_frozen(frozen, within=1.0)
        wait_until(lambda: nodes(farm)["a"]["state"] == "suspended", 2, "a shown suspended")
        time.sleep(1.0)
        assert all(status(p) == psutil.STATUS_STOPPED for p in frozen)
    awake = (psutil.STATUS_RUNNING, psutil.STATUS_SLEEPING, psutil.STATUS_DISK_SLEEP)
    wait_until(
        lambda: any(status(p) in awake for p in blender),
        5,
        "a's Blender to go on (the same process, thawed)",
    )
    job = farm.wait_done(job_id, 150)
    assert job["status"] == "completed", job.get("error")
    # The frame it was rendering stayed a's (its next one went back at once, for b).
    assert "expired" not in farm.log() and "cancelled" not in farm.log("a")
    images = job["variables"]["images"]
    assert [image["frame"] for image in images] == list(range(1, FRAMES + 1))
    plain = tmp_path / "plain"
    subprocess.run(
        [
            *("blender", "-b", str(tmp_path / "farm.blend"), "-o", str(plain / "plain_#####")),
            *("-F", "PNG", "-s", "1", "-e", str(FRAMES), "-a"),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    for image in images:
        rendered = tmp_path / f"farm_{image['frame']}.png"
        rendered.write_bytes(farm.api("GET", f"/blobs/{image['sha256']}", timeout=30).content)
        expected = pixels(plain / f"plain_{image['frame']:05d}.png", WIDTH, HEIGHT)
        assert pixels(rendered, WIDTH, HEIGHT) == expected, f"frame {image['frame']}"
    print(f"froze a's Blender {took:.2f} s after its owner's input")
