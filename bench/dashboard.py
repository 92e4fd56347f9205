"""Dashboard pages under load: 50 nodes connected and a 10,000-item job running.

A real hub process on 127.0.0.1 (`wit hub`), 50 `FakeNode`s in this process speaking the real
WebSocket protocol (each item "runs" by waiting, so the hub sees real batches, results and
heartbeats at farm rates), and a 10,000-item `Compute.Sleep` job. While it runs, the overview,
nodes, job pages and the job page's heaviest fragments are fetched over and over and timed
(goal: under 300 ms), and one page's live stream is followed: how often the job's header
arrives, how far its progress trails the hub's own, and how many bytes a page receives per
second. Prints the figures; exits 1 when a page misses the goal.

    .venv/bin/python bench/dashboard.py [--nodes 50] [--items 10000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from httpx_sse import aconnect_sse

from witengine.security.files import read_private
from witengine.testing.fake_nodes import FakeNode
from witengine.testing.processes import free_port

GOAL_MS = 300.0
SCRIPT = """\
Job:Load(Int:n = 10000, Int:ms = 100)
{
    IntCollection:slept = Grid.ForEach(i in Int.Range(0, n)) => Compute.Sleep(ms);
}
"""
PAGES = {
    "overview": "/",
    "nodes": "/nodes",
    "job": "/jobs/{job}",
    "job timeline": "/jobs/{job}?fragment=timeline",
    "job items": "/jobs/{job}?fragment=maps",
}


async def wait_for(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.1)
    raise SystemExit(f"timed out waiting for {what}")


async def time_pages(client: httpx.AsyncClient, job: str, seconds: float) -> dict[str, list[float]]:
    """Each page in turn, again and again, for `seconds`: milliseconds per fetch."""
    times: dict[str, list[float]] = {name: [] for name in PAGES}
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        for name, path in PAGES.items():
            began = time.perf_counter()
            response = await client.get(path.format(job=job))
            times[name].append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, (path, response.status_code)
        await asyncio.sleep(0.2)
    return times


async def follow(client: httpx.AsyncClient, job: str, seconds: float) -> dict[str, float]:
    """Follow the job page's stream: header arrivals, progress lag, bytes per second."""
    arrivals: list[float] = []
    lags: list[float] = []
    size = 0
    began = time.monotonic()
    with contextlib.suppress(TimeoutError):
        async with (
            asyncio.timeout(seconds),
            aconnect_sse(client, "GET", f"/stream?view=job&key={job}") as source,
        ):
            async for event in source.aiter_sse():
                size += len(event.data)
                if event.event != "swap" or json.loads(event.data)["id"] != "job-header":
                    continue
                arrivals.append(time.monotonic())
                shown = re.search(r'aria-valuenow="(\d+)"', json.loads(event.data)["html"])
                truth = (await client.get(f"/api/v1/jobs/{job}")).json()["progress"]["done"]
                if shown:
                    lags.append(truth - int(shown[1]))
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    return {
        "updates": len(arrivals),
        "max gap s": max(gaps, default=0.0),
        "median gap s": statistics.median(gaps) if gaps else 0.0,
        "max lag items": max(lags, default=0.0),
        "kB per s": size / 1000 / (time.monotonic() - began),
    }


def start_hub(root: Path, port: int) -> subprocess.Popen[bytes]:
    log = (root / "hub.log").open("ab")
    command = ["hub", "--port", str(port), "--data-dir", str(root / "hub"), "--no-advertise"]
    return subprocess.Popen(
        [sys.executable, "-m", "witengine", *command],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )


async def main(nodes: int, items: int, seconds: float, item_ms: int) -> int:
    with tempfile.TemporaryDirectory(prefix="wit-bench-dashboard-") as folder:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        hub = start_hub(Path(folder), port)
        tasks: list[asyncio.Task[None]] = []
        try:
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:

                async def healthy() -> bool:
                    with contextlib.suppress(httpx.HTTPError):
                        return (await client.get("/api/v1/health")).status_code == 200
                    return False

                await wait_for(healthy, 60, "the hub")
                # Pages, streams and the API as the hub's admin; nodes enrol with a join token.
                token = read_private(Path(folder) / "hub" / "admin.token")
                if token is None:
                    raise SystemExit(f"the hub wrote no admin token; see {folder}/hub.log")
                client.headers["Authorization"] = f"Bearer {token}"
                made = await client.post("/api/v1/tokens", json={"role": "node", "label": "bench"})
                if made.status_code != 201:
                    raise SystemExit(f"the hub made no join token: {made.status_code} {made.text}")
                fakes = [
                    FakeNode(
                        url,
                        f"node-{n:02d}",
                        item_seconds=item_ms / 1000,
                        join_token=made.json()["token"],
                    )
                    for n in range(nodes)
                ]
                tasks = [asyncio.create_task(fake.run()) for fake in fakes]
                await asyncio.wait_for(asyncio.gather(*(f.connected.wait() for f in fakes)), 60)
                submitted = await client.post(
                    "/api/v1/jobs",
                    json={"script": SCRIPT, "parameters": {"n": str(items), "ms": str(item_ms)}},
                )
                job = submitted.json()["id"]

                async def busy() -> bool:
                    return sum(f.done for f in fakes) > nodes

                await wait_for(busy, 60, "the job to start on the nodes")
                times, stream = await asyncio.gather(
                    time_pages(client, job, seconds), follow(client, job, seconds)
                )
                done = (await client.get(f"/api/v1/jobs/{job}")).json()["progress"]["done"]
                await client.post(f"/api/v1/jobs/{job}/cancel")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            os.killpg(hub.pid, signal.SIGTERM)
            hub.wait(30)

    print(f"{nodes} nodes, a {items:,}-item job at {item_ms} ms per item; {done:,} items done")
    print(f"{'page':<14} {'fetches':>7} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}")
    missed = False
    for name, samples in times.items():
        samples.sort()
        p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
        missed |= p95 >= GOAL_MS
        print(
            f"{name:<14} {len(samples):>7} {statistics.median(samples):>10.1f} "
            f"{p95:>8.1f} {samples[-1]:>8.1f}"
        )
    print("job page stream: " + ", ".join(f"{k} {v:.2f}" for k, v in stream.items()))
    print(f"goal: every page under {GOAL_MS:.0f} ms at p95: {'missed' if missed else 'met'}")
    return 1 if missed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--item-ms", type=int, default=100)
    arguments = parser.parse_args()
    sys.exit(
        asyncio.run(main(arguments.nodes, arguments.items, arguments.seconds, arguments.item_ms))
    )
