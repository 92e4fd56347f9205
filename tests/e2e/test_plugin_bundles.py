"""Plugins travel: a hub serves the example plugin as a signed bundle, a node that lacks it installs
it, offers its activities and runs a job with it; a bundle corrupted on the hub's disk is refused
by the node, which works on without it. Real hub and node processes on 127.0.0.1."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from witengine.testing.processes import TEST_PLUGINS, ProcessFarm, free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "plugin"


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[ProcessFarm]:
    # The example plugin lives in a throwaway folder that only the hub's Python can import.
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(EXAMPLE / "wit_tiles.py", site)
    hub_env = {"PYTHONPATH": str(site), "WIT_PLUGINS": f"{TEST_PLUGINS},wit_tiles:plugin"}
    farm = ProcessFarm(tmp_path, free_port(), hub_env=hub_env)
    farm.start_hub()
    try:
        yield farm
    finally:
        farm.stop()


def plugins_of(farm: ProcessFarm, name: str) -> list[str]:
    nodes = farm.api("GET", "/nodes").json()
    (node,) = [n for n in nodes if n["name"] == name]
    return sorted(p["name"] for p in node["plugins"])


def test_a_node_without_a_plugin_gets_it_from_the_hub_and_runs_a_job_with_it(
    farm: ProcessFarm,
) -> None:
    farm.start_node("a")
    wait_until(lambda: farm.online() == ["a"], 60, "node a to connect")
    assert "tiles" in plugins_of(farm, "a")
    installed = farm.root / "a" / "plugins" / "tiles-0.1"
    assert (installed / "wit_tiles.py").read_bytes() == (EXAMPLE / "wit_tiles.py").read_bytes()
    job_id = farm.submit((EXAMPLE / "tiles.wit").read_text(), {"columns": "3", "rows": "2"})
    job = farm.wait_done(job_id, 60)
    assert job["status"] == "completed", job["error"]
    assert job["variables"]["areas"] == [0.25] * 6
    assert [label["name"] for label in job["variables"]["labels"]] == [
        f"tile-{x}-{y}.txt" for y in range(2) for x in range(3)
    ]
    log = farm.log("a")
    assert "trusting the signing key" in log and f"of hub {farm.url} on first contact" in log
    assert f"installed plugin tiles 0.1 from {farm.url}" in log


def test_a_bundle_corrupted_on_the_hub_is_refused_and_the_node_works_on_without_it(
    farm: ProcessFarm,
) -> None:
    (bundle,) = (farm.root / "hub" / "plugins").glob("tiles-0.1-*.zip")
    data = bytearray(bundle.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bundle.write_bytes(bytes(data))
    farm.start_node("b")
    wait_until(lambda: farm.online() == ["b"], 60, "node b to connect")
    assert "tiles" not in plugins_of(farm, "b")
    assert f"refused plugin bundle tiles 0.1 from {farm.url}: its bytes hash to sha256" in farm.log(
        "b"
    )
    plugin_dir = farm.root / "b" / "plugins"
    assert not plugin_dir.exists() or not any(plugin_dir.iterdir())
    script = """\
Job:Primes()
{
    BoolCollection:primes = Grid.ForEach(i in Int.Range(0, 8)) => Compute.IsPrime(i);
}
"""
    job = farm.wait_done(farm.submit(script, {}), 60)
    assert job["status"] == "completed", job["error"]
    assert job["variables"]["primes"] == [False, False, True, True, False, True, False, True]
