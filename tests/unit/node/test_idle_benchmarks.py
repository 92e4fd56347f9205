"""A node's rates: what it offers, the cache of measured rates by plugin version, and the idle-time
loop (with a scripted measure: one benchmark at a time, stopped when work arrives)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from witengine.node.benchmark import BenchmarkFailed, Measurement
from witengine.node.rates import (
    IdleBenchmarks,
    RateCache,
    Target,
    benchmark_targets,
    offered_activities,
)
from witengine.plugins import compute
from witengine.plugins.api import Int, Placement, Plugin
from witengine.plugins.registry import build_library
from witengine.protocol import BenchmarkReport, Capabilities
from witengine.testing import benchmarks

HERE = Capabilities(os="Linux", arch="x86_64", cores=2, ram_bytes=8 * 1024**3)

hub_only = Plugin("hub-only", version="1")


@hub_only.activity("HubOnly.Sum", placement=Placement.HUB)
def total(n: Int) -> Int:
    return n


def test_a_node_offers_what_it_can_run_and_says_why_not_the_rest() -> None:
    library = build_library([compute.plugin, benchmarks.impossible, hub_only])
    offered, unmet = offered_activities(library, HERE)
    assert offered == [
        "Compute.Fail",
        "Compute.Hash",
        "Compute.IsPrime",
        "Compute.ReadText",
        "Compute.Sleep",
        "Compute.Work",
        "Compute.WriteText",
    ]
    assert unmet == {"Bench.Impossible": ["needs blender>=99; this node has no blender"]}


def test_benchmark_targets_are_the_offered_activities_with_a_benchmark() -> None:
    library = build_library([compute.plugin, benchmarks.impossible])
    targets = benchmark_targets(library, HERE)
    assert [(t.activity, t.unit) for t in targets] == [
        ("Compute.Hash", "bytes@1"),
        ("Compute.IsPrime", "trial-divisions@1"),
        ("Compute.ReadText", "bytes@1"),
        ("Compute.Sleep", "milliseconds@1"),
        ("Compute.Work", "compute-units@1"),
        ("Compute.WriteText", "bytes@1"),
    ]
    assert {(t.plugin, t.version) for t in targets} == {("compute", compute.plugin.version)}


# -------------------------------------------------------------------- the cache

WORK = Target("Compute.Work", "compute", "1.0", "compute-units@1")
HASH = Target("Compute.Hash", "compute", "1.0", "bytes@1")


def measured(target: Target, rate: float = 100.0) -> Measurement:
    return Measurement(target.activity, target.unit, rate, 1.5, 30, rate * 1.5)


def test_a_rate_is_kept_across_restarts_for_the_same_plugin_version_and_speed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "benchmarks.json"
    RateCache(path).put(WORK, measured(WORK))
    assert RateCache(path).get(WORK) == measured(WORK)
    assert RateCache(path).get(HASH) is None
    assert RateCache(path, speed=0.5).get(WORK) is None, "a rate at another speed is not reused"


def test_a_new_plugin_version_or_unit_needs_a_new_benchmark(tmp_path: Path) -> None:
    path = tmp_path / "benchmarks.json"
    cache = RateCache(path)
    cache.put(WORK, measured(WORK))
    newer = Target("Compute.Work", "compute", "1.1", "compute-units@1")
    assert cache.get(newer) is None
    assert cache.get(Target("Compute.Work", "compute", "1.0", "compute-units@2")) is None
    cache.put(newer, measured(newer, 50.0))
    assert RateCache(path).get(WORK) is None, "the old version's rates are forgotten"
    assert list(json.loads(path.read_text())["plugins"]) == ["compute@1.1"]


@pytest.mark.parametrize("text", ["{not json", '{"format": 99, "plugins": {}}', "[]"])
def test_an_unreadable_cache_is_ignored(tmp_path: Path, text: str) -> None:
    path = tmp_path / "benchmarks.json"
    path.write_text(text)
    cache = RateCache(path)
    assert cache.get(WORK) is None
    cache.put(WORK, measured(WORK))
    assert RateCache(path).get(WORK) == measured(WORK)


# --------------------------------------------------------------------- the loop


class Scripted:
    """A measure that waits for the test to finish each benchmark."""

    def __init__(self) -> None:
        self.started: asyncio.Queue[Target] = asyncio.Queue()
        self.outcomes: dict[str, asyncio.Future[Measurement]] = {}
        self.cancelled: list[str] = []

    async def __call__(self, target: Target) -> Measurement:
        future = asyncio.get_running_loop().create_future()
        self.outcomes[target.activity] = future
        await self.started.put(target)
        try:
            return await future
        except asyncio.CancelledError:
            self.cancelled.append(target.activity)
            raise


async def next_started(measure: Scripted) -> str:
    return (await asyncio.wait_for(measure.started.get(), 5)).activity


async def until(condition: object, what: str) -> None:
    for _ in range(500):  # bounded: each step takes a few loop turns
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def scripted() -> Scripted:
    return Scripted()


def loop(
    tmp_path: Path, measure: Scripted, reports: list[BenchmarkReport], error: float = 0.0
) -> IdleBenchmarks:
    return IdleBenchmarks(
        RateCache(tmp_path / "benchmarks.json"),
        lambda: [HASH, WORK],
        measure,
        reports.append,
        idle_seconds=0.01,
        error=error,
    )


async def test_the_loop_measures_missing_rates_one_at_a_time_and_reports_them(
    tmp_path: Path, scripted: Scripted
) -> None:
    reports: list[BenchmarkReport] = []
    idle = loop(tmp_path, scripted, reports)
    idle.cache.put(HASH, measured(HASH))  # known already: not measured again
    running = asyncio.create_task(idle.run())
    try:
        assert await next_started(scripted) == "Compute.Work"
        scripted.outcomes["Compute.Work"].set_result(measured(WORK, 42.0))
        await until(lambda: reports, "the report")
        assert [(r.activity, r.rate, r.plugin_version) for r in reports] == [
            ("Compute.Work", 42.0, "1.0")
        ]
        assert scripted.started.empty()
        assert [r.activity for r in idle.reports()] == ["Compute.Hash", "Compute.Work"]
    finally:
        running.cancel()


async def test_a_benchmark_error_skews_the_reported_rates_but_not_the_cached_ones(
    tmp_path: Path, scripted: Scripted
) -> None:
    reports: list[BenchmarkReport] = []
    idle = loop(tmp_path, scripted, reports, error=-0.3)
    idle.cache.put(HASH, measured(HASH, 10.0))
    running = asyncio.create_task(idle.run())
    try:
        assert await next_started(scripted) == "Compute.Work"
        scripted.outcomes["Compute.Work"].set_result(measured(WORK, 40.0))
        await until(lambda: reports, "the report")
        assert [r.rate for r in reports] == [pytest.approx(28.0)]
        assert [r.rate for r in idle.reports()] == [pytest.approx(7.0), pytest.approx(28.0)]
        cached = idle.cache.get(WORK)
        assert cached is not None and cached.rate == 40.0
    finally:
        running.cancel()


async def test_work_stops_the_running_benchmark_which_runs_again_when_idle(
    tmp_path: Path, scripted: Scripted
) -> None:
    reports: list[BenchmarkReport] = []
    idle = loop(tmp_path, scripted, reports)
    running = asyncio.create_task(idle.run())
    try:
        assert await next_started(scripted) == "Compute.Hash"
        idle.busy()
        await until(lambda: scripted.cancelled == ["Compute.Hash"], "the cancel")
        await asyncio.sleep(0.05)  # several idle periods: still busy, nothing starts
        assert scripted.started.empty()
        idle.idle()
        assert await next_started(scripted) == "Compute.Hash"
        scripted.outcomes["Compute.Hash"].set_result(measured(HASH))
        assert await next_started(scripted) == "Compute.Work"
    finally:
        running.cancel()


async def test_a_failing_benchmark_is_not_tried_again(tmp_path: Path, scripted: Scripted) -> None:
    reports: list[BenchmarkReport] = []
    idle = loop(tmp_path, scripted, reports)
    running = asyncio.create_task(idle.run())
    try:
        assert await next_started(scripted) == "Compute.Hash"
        scripted.outcomes["Compute.Hash"].set_exception(BenchmarkFailed("Compute.Hash: broken"))
        assert await next_started(scripted) == "Compute.Work"
        scripted.outcomes["Compute.Work"].set_result(measured(WORK))
        await until(lambda: reports, "the report")
        idle.busy()
        idle.idle()
        await asyncio.sleep(0.05)
        assert scripted.started.empty(), "Compute.Hash failed once: not again in this run"
        assert [r.activity for r in reports] == ["Compute.Work"]
    finally:
        running.cancel()


async def test_a_node_without_benchmarks_measures_nothing(
    tmp_path: Path, scripted: Scripted
) -> None:
    idle = loop(tmp_path, scripted, [])
    idle.enabled = False
    await asyncio.wait_for(idle.run(), 5)
    assert scripted.started.empty()
