"""Federation with real processes on 127.0.0.1: a parent hub, two site hubs (`wit hub --parent`)
with two nodes each, one site's nodes four times slower (Compute.Work paced by the wall clock,
so the speeds are exact on a shared machine)."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from witengine.testing.federation import Federation
from witengine.testing.processes import TEST_PLUGINS, wait_until

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
        summed = sum(rate_of(n) * n["slots"] for n in own)
        # A rate the site's nodes reported after its hello reaches the parent within seconds.
        wait_until(
            lambda s=name, t=summed: _site_rate(federation, s) == pytest.approx(t),
            30,
            f"site {name}'s rate at the parent to be its nodes' together",
        )


def rate_of(node: dict[str, Any]) -> float:
    """A node's Compute.Work rate, as its hub shows it."""
    (rate,) = [r["rate"] for r in node["rates"] if r["activity"] == "Compute.Work"]
    return float(rate)


def _site_rate(federation: Federation, name: str) -> float:
    """The site's Compute.Work rate at the parent, times its slots: all its nodes do."""
    node = federation.parent_nodes()[name]
    return rate_of(node) * node["slots"]


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


EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "plugin"


def test_a_plugin_only_the_parent_has_travels_to_the_sites_nodes_through_the_site(
    tmp_path: Path,
) -> None:
    """The example plugin is importable by the parent hub alone: the site hub installs it from
    the parent's signed bundle and serves it, signed with its own key, to its node, which runs
    the parent's job with it; the files its items make reach the parent."""
    only_parent = tmp_path / "only-parent"
    only_parent.mkdir()
    shutil.copy(EXAMPLE / "wit_tiles.py", only_parent)
    plugins = f"{TEST_PLUGINS},wit_tiles:plugin"
    federation = Federation(
        tmp_path, parent_env={"PYTHONPATH": str(only_parent), "WIT_PLUGINS": plugins}
    )
    try:
        federation.start_parent()
        site = federation.start_site("tiles", ())
        served = lambda: [p["name"] for p in site.api("GET", "/plugins").json()]  # noqa: E731
        wait_until(lambda: "tiles" in served(), 60, "the site to serve the parent's plugin")
        site.start_node("tiles1")
        federation.wait_linked()
        script = (EXAMPLE / "tiles.wit").read_text()
        job_id = federation.parent.submit(script, {"columns": "3", "rows": "2"})
        job = federation.parent.wait_done(job_id, 60)
        node_log = site.log("tiles1")
        labels = job["variables"]["labels"]
        # The files the site's node made went up to the site, and from the site to the parent.
        got = [federation.parent.api("GET", f"/blobs/{label['sha256']}") for label in labels]
    finally:
        federation.stop()
    assert job["status"] == "completed", job["error"]
    assert job["variables"]["areas"] == [0.25] * 6
    assert [label["name"] for label in labels] == [
        f"tile-{x}-{y}.txt" for y in range(2) for x in range(3)
    ]
    assert [answer.status_code for answer in got] == [200] * 6
    assert f"installed plugin tiles 0.1 from {site.url}" in node_log


def test_a_file_of_the_parents_job_reaches_every_sites_nodes_through_their_site(
    federation: Federation,
) -> None:
    """Items read a file uploaded to the parent: each site that runs some fetches it from the
    parent into its own store, its nodes from the site."""
    data = b"a file of the parent's job\n"
    sha256 = hashlib.sha256(data).hexdigest()
    stored = federation.parent.api("PUT", f"/blobs/{sha256}", content=data)
    assert stored.status_code in (200, 201), stored.text
    n = 200
    script = """\
Job:Shared(Blob:doc, Int:n)
{
    StringCollection:texts = Grid.ForEach(i in Int.Range(0, n)) => Compute.ReadText(doc);
}
"""
    response = federation.parent.api(
        "POST",
        "/jobs",
        json={
            "script": script,
            "parameters": {"n": str(n)},
            "files": {"doc": {"sha256": sha256, "size": len(data), "name": "doc.txt"}},
        },
    )
    assert response.status_code == 201, response.text
    job = federation.parent.wait_done(response.json()["id"], 120)
    assert job["status"] == "completed", job.get("error")
    assert job["variables"]["texts"] == [data.decode()] * n
    ran = {name: node["done"] for name, node in federation.parent_nodes().items()}
    assert sum(ran.values()) == n
    for name, site in federation.sites.items():  # in the own store of each site that ran items
        if ran[name]:
            assert site.api("GET", f"/blobs/{sha256}").status_code == 200, name
