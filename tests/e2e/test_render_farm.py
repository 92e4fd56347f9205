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

from witengine.testing.processes import Farm, free_port, progress, wait_until
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
def farm(tmp_path: Path) -> Iterator[Farm]:
    farm = Farm(tmp_path, free_port())
    try:
        farm.start_hub()
        for name in ("a", "b"):
            farm.start_node(name, "--threads", "1", "--slots", "1", "--no-bench")
        wait_until(lambda: farm.online() == ["a", "b"], 60, "both nodes to connect")
        yield farm
    finally:
        farm.stop()


def upload(farm: Farm, path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    response = farm.api("PUT", f"/blobs/{digest}", content=data, timeout=30)
    assert response.status_code in (200, 201, 204), response.text
    return {"sha256": digest, "size": len(data), "name": path.name}


def blenders_of(farm: Farm, name: str) -> list[psutil.Process]:
    node = psutil.Process(farm.nodes[name].pid)
    return [p for p in node.children(recursive=True) if "blender" in p.name().lower()]


def test_a_node_killed_while_it_renders_loses_no_frame(farm: Farm, tmp_path: Path) -> None:
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
    job_id = response.json()["id"]

    # Node a is mid-batch: its Blender runs and the job is not done yet.
    killed = wait_until(
        lambda: progress(farm, job_id) >= 1 and blenders_of(farm, "a"),
        90,
        "a first frame back while node a's Blender renders",
    )
    done_at_kill = progress(farm, job_id)
    farm.kill_node("a")
    job = farm.wait_done(job_id, 150)

    assert killed and done_at_kill < FRAMES
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in killed)
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
