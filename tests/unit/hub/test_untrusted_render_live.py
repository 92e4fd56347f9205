"""Rendered images from untrusted nodes on a real hub over HTTP and WebSockets on 127.0.0.1,
compared as the plugin declares (`ImagesWithin`): two honest volunteers whose frames differ by a
few pixels' rounding, and one that returns each frame shifted by one pixel or black. The job
completes with honest frames only, and the cheater ends blocked."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageChops

from witengine.protocol import API_PREFIX
from witengine.protocol.states import JobStatus
from witengine.runtime.blobs import LocalBlobStore
from witengine.testing.fake_nodes import FakeNode, running
from witengine.testing.served import served_hub

pytestmark = pytest.mark.timeout(60)

FRAMES = 8
SCRIPT = f"""\
Job:Frames(Int:n = {FRAMES})
{{
    BlobCollection:frames = Grid.ForEach(i in Int.Range(0, n)) => Swatch.Make(i);
}}
"""


def frame(item: int) -> Image.Image:
    """What an honest render of the item looks like: a gradient of its own."""
    image = Image.new("RGB", (64, 48))
    image.putdata(
        [
            ((x * 4 + item * 9) % 256, y * 5, (x + y + item) % 256)
            for y in range(48)
            for x in range(64)
        ]
    )
    return image


def rounded(image: Image.Image) -> Image.Image:
    """The image with a few pixels 1 apart: another machine's rounding."""
    copy = image.copy()
    for x in (3, 30, 60):
        red, green, blue = copy.getpixel((x, 7))  # type: ignore[misc]
        copy.putpixel((x, 7), (red ^ 1, green, blue))
    return copy


def shifted(image: Image.Image) -> Image.Image:
    moved = ImageChops.offset(image, 1, 0)
    moved.paste(image.crop((0, 0, 1, image.height)), (0, 0))
    return moved


def stored(blobs: LocalBlobStore, image: Image.Image, item: int) -> dict[str, Any]:
    data = io.BytesIO()
    image.save(data, "PNG")
    blob = blobs.put_bytes(data.getvalue(), f"frame-{item:04d}.png")
    return {"sha256": blob.sha256, "size": blob.size, "name": blob.name}


async def test_a_volunteer_returning_shifted_or_black_frames_is_caught_and_none_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WIT_PLUGINS", "witengine.testing.swatches:plugin")
    async with served_hub(tmp_path / "hub", no_node_seconds=3600.0) as served:
        blobs = served.hub.blobs
        # What each node uploaded for each item before it answered, as nodes do.
        alice = [stored(blobs, frame(i), i) for i in range(FRAMES)]
        bob = [stored(blobs, rounded(frame(i)), i) for i in range(FRAMES)]
        mallory = [
            stored(blobs, shifted(frame(i)) if i % 2 else Image.new("RGB", (64, 48)), i)
            for i in range(FRAMES)
        ]

        def answers(made: list[dict[str, Any]]) -> Any:
            return lambda activity, args: made[args[0]]

        nodes = [
            FakeNode(served.root, name, ("Swatch.Make",), item_seconds=0.002, value=answers(made))
            for name, made in (("alice", alice), ("bob", bob), ("mallory", mallory))
        ]
        for node in nodes:
            node.token = served.admin_token
        dispatcher = served.hub.dispatcher
        async with running(*nodes):
            for node in nodes:  # what their pool and owner will say once they join by a token
                assert node.node_id is not None
                link = dispatcher._state.nodes[node.node_id]
                link.trusted, link.owner = False, node.name
            job = await finished(served.root, served.admin_token)
        assert job["status"] == "completed", job["error"]
        kept = [value["sha256"] for value in job["variables"]["frames"]]
        for item, digest in enumerate(kept):
            assert digest in (alice[item]["sha256"], bob[item]["sha256"]), item
        assert bob[0]["sha256"] != alice[0]["sha256"]  # the honest frames are not the same bytes
        assert nodes[2].node_id is not None
        assert dispatcher.view.trust(nodes[2].node_id, "Swatch.Make").state == "blocked"


async def finished(root: str, token: str) -> dict[str, Any]:
    """The job of SCRIPT, submitted as the admin, once it ended (polled, about 20 s at most)."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=root + API_PREFIX, headers=headers) as client:
        # Its nodes stay in the default pool, untrusted: the job names it, as it must to use them.
        submitted = {"script": SCRIPT, "pools": ["default"]}
        job_id = (await client.post("/jobs", json=submitted)).json()["id"]
        job: dict[str, Any] = {}
        for _ in range(1000):
            job = (await client.get(f"/jobs/{job_id}")).json()
            if JobStatus(job["status"]).ended:
                return job
            await asyncio.sleep(0.02)
    raise AssertionError(f"job {job_id} never ended: {job}")
