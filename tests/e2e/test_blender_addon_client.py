"""The HTTP contract the Blender add-on uses, run with the add-on's own client (standard library
only, loaded outside Blender) against a real hub on loopback: a hub change that would break the
add-on fails here. Uploading only what the hub lacks, submitting the published render job,
reading its record, cancelling it, the farm's nodes, the hub's 401 message for a wrong token,
and a pinned certificate: the hub's own accepted, any other refused.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from witengine.testing.addon import load_client
from witengine.testing.processes import ProcessFarm, free_port, wait_until

client: Any = load_client()
pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]


def blend(tag: bytes) -> bytes:
    """The smallest .blend the hub reads: a header, a description of no structs, a block of
    `tag` to tell scenes apart, the end."""

    def block(code: bytes, body: bytes) -> bytes:
        return struct.pack("<4siQii", code, len(body), 0, 0, 1) + body

    empty = struct.pack("<i", 0)
    dna = b"SDNANAME" + empty + b"TYPE" + empty + b"TLEN" + b"STRC" + empty
    return b"BLENDER-v304" + block(b"DNA1", dna) + block(b"TEST", tag) + block(b"ENDB", b"")


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessFarm]:
    farm = ProcessFarm(tmp_path_factory.mktemp("hub"), free_port())
    try:
        farm.start_hub()
        yield farm
    finally:
        farm.stop()


@pytest.fixture
def hub(farm: ProcessFarm) -> Any:
    return client.Hub(farm.url, farm.token or "")


def test_a_scene_is_uploaded_once_and_the_published_job_submitted_with_its_frames(
    hub: Any, farm: ProcessFarm, tmp_path: Path
) -> None:
    scene = tmp_path / "shot.blend"
    scene.write_bytes(blend(b"shot"))
    assert not hub.has_blob(client.file_digest(scene)[0])

    blob = hub.upload(scene)
    assert hub.has_blob(blob["sha256"]) and blob["name"] == "shot.blend"
    assert hub.upload(scene) == blob  # sent once: the hub has it now
    frames = client.frames_text("shot.blend", 1, 3, samples=2, percent=50)
    summary = hub.submit_render(blob, frames, "shot")
    record = hub.job(summary["id"])

    assert summary["id"].startswith("job_") and summary["status"] == "queued"
    assert record["parameters"] == {"frames": "shot.blend@1-3 samples=2 percent=50"}
    assert record["files"] == {"frames": [blob]}
    assert record["script"] == client.ANIMATION_JOB
    assert {"progress", "eta_seconds", "status", "error"} <= record.keys()
    assert record["progress"]["done"] == 0  # no node: nothing renders
    assert record["progress"]["total"] in (0, 3)  # 3 frames, once its map has started
    assert record["filename"] == "shot"
    assert hub.cancel(summary["id"])["id"] == summary["id"]
    wait_until(lambda: hub.job(summary["id"])["status"] == "cancelled", 10, "the job cancelled")


def test_the_job_without_a_video_is_accepted_too(hub: Any, tmp_path: Path) -> None:
    scene = tmp_path / "still.blend"
    scene.write_bytes(blend(b"still"))
    summary = hub.submit_render(hub.upload(scene), "still.blend@1-1", "still", video=False)
    assert hub.job(summary["id"])["name"] == "RenderFrames"
    hub.cancel(summary["id"])


def test_the_farms_nodes_and_who_the_token_is(hub: Any) -> None:
    assert hub.whoami()["role"] == "admin"
    assert hub.nodes() == []  # no node here: the Blender tests show one with its Blender
    node = {"name": "a", "state": "idle", "capabilities": {"software": {"blender": "3.4.1"}}}
    assert client.node_lines([node, {"name": "b", "state": "offline"}]) == [
        "a: idle, Blender 3.4.1",
        "b: offline, no Blender",
    ]


def test_a_wrong_token_gets_the_hubs_own_401_message(farm: ProcessFarm) -> None:
    expected = farm.api("GET", "/nodes", headers={"Authorization": "Bearer wit-wrong"})
    wrong = client.Hub(farm.url, "wit-wrong")

    with pytest.raises(client.HubError) as caught:
        wrong.nodes()

    assert expected.status_code == 401
    assert caught.value.status == 401
    assert str(caught.value) == expected.json()["detail"]


STAGGERED = """\
Job:Staggered()
{
    IntCollection:slept = Grid.ForEach(ms in [0, 0, 0, 600000]) => Compute.Sleep(ms);
}
"""


@pytest.fixture(scope="module")
def farm_with_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessFarm]:
    farm = ProcessFarm(tmp_path_factory.mktemp("node"), free_port())
    try:
        farm.start_hub()
        farm.start_node("a", "--slots", "2", "--no-bench")  # the long item apart
        wait_until(lambda: farm.online() == ["a"], 60, "the node to connect")
        yield farm
    finally:
        farm.stop()


def test_a_running_jobs_committed_items_are_read_a_page_at_a_time(
    farm_with_node: ProcessFarm,
) -> None:
    """What the add-on brings frames back with while the job still runs."""
    hub = client.Hub(farm_with_node.url, farm_with_node.token or "")
    job_id = farm_with_node.submit(STAGGERED, {})
    wait_until(lambda: len(hub.items(job_id)["items"]) == 3, 60, "three items committed")

    first = hub.items(job_id, after=-1, limit=2)
    rest = hub.items(job_id, after=first["next_after"], limit=2)
    record = hub.job(job_id)

    assert record["status"] == "running"  # the fourth item sleeps: the job goes on
    assert first["maps"] == [{"seq": 1, "activity": "Compute.Sleep", "count": 4}]
    assert first["items"] == [
        {"index": 0, "value": 0, "error": None},
        {"index": 1, "value": 0, "error": None},
    ]
    assert first["next_after"] == 1
    assert rest["items"] == [{"index": 2, "value": 0, "error": None}]
    assert rest["next_after"] is None  # every item committed so far: ask again later
    assert hub.items(job_id, map_seq=2)["items"] == []  # a map the job has not reached
    with pytest.raises(client.HubError) as caught:
        hub.items("job_nope")
    assert (caught.value.status, str(caught.value)) == (404, "no job job_nope")
    hub.cancel(job_id)


def test_an_address_that_is_not_a_hubs_is_refused_at_once() -> None:
    with pytest.raises(client.HubError, match="is not a hub's address"):
        client.Hub("ftp://farm")


@pytest.fixture(scope="module")
def tls_farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessFarm]:
    farm = ProcessFarm(tmp_path_factory.mktemp("tls"), free_port(), tls=True)
    try:
        farm.start_hub()
        yield farm
    finally:
        farm.stop()


def test_an_https_hub_is_reached_with_its_pinned_certificate_and_refused_with_another(
    tls_farm: ProcessFarm,
) -> None:
    pin = tls_farm.fingerprint or ""
    other = "sha256:" + "0" * 64

    pinned = client.Hub(tls_farm.url, tls_farm.token or "", pin)
    with pytest.raises(client.HubError) as caught:
        client.Hub(tls_farm.url, tls_farm.token or "", other).nodes()

    assert pinned.nodes() == []
    assert str(caught.value) == (
        f"the hub at {tls_farm.url} presented a certificate with fingerprint {pin}, not the "
        f"pinned {other}: refused (if the hub's certificate was made anew, pin its new "
        "fingerprint in the preferences)"
    )


def test_an_https_hub_without_a_pin_must_have_a_certificate_the_system_trusts(
    tls_farm: ProcessFarm,
) -> None:
    with pytest.raises(client.HubError, match="CERTIFICATE_VERIFY_FAILED"):
        client.Hub(tls_farm.url, tls_farm.token or "").nodes()
    assert json.dumps(client.parse_fingerprint(tls_farm.fingerprint or ""))
