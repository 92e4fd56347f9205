"""Faults of a federation (`wit hub --parent`): a site hub killed mid-job is a node lost to its
parent, a lost link between a site and its parent a disconnected node, a site's own node killed
the site's business. Every item committed once at the
parent, the results right and in order. Real processes on 127.0.0.1, bounded waits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from faultcheck import CommitWatch, assert_committed_once, assert_no_acknowledged_job_lost

from witengine.testing.federation import Federation
from witengine.testing.processes import progress, wait_until
from witengine.testing.proxy import Fault, FaultSchedule, TcpProxy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SCRIPT = """\
Job:Federated(DoubleCollection:units)
{
    DoubleCollection:done = Grid.ForEach(u in units) => Compute.Work(u);
}
"""


@pytest.fixture
def federation(tmp_path: Path) -> Iterator[Federation]:
    federation = Federation(tmp_path)
    try:
        federation.start_parent()
        federation.start_site("fast", (0.5, 0.5))
        federation.start_site("slow", (0.125, 0.125))
        federation.wait_linked()
        yield federation
    finally:
        federation.stop()


def _submit(federation: Federation, n: int) -> tuple[str, list[float]]:
    units = [1.0 + (i % 5) / 4 for i in range(n)]
    text = "[" + ", ".join(repr(u) for u in units) + "]"
    return federation.parent.submit(SCRIPT, {"units": text}), units


def test_a_site_hub_killed_mid_job_is_a_node_lost_and_the_job_completes(
    federation: Federation,
) -> None:
    parent = federation.parent
    job_id, units = _submit(federation, 3000)
    with CommitWatch(parent.root / "hub" / "hub.sqlite3", job_id) as watch:
        wait_until(lambda: progress(parent, job_id) >= 600, 120, "600 items done")
        assert federation.parent_nodes()["slow"]["running"] > 0, "the slow site held no batch"
        federation.sites["slow"].kill_hub()
        job = parent.wait_done(job_id, 240)
    assert job["status"] == "completed", job.get("error")
    assert job["variables"]["done"] == units
    assert_committed_once(parent, job_id, units, watch)
    assert_no_acknowledged_job_lost(parent)


def test_a_site_finishes_its_batches_when_one_of_its_nodes_is_killed(
    federation: Federation,
) -> None:
    parent, fast = federation.parent, federation.sites["fast"]
    job_id, units = _submit(federation, 1500)
    with CommitWatch(parent.root / "hub" / "hub.sqlite3", job_id) as watch:
        wait_until(lambda: progress(parent, job_id) >= 300, 120, "300 items done")
        fast.kill_node("fast1")
        job = parent.wait_done(job_id, 240)
    assert job["status"] == "completed", job.get("error")
    assert job["variables"]["done"] == units
    assert_committed_once(parent, job_id, units, watch)
    # The site ran each batch the parent gave it through to the end (a batch the parent
    # called back, a copy near the end that another site finished first, is cancelled).
    batches = [j for j in fast.api("GET", "/jobs").json() if j["name"].startswith("parent ")]
    statuses = {j["status"] for j in batches}
    assert statuses <= {"completed", "cancelled"}, statuses
    done_after = [j for j in batches if j["status"] == "completed"]
    assert done_after, "the site completed no batch"
    assert federation.parent_nodes()["fast"]["done"] > 0


def test_a_site_delivers_what_it_finished_while_its_link_to_the_parent_was_dead(
    tmp_path: Path,
) -> None:
    """The link between the only site and its parent goes dead for 3 s (nothing passes, then it
    is reset: what the site sent meanwhile is lost); the site works on, links again, and sends
    every result the parent has not acknowledged. Lease and grace outlast the outage, so only
    the site can deliver those items: each of the parent's items ran in one batch of the site,
    none again."""
    federation = Federation(tmp_path, ("--lease", "20", "--heartbeat", "0.5", "--grace", "20"))
    proxy: TcpProxy | None = None
    try:
        federation.start_parent()
        proxy = TcpProxy(federation.parent.port, FaultSchedule((Fault(0.0, "drop", 3.0),)))
        proxy.start(armed=False)
        site = federation.start_site(
            "only", (0.5, 0.5), parent_url=f"http://127.0.0.1:{proxy.port}"
        )
        federation.wait_linked()
        parent = federation.parent
        job_id, units = _submit(federation, 600)
        with CommitWatch(parent.root / "hub" / "hub.sqlite3", job_id) as watch:
            wait_until(lambda: progress(parent, job_id) >= 60, 60, "60 items done")
            proxy.arm()
            wait_until(lambda: proxy.faults_over, 10, "the link to come back")
            job = parent.wait_done(job_id, 120)
        batches = [j for j in site.api("GET", "/jobs").json() if j["name"].startswith("parent ")]
    finally:
        if proxy is not None:
            proxy.stop()
        federation.stop()
    assert job["status"] == "completed", job.get("error")
    assert job["variables"]["done"] == units
    assert_committed_once(parent, job_id, units, watch)
    assert {j["status"] for j in batches} == {"completed"}
    assert sum(j["progress"]["total"] for j in batches) == len(units)  # none given twice
    assert site.log().count("linked to the parent") >= 2, "the site never linked again"
