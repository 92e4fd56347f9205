"""Benchmark rates end to end over real HTTP and WebSocket on 127.0.0.1: two node agents (one at
half speed) measure Compute.Work in idle time in real child processes, the hub stores the rates
and `wit nodes` shows them; an activity a node lacks a requirement for gets no rate and no work.

The nodes' caches already hold the other compute activities' rates, so only Compute.Work is
measured (and the cached rates reach the hub when the nodes connect)."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from witengine.hub.app import Hub, build_hub, create_app
from witengine.hub.settings import HubSettings
from witengine.node.agent import Agent
from witengine.node.benchmark import Measurement
from witengine.node.probe import probe_capabilities
from witengine.node.rates import RateCache, benchmark_targets
from witengine.node.settings import NodeSettings
from witengine.plugins.registry import build_library, load_ref
from witengine.protocol import API_PREFIX, Capabilities, PluginInfo
from witengine.protocol.states import JobStatus
from witengine.security.tokens import Role

pytestmark = pytest.mark.timeout(90)

REFS = ("witengine.plugins.compute:plugin", "witengine.testing.benchmarks:impossible")
CACHED_RATE = 1234.0  # what the nodes' caches say for every activity but Compute.Work

IMPOSSIBLE_JOB = """\
Job:Impossible()
{
    IntCollection:frames = Grid.ForEach(i in Int.Range(0, 3)) => Bench.Impossible(i);
}
"""


@dataclass
class LiveHub:
    hub: Hub
    url: str  # the API root, e.g. http://127.0.0.1:41234/api/v1
    client: httpx.AsyncClient


@pytest.fixture
async def live_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LiveHub]:
    """A hub on 127.0.0.1 that nodes can connect to (WebSocket on), knowing Bench.Impossible."""
    monkeypatch.setenv("WIT_PLUGINS", REFS[1])
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    settings = HubSettings(
        data_dir=tmp_path / "hub", port=port, advertise=False, no_node_seconds=0.5
    )
    hub = build_hub(settings)
    config = uvicorn.Config(
        create_app(settings, hub), log_level="warning", lifespan="on", ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    await until(lambda: server.started or serving.done(), 30, "uvicorn to start")
    url = f"http://127.0.0.1:{port}{API_PREFIX}"
    try:
        headers = {"Authorization": f"Bearer {hub.admin_token}"}
        async with httpx.AsyncClient(base_url=url, timeout=30.0, headers=headers) as client:
            monkeypatch.setenv("WIT_TOKEN", hub.admin_token or "")  # for the wit commands
            yield LiveHub(hub, url, client)
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 30.0)
        listener.close()


@pytest.fixture(scope="module")
def capabilities() -> Capabilities:
    return probe_capabilities()  # once: it asks Blender and FFmpeg for their versions


def make_agent(
    live: LiveHub, root: Path, name: str, speed: float, capabilities: Capabilities
) -> Agent:
    plugins = [load_ref(ref) for ref in REFS]
    library = build_library(plugins)
    settings = NodeSettings(
        hub_url=live.url.removesuffix(API_PREFIX),
        name=name,
        cache_dir=root / name,
        plugin_refs=REFS,
        max_backoff=0.5,
        speed=speed,
        bench_seconds=0.4,
        bench_idle_seconds=0.0,
        token=live.hub.book.issue(Role.JOIN).text,  # each agent enrols through the API
    )
    cache = RateCache(settings.cache_dir / "benchmarks.json", speed)
    for target in benchmark_targets(library, capabilities):
        if target.activity != "Compute.Work":
            cache.put(target, Measurement(target.activity, target.unit, CACHED_RATE, 1.0, 3, 1.0))
    infos = [PluginInfo(name=p.name, version=p.version) for p in plugins]
    return Agent(settings, library, infos, capabilities)


@pytest.fixture
async def farm(
    live_hub: LiveHub, tmp_path: Path, capabilities: Capabilities
) -> AsyncIterator[LiveHub]:
    agents = [
        make_agent(live_hub, tmp_path, "fast", 1.0, capabilities),
        make_agent(live_hub, tmp_path, "slow", 0.5, capabilities),
    ]
    running = [asyncio.create_task(agent.run()) for agent in agents]
    try:
        yield live_hub
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


async def until(condition: Callable[[], Any], seconds: float, what: str) -> Any:
    """Poll `condition` until it is true, failing after `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        value = condition()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


async def wit(*args: str) -> str:
    """Run the `wit` command without blocking this loop (the hub under test runs in it)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "witengine",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_nodes_report_rates_the_hub_stores_and_wit_nodes_shows_and_no_work_they_lack(
    farm: LiveHub,
) -> None:
    rates = farm.hub.dispatcher.rates
    await until(lambda: len(rates.rates_for("Compute.Work")) == 2, 60, "both nodes' rates")
    nodes = (await farm.client.get("/nodes")).json()
    names = {node["id"]: node["name"] for node in nodes}
    work = {names[node]: rate for node, rate in rates.rates_for("Compute.Work").items()}
    assert 0.3 < work["slow"] / work["fast"] < 0.8, f"--speed 0.5 is about half as fast: {work}"

    # The cached rates reached the hub on connect, and every rate is in the store.
    assert set(rates.rates_for("Compute.Hash", unit="bytes@1").values()) == {CACHED_RATE}
    stored = {(r.node_id, r.activity) for r in farm.hub.store.list_rates()}
    assert len(stored) == 2 * 6, "six compute activities with a benchmark, on each node"

    # No rate for what the nodes cannot run, and the API says why.
    assert rates.rates_for("Bench.Impossible") == {}
    for node in nodes:
        assert len(node["rates"]) == 6
        assert "Bench.Impossible" not in {r["activity"] for r in node["rates"]}
        (reason,) = node["unmet"]["Bench.Impossible"]
        assert reason.startswith("needs blender>=99; this node has ")

    # ... and no work: a map of it waits for a node that can run it, then fails saying so.
    response = await farm.client.post(
        "/jobs", json={"script": IMPOSSIBLE_JOB, "filename": "job.wit", "parameters": {}}
    )
    assert response.status_code == 201, response.text
    url = farm.url.removesuffix(API_PREFIX)
    shown, detail = await asyncio.gather(
        wit("nodes", "--hub", url), wit("nodes", "--hub", url, "--bench")
    )
    assert "Compute.Work" in shown and "compute-units@1" in shown
    rows = [line for line in detail.splitlines() if "Compute.Work" in line]
    assert len(rows) == 2 and any("fast" in row for row in rows), detail
    assert "needs blender>=99" in detail
    assert max(len(line) for line in [*shown.splitlines(), *detail.splitlines()]) <= 80

    job_id = response.json()["id"]

    async def ended() -> dict[str, Any] | None:
        job: dict[str, Any] = (await farm.client.get(f"/jobs/{job_id}")).json()
        return job if JobStatus(job["status"]).ended else None

    job = None
    for _ in range(600):  # bounded: about 30 s
        job = await ended()
        if job:
            break
        await asyncio.sleep(0.05)
    assert job is not None and job["status"] == "failed"
    assert "no connected node can run Bench.Impossible" in job["error"]
    view = farm.hub.dispatcher.view
    assert all(view.done(node["id"]) == 0 for node in nodes)
