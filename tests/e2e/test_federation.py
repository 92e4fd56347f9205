"""Federation with real processes on 127.0.0.1: a parent hub, two site hubs (`wit hub --parent`)
with two nodes each, one site's nodes four times slower (Compute.Work paced by the wall clock,
so the speeds are exact on a shared machine)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from witengine.testing.federation import Federation

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

FAST, SLOW = (0.5, 0.5), (0.125, 0.125)  # the sites' nodes: 1.0 and 0.25 together
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
        federation.start_site("fast", FAST)
        federation.start_site("slow", SLOW)
        federation.wait_linked()
        yield federation
    finally:
        federation.stop()


def test_a_site_is_one_node_of_its_parent_with_its_nodes_together(federation: Federation) -> None:
    for name, node in federation.parent_nodes().items():
        site = federation.sites[name]
        own = [n for n in site.api("GET", "/nodes").json() if n["state"] != "offline"]
        assert node["slots"] == sum(n["slots"] for n in own) == 2
        assert node["capabilities"]["cores"] == sum(n["capabilities"]["cores"] for n in own)
        assert node["status_url"] == f"{site.url}/"  # the dashboard's link to the site's own
        (rate,) = [r["rate"] for r in node["rates"] if r["activity"] == "Compute.Work"]
        summed = sum(
            r["rate"] * n["slots"]
            for n in own
            for r in n["rates"]
            if r["activity"] == "Compute.Work"
        )
        assert rate * node["slots"] == pytest.approx(summed)


def test_a_job_on_the_parent_runs_on_both_sites_in_proportion_to_their_speed(
    federation: Federation,
) -> None:
    n = 3000
    units = [1.0 + (i % 5) / 4 for i in range(n)]
    text = "[" + ", ".join(repr(u) for u in units) + "]"
    job_id = federation.parent.submit(SCRIPT, {"units": text})
    job = federation.parent.wait_done(job_id, 240)
    assert job["status"] == "completed", job.get("error")
    assert job["variables"]["done"] == units  # right, and in order
    done = {name: node["done"] for name, node in federation.parent_nodes().items()}
    assert sum(done.values()) == n  # each item committed once, by one site
    # The fast site's nodes do four times the slow site's: 80 % of the work.
    print(f"items per site: {done}")
    assert done["fast"] / n == pytest.approx(0.8, abs=0.04), done
