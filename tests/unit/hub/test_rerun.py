"""Re-running a failed or cancelled job over real HTTP on 127.0.0.1: a new job with the same
script, parameters and files whose maps keep the results the first one committed, so fake nodes
(the real WebSocket protocol) run only the items that failed or never finished; a job that
completed or has not ended is refused with the reason."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from witengine.protocol.states import JobStatus
from witengine.security.tokens import Role
from witengine.testing.fake_nodes import FakeNode, running

if TYPE_CHECKING:
    from tests.unit.hub.conftest import LiveHub

pytestmark = pytest.mark.timeout(60)

NAPS = """\
Job:Naps(Int:n = 12)
{
    IntCollection:slept = Grid.ForEach(i in Int.Range(0, n)) => Compute.Sleep(i);
    Trace(Format("slept {0} times", n));
}
"""

SUM = "Job:Sum(Int:a = 40) { Int:total = a + 2; }"

# Needs a node to run Compute.IsPrime; the test hub has none, so the job stays running.
WAITS = """\
Job:Wait(Long:n = 6)
{
    BoolCollection:flags = Grid.ForEach(x in Long.Range(2, n)) => Compute.IsPrime(x);
}
"""

ENDED = {status for status in JobStatus if status.ended}


class BrokenItems:
    """Fake nodes that fail the items named in `broken` and count every item they run."""

    def __init__(self) -> None:
        self.broken: set[int] = set()
        self.runs: Counter[int] = Counter()

    def fail(self, activity: str, args: list[Any]) -> str | None:
        self.runs[args[0]] += 1
        return f"item {args[0]} is broken" if args[0] in self.broken else None


@contextlib.asynccontextmanager
async def nodes(live: LiveHub, farm: BrokenItems, count: int) -> AsyncIterator[list[FakeNode]]:
    root = live.url.removesuffix("/api/v1")
    fakes = [
        FakeNode(root, f"node-{n}", item_seconds=0.002, fail=farm.fail, token=live.token)
        for n in range(count)
    ]
    async with running(*fakes):
        yield fakes


def committed(live: LiveHub, job_id: str) -> set[int]:
    """The items of the job's map with a successful result, read from the hub's SQLite file."""
    raw = sqlite3.connect(live.hub.settings.data_dir / "hub.sqlite3")
    try:
        rows = raw.execute(
            "SELECT idx FROM results JOIN maps ON maps.id = results.map_id "
            "WHERE maps.job_id = ? AND results.error IS NULL",
            (job_id,),
        )
        return {index for (index,) in rows}
    finally:
        raw.close()


async def test_a_failed_job_is_rerun_and_only_its_items_without_a_result_run_again(
    live_hub: LiveHub,
) -> None:
    farm = BrokenItems()
    farm.broken = {5, 9}
    async with nodes(live_hub, farm, 3):
        first_id = (await live_hub.submit(NAPS))["id"]
        first = await live_hub.wait_for(first_id, ENDED)
        assert first["status"] == "failed"
        assert "is broken" in first["error"]  # it failed on 3 nodes
        kept = committed(live_hub, first_id)
        assert kept and not kept & farm.broken

        farm.broken.clear()  # mended
        farm.runs.clear()
        response = await live_hub.client.post(f"/jobs/{first_id}/rerun")
        assert response.status_code == 201, response.text
        again = response.json()
        assert again["rerun_of"] == first_id and again["id"] != first_id
        assert again["status"] in ("queued", "running")
        done = await live_hub.wait_for(again["id"], ENDED)

    assert done["status"] == "completed", done["error"]
    assert done["variables"]["slept"] == list(range(12))  # results in order, old and new
    assert done["rerun_of"] == first_id
    assert set(farm.runs) == set(range(12)) - kept  # nothing committed before ran again
    events = live_hub.hub.store.events(again["id"])
    assert events[0][1] == {"kind": "job_rerun", "of": first_id, "reused": len(kept)}
    original = (await live_hub.client.get(f"/jobs/{first_id}")).json()
    assert original["status"] == "failed"  # the first job stays as it ended

    root = live_hub.url.removesuffix("/api/v1")
    async with httpx.AsyncClient(base_url=root, headers=live_hub.headers(live_hub.token)) as web:
        failed_page = (await web.get(f"/jobs/{first_id}")).text
        rerun_page = (await web.get(f"/jobs/{again['id']}")).text
    button = re.compile(r'<button type="button" class="action" id="job-rerun" [^>]*>')
    shown = button.search(failed_page)
    assert shown is not None and "disabled" not in shown[0]  # a button: the keyboard reaches it
    assert f'data-post="/api/v1/jobs/{first_id}/rerun" data-open-job' in shown[0]
    assert ">Re-run failed items</button>" in failed_page
    shown = button.search(rerun_page)
    assert shown is not None and "disabled" in shown[0]  # it completed
    assert f'A re-run of <a href="/jobs/{first_id}">{first_id}</a>' in rerun_page
    assert f"a re-run of {first_id}: {len(kept)} result(s) kept from it" in rerun_page


async def test_a_cancelled_job_is_rerun_and_a_completed_or_unfinished_one_is_refused(
    live_hub: LiveHub,
) -> None:
    completed = (await live_hub.submit(SUM))["id"]
    await live_hub.wait_for(completed, {"completed"})
    refused = await live_hub.client.post(f"/jobs/{completed}/rerun")
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        f"cannot re-run job {completed}: it is completed; only a failed or cancelled job can "
        "be re-run (every item has its result, there is nothing to run again)"
    )

    waiting = (await live_hub.submit(WAITS))["id"]
    await live_hub.wait_for(waiting, {"running"})
    refused = await live_hub.client.post(f"/jobs/{waiting}/rerun")
    assert refused.status_code == 409
    assert "it is running; only a failed or cancelled job" in refused.json()["detail"]
    assert (await live_hub.client.post("/jobs/job_nothing/rerun")).status_code == 404
    schema = await live_hub.client.get(live_hub.url.removesuffix("/api/v1") + "/openapi.json")
    declared = schema.json()["paths"]["/api/v1/jobs/{job_id}/rerun"]["post"]["responses"]
    assert {"201", "403", "404", "409"} <= set(declared)
    assert declared["409"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorBody")

    other = live_hub.headers(live_hub.issue(Role.SUBMITTER))
    forbidden = await live_hub.client.post(f"/jobs/{waiting}/rerun", headers=other)
    assert forbidden.status_code == 403 and "another token" in forbidden.json()["detail"]

    assert (await live_hub.client.post(f"/jobs/{waiting}/cancel")).status_code == 200
    await live_hub.wait_for(waiting, {"cancelled"})
    rerun = await live_hub.client.post(f"/jobs/{waiting}/rerun")
    assert rerun.status_code == 201, rerun.text
    assert rerun.json()["rerun_of"] == waiting
    new = await live_hub.wait_for(rerun.json()["id"], {"running"})  # waits for a node again
    assert new["parameters"] == {} and new["script"] == WAITS
    twice = await live_hub.client.post(f"/jobs/{waiting}/rerun")  # a second click
    assert twice.status_code == 409
    assert twice.json()["detail"] == (
        f"cannot re-run job {waiting}: it is being re-run as job {new['id']} (running); wait "
        "for that one to end, or cancel it"
    )
    assert (await live_hub.client.post(f"/jobs/{new['id']}/cancel")).status_code == 200
