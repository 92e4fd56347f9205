"""Rendering on a real farm of processes: a hub and two nodes on loopback, one of them killed
(SIGKILL, Blender with it) while it renders its batch. No frame is lost: every frame comes back
once, in order, and the video has them all.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from witengine.testing.processes import ProcessFarm, free_port, progress, wait_until
from witengine.testing.scenes import make_sample_scene

REPO = Path(__file__).resolve().parents[2]
MISSING = [tool for tool in ("blender", "ffmpeg", "ffprobe") if shutil.which(tool) is None]
pytestmark = [
    pytest.mark.blender,
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        bool(MISSING),
        reason=f"{' and '.join(MISSING)} not installed (scripts/bootstrap.sh blender ffmpeg)",
    ),
]
FRAMES, WIDTH, HEIGHT = 12, 96, 54


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[ProcessFarm]:
    farm = ProcessFarm(tmp_path, free_port())
    try:
        farm.start_hub()
        for name in ("a", "b"):
            farm.start_node(name, "--threads", "1", "--slots", "1", "--no-bench")
        wait_until(lambda: farm.online() == ["a", "b"], 60, "both nodes to connect")
        yield farm
    finally:
        farm.stop()


def upload(farm: ProcessFarm, path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    response = farm.api("PUT", f"/blobs/{digest}", content=data, timeout=30)
    assert response.status_code in (200, 201, 204), response.text
    return {"sha256": digest, "size": len(data), "name": path.name}


def blenders_of(farm: ProcessFarm, name: str) -> list[psutil.Process]:
    node = psutil.Process(farm.nodes[name].pid)
    return [p for p in node.children(recursive=True) if "blender" in p.name().lower()]


def submit_render(farm: ProcessFarm, tmp_path: Path) -> str:
    scene = make_sample_scene(
        tmp_path / "farm.blend", frames=FRAMES, width=WIDTH, height=HEIGHT, samples=16
    )
    response = farm.api(
        "POST",
        "/jobs",
        json={
            "script": (REPO / "examples" / "render_animation.wit").read_text(),
            "filename": "render_animation.wit",
            "parameters": {"frames": f"farm.blend@1-{FRAMES}"},
            "files": {"frames": [upload(farm, scene)]},
        },
        timeout=30,
    )
    assert response.status_code == 201, response.text
    job_id: str = response.json()["id"]
    return job_id


def rendering(farm: ProcessFarm, job_id: str, name: str) -> list[psutil.Process]:
    """Once the node is mid-batch (its Blender runs, a frame is back, the job not done): its
    Blender processes."""
    found: list[psutil.Process] = wait_until(
        lambda: progress(farm, job_id) >= 1 and blenders_of(farm, name),
        90,
        f"a first frame back while node {name}'s Blender renders",
    )
    assert progress(farm, job_id) < FRAMES
    return found


def running(processes: list[psutil.Process]) -> list[psutil.Process]:
    return [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_a_node_killed_while_it_renders_loses_no_frame(farm: ProcessFarm, tmp_path: Path) -> None:
    """SIGKILL the agent alone (as the kernel's OOM killer would): its worker and the worker's
    Blender end with it, and the frames of its batch are rendered elsewhere."""
    job_id = submit_render(farm, tmp_path)
    killed = rendering(farm, job_id, "a")
    farm.nodes["a"].kill()
    farm.nodes["a"].wait(10)
    wait_until(lambda: not running(killed), 10, "the killed node's Blender to end")
    job = farm.wait_done(job_id, 150)
    assert job["status"] == "completed", job.get("error")
    images = job["variables"]["images"]
    assert [image["frame"] for image in images] == list(range(1, FRAMES + 1))
    video = job["variables"]["result"]
    assert video["frames"] == FRAMES
    path = tmp_path / "video.mp4"
    path.write_bytes(farm.api("GET", f"/blobs/{video['sha256']}", timeout=30).content)
    probed = subprocess.run(
        [
            *("ffprobe", "-v", "error", "-count_frames", "-show_entries"),
            *("stream=width,height,nb_read_frames", "-of", "json", str(path)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    stream = json.loads(probed.stdout)["streams"][0]
    assert (stream["width"], stream["height"], int(stream["nb_read_frames"])) == (
        WIDTH,
        HEIGHT,
        FRAMES,
    )


def test_a_node_stopped_while_it_renders_stops_blender_and_leaves_at_once(
    farm: ProcessFarm, tmp_path: Path
) -> None:
    """SIGTERM (a service manager's stop): the node stops its Blender, tells the hub it is
    leaving and exits 0; its frames are rendered by the other node. (That the hub hands them on
    at once, not after lease or grace, is the fault suite's test_nodes.py.)"""
    job_id = submit_render(farm, tmp_path)
    stopped = rendering(farm, job_id, "a")
    farm.nodes["a"].terminate()
    assert farm.nodes["a"].wait(15) == 0, farm.log("a")
    wait_until(lambda: not running(stopped), 10, "the stopped node's Blender to end")
    assert "node a " in farm.log() and " left" in farm.log()
    job = farm.wait_done(job_id, 150)
    assert job["status"] == "completed", job.get("error")
    assert [image["frame"] for image in job["variables"]["images"]] == list(range(1, FRAMES + 1))
