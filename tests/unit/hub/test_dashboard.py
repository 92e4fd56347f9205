"""The dashboard over real HTTP on 127.0.0.1: every page and fragment, the live stream with
Last-Event-ID, the submit form's checking and uploads, files by type, drain and resume; fake
nodes speak the real WebSocket protocol, so batches, items and throughput are real too."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse

from witengine.hub.app import Hub
from witengine.hub.dashboard.pages import FRAGMENTS
from witengine.hub.dashboard.views import file_kind, media_type
from witengine.protocol import API_PREFIX
from witengine.protocol.states import JobStatus
from witengine.testing.fake_nodes import FakeNode, running
from witengine.testing.served import served_hub
from witengine.testing.swatches import png

pytestmark = pytest.mark.timeout(60)

NAPS = """\
~ a nap per item ~
Job:Naps(Int:n = 40, Int:ms = 5)
{
    IntCollection:slept = Grid.ForEach(i in Int.Range(0, n)) => Compute.Sleep(ms);
    Trace(Format("slept {0} times", n));
}
"""

BROKEN = """\
Job:Broken(Int:a)
{
    Int:x = a +;
}
"""

TYPED = """\
Job:Typed(Int:count, Double:scale = 1.5, Bool:loud = false, String:name = "x", Blob:scene,
          BlobCollection:extras, IntCollection:ids = [1, 2])
{
    Trace(name);
}
"""

RENDER = """\
Job:Render(FrameCollection:frames, Blob:notes)
{
    Trace(notes);
}
"""

DASHBOARD = {"X-Wit-Dashboard": "1"}


@dataclass
class LiveHub:
    hub: Hub
    url: str  # the API root, e.g. http://127.0.0.1:41234/api/v1
    client: httpx.AsyncClient  # on the API root, with the admin token
    token: str  # the hub's admin token


def auth(live: LiveHub) -> dict[str, str]:
    return {"Authorization": f"Bearer {live.token}"}


@pytest.fixture
async def live_hub(tmp_path: Path) -> AsyncIterator[LiveHub]:
    """A hub on 127.0.0.1 that nodes can reach (WebSockets on), answering fast enough for tests."""
    async with served_hub(tmp_path / "hub", heartbeat_seconds=0.5) as served:
        url = f"{served.root}{API_PREFIX}"
        headers = {"Authorization": f"Bearer {served.admin_token}"}
        async with httpx.AsyncClient(base_url=url, timeout=30.0, headers=headers) as client:
            yield LiveHub(served.hub, url, client, served.admin_token)


def root(live: LiveHub) -> str:
    return live.url.removesuffix("/api/v1")


@contextlib.asynccontextmanager
async def nodes(
    live: LiveHub, *names: str, item_seconds: float = 0.002
) -> AsyncIterator[list[FakeNode]]:
    fakes = [FakeNode(root(live), n, item_seconds=item_seconds, token=live.token) for n in names]
    async with running(*fakes):
        yield fakes


async def page(live: LiveHub, path: str, status: int = 200) -> str:
    async with httpx.AsyncClient(base_url=root(live), headers=auth(live), timeout=10) as client:
        response = await client.get(path)
    assert response.status_code == status, response.text[:500]
    return response.text


async def run_job(live: LiveHub, script: str = NAPS, **parameters: str) -> dict[str, Any]:
    response = await live.client.post(
        "/jobs", json={"script": script, "filename": "naps.wit", "parameters": parameters}
    )
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]
    for _ in range(500):
        job: dict[str, Any] = (await live.client.get(f"/jobs/{job_id}")).json()
        if JobStatus(job["status"]).ended:
            return job
        await asyncio.sleep(0.02)
    raise AssertionError(f"job {job_id} did not end")


async def test_every_page_renders_with_its_landmarks_and_no_node_or_job(
    live_hub: LiveHub,
) -> None:
    for path, title in [
        ("/", "Farm overview"),
        ("/nodes", "Nodes"),
        ("/jobs", "Jobs"),
        ("/submit", "Submit a job"),
    ]:
        html = await page(live_hub, path)
        assert f"<h1>{title}</h1>" in html
        assert '<main id="main"' in html and 'href="#main"' in html  # a skip link to it
        assert re.search(r'/static/dashboard\.js\?v=[0-9a-f]{12}"', html)
    assert "No node has connected yet" in await page(live_hub, "/nodes")
    assert "No such job" in await page(live_hub, "/jobs/job_nothing", 404)
    assert "No such node" in await page(live_hub, "/nodes/node_nothing", 404)


async def test_the_submit_page_points_a_blender_artist_to_the_add_on(live_hub: LiveHub) -> None:
    html = await page(live_hub, "/submit")
    assert "witengine add-on" in html and "<code>wit addon install</code>" in html


async def test_pages_forbid_foreign_scripts_and_framing(live_hub: LiveHub) -> None:
    async with httpx.AsyncClient(base_url=root(live_hub), headers=auth(live_hub)) as client:
        response = await client.get("/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_static_files_are_served_from_the_package(live_hub: LiveHub) -> None:
    async with httpx.AsyncClient(base_url=root(live_hub), headers=auth(live_hub)) as client:
        script = await client.get("/static/dashboard.js")
        style = await client.get("/static/dashboard.css")
    assert script.status_code == 200 and "EventSource" in script.text
    assert script.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert style.status_code == 200 and ":focus-visible" in style.text


async def test_a_job_run_by_fake_nodes_fills_every_page_and_fragment(live_hub: LiveHub) -> None:
    async with nodes(live_hub, "alpha", "beta") as fakes:
        job = await run_job(live_hub, n="40")
        assert job["status"] == "completed", job["error"]
        node_id = fakes[0].node_id
        views = {
            "overview": "/",
            "nodes": "/nodes",
            "node": f"/nodes/{node_id}",
            "jobs": "/jobs",
            "job": f"/jobs/{job['id']}",
        }
        for view, path in views.items():
            full = await page(live_hub, path)
            for name in FRAGMENTS[view]:
                alone = await page(live_hub, f"{path}?fragment={name}")
                assert f'id="{view}-{name}"' in full
                # Live figures move between the two requests; the fragment's shape does not.
                assert alone.strip().partition("\n")[0] in full, f"{view} {name}"
            await page(live_hub, f"{path}?fragment=nothing", 404)

        overview = await page(live_hub, "/")
        assert re.search(r'tile-value">2</span> <span class="tile-label">nodes online', overview)
        assert "Compute.Sleep" in overview  # capacity measured from the nodes' results

        table = await page(live_hub, "/nodes")
        for name in ("alpha", "beta"):
            assert f'data-node="{name}"' in table
        assert "Fake CPU" in table and "8.0 GiB" in table and "compute 0.1.0" in table

        node = await page(live_hub, f"/nodes/{node_id}")
        assert "<h2>Recent batches</h2>" in node and "finished" in node
        assert 'class="chart"' in node and '<rect class="col"' in node

        shown = await page(live_hub, f"/jobs/{job['id']}")
        assert '<span class="line" id="L4" data-line="4">' in shown
        assert '<span class="call">Compute.Sleep</span>' in shown
        assert re.search(r'<rect class="bar-finished"[^>]*><title>batch_\w+ on (alpha|beta)', shown)
        assert "40 done" in shown and shown.count('<i class="c done"') == 40
        assert "slept 40 times" in shown and "job completed" in shown
        assert "<code>IntCollection:slept</code>" in shown
        assert 'id="job-cancel"' in shown and re.search(r'id="job-cancel"[^>]*disabled', shown)


async def test_an_item_shows_its_arguments_state_and_batches(live_hub: LiveHub) -> None:
    async with nodes(live_hub, "alpha"):
        job = await run_job(live_hub, n="5", ms="7")
    map_id = re.search(r'data-map="(map_\w+)"', await page(live_hub, f"/jobs/{job['id']}"))
    assert map_id is not None
    detail = await page(live_hub, f"/jobs/{job['id']}/items/{map_id[1]}?index=3&fragment=item")
    assert "Item 3 of <code>Compute.Sleep</code>" in detail
    assert "badge-done" in detail and ">7<" in detail and ">alpha</a>" in detail
    full = await page(live_hub, f"/jobs/{job['id']}/items/{map_id[1]}?index=3")
    assert "Back to the job" in full
    await page(live_hub, f"/jobs/{job['id']}/items/{map_id[1]}?index=99", 404)


async def read_events(
    client: httpx.AsyncClient, url: str, until: str, headers: dict[str, str] | None = None
) -> list[tuple[str, str, str]]:
    """(event, id, data) of a stream up to and including the first `until` event."""
    seen: list[tuple[str, str, str]] = []
    async with aconnect_sse(client, "GET", url, headers=headers or {}) as source:
        async for event in source.aiter_sse():
            seen.append((event.event, event.id, event.data))
            if event.event == until:
                break
    return seen


async def test_the_stream_sends_every_fragment_then_the_log_from_last_event_id(
    live_hub: LiveHub,
) -> None:
    async with nodes(live_hub, "alpha"):
        job = await run_job(live_hub, NAPS.replace("Trace(", "Trace(1);\n    Trace("), n="3")
    url = f"/stream?view=job&key={job['id']}"
    async with httpx.AsyncClient(
        base_url=root(live_hub), headers=auth(live_hub), timeout=10
    ) as client:
        first = await read_events(client, url, "running")
        kinds = [kind for kind, _, _ in first]
        assert kinds[0] == "ready"
        swapped = [json.loads(data)["id"] for kind, _, data in first if kind == "swap"]
        assert swapped == [f"job-{name}" for name in FRAGMENTS["job"]]
        logs = [
            (event_id, json.loads(data)["html"]) for kind, event_id, data in first if kind == "log"
        ]
        assert [">1<" in html or "slept 3 times" in html for _, html in logs[:2]] == [True, True]
        # A page that reconnects after the first trace gets the fragments again, and only the
        # log entries after it.
        again = await read_events(client, url, "running", {"Last-Event-ID": logs[0][0]})
        texts = [json.loads(data)["html"] for kind, _, data in again if kind == "log"]
        assert len([k for k, _, _ in again if k == "swap"]) == len(FRAGMENTS["job"])
        assert any("slept 3 times" in text for text in texts)
        assert not any(">1</span>" in text for text in texts)
        gone = await read_events(client, "/stream?view=job&key=job_nothing", "gone")
        assert [kind for kind, _, _ in gone] == ["ready", "gone"]
        assert (await client.get("/stream?view=nothing")).status_code == 404


async def test_the_overview_stream_updates_when_a_node_connects(live_hub: LiveHub) -> None:
    async with (
        httpx.AsyncClient(base_url=root(live_hub), headers=auth(live_hub), timeout=10) as client,
        aconnect_sse(client, "GET", "/stream?view=overview") as source,
    ):
        events = source.aiter_sse()
        while (await anext(events)).event != "swap":
            pass
        async with nodes(live_hub, "gamma"):
            for _ in range(20):  # about a tick per swap; bounded
                event = await anext(events)
                data = json.loads(event.data) if event.event == "swap" else {}
                if data.get("id") == "overview-summary" and 'value">1</span>' in data["html"]:
                    break
            else:
                raise AssertionError("the overview never showed the node")


async def test_checking_a_script_gives_the_languages_messages_with_a_caret(
    live_hub: LiveHub,
) -> None:
    async with httpx.AsyncClient(
        base_url=root(live_hub), headers=auth(live_hub), timeout=10
    ) as client:
        refused = await client.post("/submit/check", json={"script": BROKEN})
        assert refused.status_code == 403  # only the dashboard's own pages may ask
        answer = (
            await client.post("/submit/check", json={"script": BROKEN}, headers=DASHBOARD)
        ).json()
        assert answer["ok"] is False
        assert 'data-line="3"' in answer["diagnostics"]
        assert "job.wit:3:" in answer["diagnostics"] and "^" in answer["diagnostics"]
        assert "Int:x = a +;" in answer["diagnostics"]

        good = (
            await client.post("/submit/check", json={"script": TYPED}, headers=DASHBOARD)
        ).json()
        assert good["ok"] is True and "Typed</strong> checks" in good["diagnostics"]
        fields = good["parameters"]
        assert re.search(r'id="param-count"[^>]*type="number" step="1"[^>]* required', fields)
        assert re.search(r'id="param-scale"[^>]*step="any" placeholder="1.5"', fields)
        assert re.search(r'<select id="param-loud"', fields) and "default (false)" in fields
        assert re.search(r'id="param-scene"[^>]*type="file"[^>]* required', fields)
        assert re.search(r'id="param-extras"[^>]*type="file"[^>]* multiple', fields)
        assert "Items separated by commas" in fields


async def test_an_uploaded_file_is_a_blob_served_by_its_type(live_hub: LiveHub) -> None:
    image = png(4, 3, (10, 20, 30))
    digest = hashlib.sha256(image).hexdigest()
    async with httpx.AsyncClient(
        base_url=root(live_hub), headers=auth(live_hub), timeout=10
    ) as client:
        assert (await client.post("/submit/upload?name=a.png", content=image)).status_code == 403
        stored = await client.post("/submit/upload?name=a.png", content=image, headers=DASHBOARD)
        assert stored.status_code == 201
        assert stored.json() == {"sha256": digest, "size": len(image), "name": "a.png"}
        assert live_hub.hub.blobs.has(digest)
        shown = await client.get(f"/files/{digest}/a.png")
        assert shown.headers["content-type"] == "image/png" and shown.content == image
        assert shown.headers["content-disposition"].startswith("inline")
        kept = await client.get(f"/files/{digest}/a.png?download=1")
        assert kept.headers["content-disposition"].startswith("attachment")
        unknown = await client.get(f"/files/{digest}/page.html")
        assert unknown.headers["content-type"] == "application/octet-stream"
        assert unknown.headers["content-disposition"].startswith("attachment")
        assert (await client.get(f"/files/{'0' * 64}/a.png")).status_code == 404


async def test_a_parameter_read_from_text_asks_for_the_files_it_names_and_the_hub_checks_them(
    live_hub: LiveHub,
) -> None:
    async with httpx.AsyncClient(
        base_url=root(live_hub), headers=auth(live_hub), timeout=10
    ) as client:
        checked = await client.post("/submit/check", json={"script": RENDER}, headers=DASHBOARD)
        fields = checked.json()["parameters"]
        assert re.search(r'id="param-frames"[^>]*type="text" required', fields)
        assert "For example shot.blend@1-10,15,20-30x2" in fields
        assert re.search(
            r'id="param-frames-files" type="file" data-param="frames"[^>]* multiple', fields
        )
        assert re.search(r'id="param-notes"[^>]*type="file"', fields)
        notes = await client.post("/submit/upload?name=notes.txt", content=b"hi", headers=DASHBOARD)
        job = {"script": RENDER, "parameters": {}, "files": {"notes": notes.json()}}
        assert (await client.post("/submit/check-files", json=job)).status_code == 403

        async def check(parameters: dict[str, str], files: dict[str, Any]) -> httpx.Response:
            body = {**job, "parameters": parameters, "files": {**job["files"], **files}}
            return await client.post("/submit/check-files", json=body, headers=DASHBOARD)

        plain = await check({}, {})
        assert plain.status_code == 200 and plain.json() == {"ok": True}
        forgotten = await check({"frames": "shot.blend@1-2"}, {})
        assert forgotten.status_code == 400
        assert forgotten.json()["detail"] == (
            "parameter 'frames' (FrameCollection): the file 'shot.blend' was not sent with the job"
        )
        elsewhere = {"sha256": "0" * 64, "size": 3, "name": "shot.blend"}
        absent = await check({"frames": "shot.blend@1-2"}, {"frames": [elsewhere]})
        assert absent.status_code == 400
        assert absent.json()["detail"] == "file shot.blend was not uploaded to the hub"


def test_files_show_as_images_videos_or_downloads_by_their_names() -> None:
    assert [file_kind(n) for n in ("f.PNG", "clip.mp4", "scene.blend", "noext")] == [
        "image",
        "video",
        "file",
        "file",
    ]
    assert media_type("x.svg") == "application/octet-stream"  # never run as a page


async def test_a_drained_node_finishes_its_work_and_gets_no_more(live_hub: LiveHub) -> None:
    async with nodes(live_hub, "alpha", "beta") as (alpha, beta):
        drained = await live_hub.client.post(f"/nodes/{beta.node_id}/drain")
        assert drained.status_code == 200 and drained.json()["drained"] is True
        assert "badge-drained" in await page(live_hub, f"/nodes/{beta.node_id}")
        job = await run_job(live_hub, n="30")
        assert job["status"] == "completed"
        assert (alpha.done, beta.done) == (30, 0)
        resumed = await live_hub.client.post(f"/nodes/{beta.node_id}/resume")
        assert resumed.json()["drained"] is False
        await run_job(live_hub, n="200")
        assert beta.done > 0
        assert (await live_hub.client.post("/nodes/node_nothing/drain")).status_code == 404
