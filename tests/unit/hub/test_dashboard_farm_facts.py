"""The dashboard's farm facts over real HTTP: a running job's ETA (from the scheduler's rates) and
its owner in the jobs list, the job's header and its live stream; each node's benchmarks and
blocklists in the node table and on its page; and the header's sign-out button."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from httpx_sse import aconnect_sse

from witengine import __version__
from witengine.hub.auth.book import ADMIN_TOKEN_LABEL
from witengine.hub.dashboard.views import owner_name
from witengine.hub.store.base import TokenRecord
from witengine.protocol import BenchmarkReport
from witengine.security.tokens import Role
from witengine.testing.fake_nodes import FakeNode, running

if TYPE_CHECKING:
    from tests.unit.hub.conftest import LiveHub

pytestmark = pytest.mark.timeout(60)

NAPS = """\
Job:Naps(Int:n = 400, Int:ms = 5)
{
    IntCollection:slept = Grid.ForEach(i in Int.Range(0, n)) => Compute.Sleep(ms);
}
"""
TIME_LEFT = r"(a few seconds|about \d+ (s|min|h)( \d+ min)?) left"


def root(live: LiveHub) -> str:
    return live.url.removesuffix("/api/v1")


async def page(live: LiveHub, path: str) -> str:
    async with httpx.AsyncClient(
        base_url=root(live), headers=live.headers(live.token), timeout=10
    ) as client:
        response = await client.get(path)
    assert response.status_code == 200, response.text[:500]
    return response.text


async def until(condition: Callable[[], Any], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def node(live: LiveHub, name: str, **options: Any) -> AsyncIterator[FakeNode]:
    async with running(FakeNode(root(live), name, token=live.token, **options)) as (fake,):
        yield fake


async def first_swap(live: LiveHub, url: str, fragment: str) -> str:
    async with (
        httpx.AsyncClient(
            base_url=root(live), headers=live.headers(live.token), timeout=10
        ) as client,
        aconnect_sse(client, "GET", url) as source,
    ):
        async for event in source.aiter_sse():
            data = json.loads(event.data)
            if event.event == "swap" and data["id"] == fragment:
                return str(data["html"])
    raise AssertionError(f"the stream sent no {fragment}")


async def test_a_running_job_shows_its_eta_and_its_owner_and_the_stream_carries_them(
    live_hub: LiveHub,
) -> None:
    team = live_hub.issue(Role.SUBMITTER, label="render team")
    async with node(live_hub, "alpha", item_seconds=0.02):
        submitted = await live_hub.client.post(
            "/jobs",
            json={"script": NAPS, "filename": "naps.wit"},
            headers=live_hub.headers(team),
        )
        assert submitted.status_code == 201, submitted.text
        job_id = submitted.json()["id"]
        dispatcher = live_hub.hub.dispatcher
        await until(lambda: dispatcher.view.remaining_seconds(job_id) is not None)

        listed = await page(live_hub, "/jobs")
        row = re.search(rf'<a href="/jobs/{job_id}">.*?</tr>', listed, re.S)
        assert row is not None
        assert re.search(rf'<td class="eta">{TIME_LEFT}</td>', row[0]), row[0]
        assert "<td>render team</td>" in row[0]
        header = await page(live_hub, f"/jobs/{job_id}?fragment=header")
        assert re.search(rf'class="eta"[^>]*>{TIME_LEFT}</span>', header), header
        assert 'by <span class="owner">render team</span>' in header
        live = await first_swap(live_hub, f"/stream?view=job&key={job_id}", "job-header")
        assert re.search(TIME_LEFT, live)
        summary = (await live_hub.client.get(f"/jobs/{job_id}")).json()
        assert summary["eta_seconds"] > 0

        assert (await live_hub.client.post(f"/jobs/{job_id}/cancel")).status_code == 200
        await until(lambda: dispatcher.view.remaining_seconds(job_id) is None)
    ended = await page(live_hub, f"/jobs/{job_id}?fragment=header")
    assert 'class="eta"' not in ended  # an ended job has no time left to show
    assert (await live_hub.client.get(f"/jobs/{job_id}")).json()["eta_seconds"] is None


@pytest.mark.parametrize(
    ("label", "role", "found", "name"),
    [
        ("render team", "submitter", True, "render team"),
        ("", "submitter", True, "submitter tok_1"),
        (ADMIN_TOKEN_LABEL, "admin", True, "admin token"),
        ("", "admin", False, "tok_1"),  # the token was deleted: its id is all there is
    ],
)
def test_a_jobs_owner_is_named_by_its_token(label: str, role: str, found: bool, name: str) -> None:
    token = TokenRecord(id="tok_1", role=role, label=label, secret_hash="x", created_at=0.0)
    assert owner_name(token if found else None, "tok_1") == name
    assert owner_name(None, None) == "—"


async def test_the_node_table_and_page_show_benchmarks_and_blocklists(live_hub: LiveHub) -> None:
    report = BenchmarkReport(
        activity="Compute.Sleep",
        plugin="compute",
        plugin_version=__version__,
        unit="milliseconds@1",
        rate=812.4,
        elapsed=1.0,
        iterations=10,
    )
    async with node(live_hub, "alpha", benchmarks=[report]) as alpha:
        assert alpha.node_id is not None
        dispatcher = live_hub.hub.dispatcher
        await until(lambda: dispatcher.rates.of_node(alpha.node_id or ""))
        before = await page(live_hub, "/nodes")
        assert "<code>Compute.Sleep</code> 812 milliseconds/s" in before
        slower = report.model_copy(update={"rate": 400.0})
        async with node(live_hub, "beta", benchmarks=[slower]) as beta:
            await until(lambda: dispatcher.rates.of_node(beta.node_id or ""))
            overview = await page(live_hub, "/?fragment=capacity")
            # The farm's benchmark capacity: 812.4 + 400 milliseconds/s, from 2 nodes, none
            # measured yet.
            assert (
                '<td><code>Compute.Sleep</code></td><td class="num">1,212 milliseconds/s</td>'
                '<td class="num">2</td><td class="num">—</td><td class="num">0</td>'
            ) in overview
        for _ in range(dispatcher.scheduler.blocklist.after):  # as the scheduler counts failures
            dispatcher.scheduler.blocklist.failed("job_broken", alpha.node_id, "compute")

        table = await page(live_hub, "/nodes")
        assert 'compute in <a href="/jobs/job_broken">job_broken</a>' in table
        shown = await page(live_hub, f"/nodes/{alpha.node_id}?fragment=summary")
        assert '<td class="num">812</td><td>milliseconds per second</td>' in shown
        assert 'Blocked from <a href="/jobs/job_broken">job_broken</a>' in shown
        dispatcher.job_ended("job_broken")
        assert "No job has blocked this node" in await page(
            live_hub, f"/nodes/{alpha.node_id}?fragment=summary"
        )


async def test_the_header_has_a_sign_out_button_that_ends_the_session(live_hub: LiveHub) -> None:
    html = await page(live_hub, "/")
    assert re.search(
        r'<form class="signout" method="post" action="/signout">'
        r'<button type="submit" id="signout">Sign out</button></form>',
        html,
    )
    origin = root(live_hub)
    async with httpx.AsyncClient(base_url=origin, timeout=10) as browser:
        session = {"Cookie": f"wit_session={live_hub.token}"}
        assert (await browser.get("/", headers=session)).status_code == 200
        out = await browser.post("/signout", headers=session | {"Origin": origin})
        assert out.status_code == 303 and out.headers["location"] == "/signin"
        cleared = out.headers["set-cookie"]
        assert cleared.startswith('wit_session=""') and "Max-Age=0" in cleared
        elsewhere = await browser.post("/signout", headers=session | {"Origin": "https://evil"})
        assert elsewhere.status_code == 403  # another site cannot sign a person out
