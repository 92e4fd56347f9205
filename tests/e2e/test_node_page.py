"""A node's own page with real processes: a hub and a node with `--status-port` on 127.0.0.1.
The page shows the node's batches with their logs; a pause posted from the page freezes the
node's work and the hub lists it suspended, "paused by its owner at the node's page"; resumed,
its job completes."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from witengine.node.policy import PAUSED
from witengine.testing.processes import ProcessFarm, free_port, progress, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

CHATTY = """\
Job:Chat(Int:n = 6)
{
    IntCollection:doubled = Grid.ForEach(i in Int.Range(0, n)) => Testing.Chatty(i);
}
"""
NAPS = """\
Job:Naps(Int:n = 60, Int:ms = 100)
{
    IntCollection:slept = Grid.ForEach(i in Int.Range(0, n)) => Compute.Sleep(ms);
}
"""


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessFarm]:
    farm = ProcessFarm(tmp_path_factory.mktemp("page"), free_port())
    farm.page_port = free_port()  # type: ignore[attr-defined]
    farm.start_hub()
    try:
        farm.start_node("desk", "--status-port", str(farm.page_port), "--no-bench")  # type: ignore[attr-defined]
        wait_until(lambda: farm.online() == ["desk"], 60, "the node to connect")
        yield farm
    finally:
        farm.stop()


def page_url(farm: ProcessFarm) -> str:
    return f"http://127.0.0.1:{farm.page_port}"  # type: ignore[attr-defined]


def desk(farm: ProcessFarm) -> dict[str, Any]:
    nodes = farm.api("GET", "/nodes").json()
    found: dict[str, Any] = next(n for n in nodes if n["name"] == "desk")
    return found


def post(farm: ProcessFarm, action: str) -> httpx.Response:
    with httpx.Client(base_url=page_url(farm), timeout=10) as client:
        html = client.get("/").text
        found = re.search(r'name="csrf" value="([^"]+)"', html)
        assert found is not None, html
        return client.post(
            f"/{action}", data={"csrf": found.group(1)}, headers={"Origin": page_url(farm)}
        )


def test_the_node_reports_its_page_and_shows_its_batches_with_their_logs(farm: ProcessFarm) -> None:
    assert desk(farm)["status_url"] == page_url(farm) + "/"
    job_id = farm.submit(CHATTY, {})
    assert farm.wait_done(job_id, 60)["status"] == "completed"
    html = httpx.get(page_url(farm) + "/", timeout=10).text
    assert 'id="state">idle<' in html
    assert job_id in html and "Testing.Chatty" in html
    assert "working on 0" in html and "working on 5" in html  # its prints, kept per batch
    assert "python" in html  # its tools


def test_a_pause_at_the_page_suspends_the_node_on_the_hub_and_resume_finishes_the_job(
    farm: ProcessFarm,
) -> None:
    job_id = farm.submit(NAPS, {})
    wait_until(lambda: progress(farm, job_id) >= 5, 60, "the job to be under way")
    answer = post(farm, "pause")
    assert answer.status_code == 303, answer.text
    wait_until(lambda: desk(farm)["state"] == "suspended", 10, "the hub to hear of the pause")
    assert desk(farm)["reason"] == PAUSED
    html = httpx.get(page_url(farm) + "/", timeout=10).text
    assert 'id="state">paused<' in html and 'id="resume"' in html
    held = progress(farm, job_id)
    time.sleep(1.5)  # frozen: nothing more is done meanwhile
    assert progress(farm, job_id) <= held + 1  # at most a result that was on its way
    assert post(farm, "resume").status_code == 303
    wait_until(lambda: desk(farm)["state"] in ("busy", "idle"), 10, "the node to work again")
    assert farm.wait_done(job_id, 60)["status"] == "completed"


def test_a_pause_posted_by_another_site_is_refused(farm: ProcessFarm) -> None:
    with httpx.Client(base_url=page_url(farm), timeout=10) as client:
        answer = client.post(
            "/pause", data={"csrf": "x"}, headers={"Origin": "http://evil.example"}
        )
        assert answer.status_code == 403
        rebound = client.get("/", headers={"Host": f"evil.example:{farm.page_port}"})  # type: ignore[attr-defined]
        assert rebound.status_code == 421
    assert desk(farm)["state"] != "suspended"
