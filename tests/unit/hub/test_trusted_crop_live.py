"""Frames from untrusted nodes checked by a trusted node's render of a random crop of each, on a
real hub over HTTP and WebSockets on 127.0.0.1 (`Swatch.Frame`, whose plugin declares a
`TrustedCrop` by `Swatch.Crop`): one honest volunteer whose frames differ from the trusted
crops by a few pixels' rounding, and one that returns each frame shifted by one pixel or black.
With a single honest owner no frame can be verified by a second owner's whole frame: the job
completes by crops alone, with the honest frames only, and the cheater ends blocked."""

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
    BlobCollection:frames = Grid.ForEach(i in Int.Range(0, n)) => Swatch.Frame(i);
}}
"""


def frame(item: int) -> Image.Image:
    """What an honest render of the item looks like: a gradient of its own."""
    image = Image.new("RGB", (160, 96))
    image.putdata(
        [
            ((x * 3 + item * 9) % 256, y * 2, (x + y + item) % 256)
            for y in range(96)
            for x in range(160)
        ]
    )
    return image


def rounded(image: Image.Image) -> Image.Image:
    """The image with a pixel 1 apart in every 64x64 square: another machine's rounding."""
    copy = image.copy()
    for x in range(5, image.width, 64):
        for y in range(5, image.height, 64):
            red, green, blue = copy.getpixel((x, y))  # type: ignore[misc]
            copy.putpixel((x, y), (red ^ 1, green, blue))
    return copy


def shifted(image: Image.Image) -> Image.Image:
    moved = ImageChops.offset(image, 1, 0)
    moved.paste(image.crop((0, 0, 1, image.height)), (0, 0))
    return moved


def stored(blobs: LocalBlobStore, image: Image.Image, name: str) -> dict[str, Any]:
    data = io.BytesIO()
    image.save(data, "PNG")
    blob = blobs.put_bytes(data.getvalue(), name)
    return {"sha256": blob.sha256, "size": blob.size, "name": blob.name}


async def test_frames_are_committed_by_trusted_crops_and_a_cheater_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WIT_PLUGINS", "witengine.testing.swatches:plugin")
    async with served_hub(tmp_path / "hub", no_node_seconds=3600.0) as served:
        blobs = served.hub.blobs
        alice = [stored(blobs, rounded(frame(i)), f"frame-{i}.png") for i in range(FRAMES)]
        mallory = [
            stored(blobs, shifted(frame(i)) if i % 2 else Image.new("RGB", (160, 96)), "f.png")
            for i in range(FRAMES)
        ]
        crops: list[tuple[int, int, int, int]] = []

        def crop(activity: str, args: list[Any]) -> Any:
            item, x, y, width, height = args
            crops.append((x, y, width, height))
            part = frame(item).crop((x, y, x + width, y + height))
            return stored(blobs, part, f"crop-{item}.png")

        def answers(made: list[dict[str, Any]]) -> Any:
            return lambda activity, args: made[args[0]]

        studio = FakeNode(served.root, "studio", ("Swatch.Crop",), item_seconds=0.002, value=crop)
        volunteers = [
            FakeNode(served.root, name, ("Swatch.Frame",), item_seconds=0.002, value=answers(made))
            for name, made in (("alice", alice), ("mallory", mallory))
        ]
        for node in (studio, *volunteers):
            node.token = served.admin_token
        dispatcher = served.hub.dispatcher
        async with running(studio, *volunteers):
            for node in volunteers:  # what their pool and owner will say once they join by a token
                assert node.node_id is not None
                link = dispatcher._state.nodes[node.node_id]
                link.trusted, link.owner = False, node.name
            job = await finished(served.root, served.admin_token)
        assert job["status"] == "completed", job["error"]
        kept = [value["sha256"] for value in job["variables"]["frames"]]
        assert kept == [made["sha256"] for made in alice]
        # Every crop a tenth of the frame (51x30 of 160x96), inside it, at random places.
        assert len(crops) >= FRAMES
        assert {(width, height) for _, _, width, height in crops} == {(51, 30)}
        assert all(x + 51 <= 160 and y + 30 <= 96 for x, y, _, _ in crops)
        assert len({(x, y) for x, y, _, _ in crops}) > 1
        assert volunteers[1].node_id is not None and volunteers[0].node_id is not None
        assert dispatcher.view.trust(volunteers[1].node_id, "Swatch.Frame").state == "blocked"
        honest = dispatcher.view.trust(volunteers[0].node_id, "Swatch.Frame")
        assert honest.state != "blocked" and honest.accepted == FRAMES


async def finished(root: str, token: str) -> dict[str, Any]:
    """The job of SCRIPT, submitted as the admin, once it ended (polled, about 20 s at most)."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=root + API_PREFIX, headers=headers) as client:
        # The volunteers stay in the default pool, untrusted: the job names it to use them.
        submitted = {"script": SCRIPT, "pools": ["default"]}
        job_id = (await client.post("/jobs", json=submitted)).json()["id"]
        job: dict[str, Any] = {}
        for _ in range(1000):
            job = (await client.get(f"/jobs/{job_id}")).json()
            if JobStatus(job["status"]).ended:
                return job
            await asyncio.sleep(0.02)
    raise AssertionError(f"job {job_id} never ended: {job}")
