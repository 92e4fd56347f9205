"""The benchmark runner: the measuring loop on a fake clock, then real child processes with tiny
durations: a rate in the activity's unit, failures in words, a cancel that kills the child."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

import psutil
import pytest

from witengine.node.benchmark import (
    BenchmarkFailed,
    Measurement,
    cpu_wait_seconds,
    measure,
    run_benchmark,
)

COMPUTE = "witengine.plugins.compute:plugin"
FAULTY = "witengine.testing.benchmarks:faulty"


class Ticking:
    """A clock that moves `step` seconds each time the routine runs."""

    def __init__(self, step: float) -> None:
        self.time = 0.0
        self.step = step
        self.runs = 0

    def now(self) -> float:
        return self.time

    def routine(self, work: float = 5.0) -> Callable[[], float]:
        def run() -> float:
            self.time += self.step
            self.runs += 1
            return work

        return run


def test_measure_warms_up_once_then_repeats_until_the_minimum_duration() -> None:
    clock = Ticking(step=0.3)
    found = measure("A.B", "things@1", clock.routine(), min_seconds=1.0, now=clock.now)
    assert clock.runs == 1 + 4, "one warm-up run, then four to pass 1 s"
    assert found == Measurement("A.B", "things@1", 20.0 / 1.2, 1.2, 4, 20.0)


def test_measure_leaves_out_the_time_spent_waiting_for_a_cpu() -> None:
    clock = Ticking(step=0.5)
    waits = iter([10.0, 10.5])  # before and after: 0.5 s of the 1.0 s measured were other load
    found = measure(
        "A.B",
        "things@1",
        clock.routine(),
        min_seconds=1.0,
        now=clock.now,
        waited=lambda: next(waits),
    )
    assert (found.elapsed, found.waited, found.work) == (1.0, 0.5, 10.0)
    assert found.rate == 10.0 / 0.5


def test_cpu_wait_of_this_process_is_read_where_the_system_tells_it() -> None:
    assert cpu_wait_seconds() >= 0.0


def test_measure_runs_at_least_once_after_the_warm_up() -> None:
    clock = Ticking(step=5.0)
    found = measure("A.B", "things@1", clock.routine(2.0), min_seconds=0.0, now=clock.now)
    assert (found.iterations, found.elapsed, found.rate) == (1, 5.0, 0.4)


@pytest.mark.parametrize(
    ("work", "message"),
    [
        (0.0, r"^A\.B: its benchmark returned 0\.0; it must return the work it did \(> 0\)$"),
        (float("inf"), r"returned inf; it must return the work it did"),
        (None, r"^A\.B: its benchmark returned None, not the work it did$"),
        (True, r"returned True, not the work it did"),
    ],
)
def test_measure_refuses_a_routine_that_does_not_say_its_work(work: object, message: str) -> None:
    clock = Ticking(step=0.1)
    with pytest.raises(BenchmarkFailed, match=message):
        measure("A.B", "things@1", lambda: work, min_seconds=1.0, now=clock.now)


# ------------------------------------------------------------- child processes


async def test_compute_work_is_measured_in_a_child_process_in_compute_units() -> None:
    found = await run_benchmark([COMPUTE], "Compute.Work", min_seconds=0.05)
    assert (found.activity, found.unit) == ("Compute.Work", "compute-units@1")
    assert found.iterations >= 1 and found.elapsed >= 0.05
    assert found.work == 2.0 * found.iterations
    assert found.rate == pytest.approx(found.work / (found.elapsed - found.waited))
    assert 1 < found.rate < 100_000, "a unit is some milliseconds of one core"


async def test_benchmarks_of_every_compute_activity_run_in_their_units() -> None:
    names = ["Compute.IsPrime", "Compute.Hash", "Compute.ReadText", "Compute.WriteText"]
    found = await asyncio.gather(*(run_benchmark([COMPUTE], n, min_seconds=0.01) for n in names))
    assert [(f.activity, f.unit) for f in found] == [
        ("Compute.IsPrime", "trial-divisions@1"),
        ("Compute.Hash", "bytes@1"),
        ("Compute.ReadText", "bytes@1"),
        ("Compute.WriteText", "bytes@1"),
    ]
    assert all(f.rate > 0 for f in found)


@pytest.mark.parametrize(
    ("activity", "message"),
    [
        ("Compute.Fail", r"^Compute\.Fail: its plugin declares no benchmark$"),
        ("Compute.Nope", r"^Compute\.Nope: no such activity in this node's plugins$"),
        (
            "Bench.Broken",
            r"^Bench\.Broken: its benchmark failed: RuntimeError: the test scene is missing$",
        ),
        ("Bench.Idle", r"^Bench\.Idle: its benchmark returned 0\.0; it must return the work"),
    ],
)
async def test_a_benchmark_that_cannot_run_says_why(activity: str, message: str) -> None:
    with pytest.raises(BenchmarkFailed, match=message):
        await run_benchmark([COMPUTE, FAULTY], activity, min_seconds=0.01)


async def test_a_plugin_that_fails_to_load_is_reported_with_the_child_error() -> None:
    with pytest.raises(BenchmarkFailed, match=r"plugin 'nowhere:plugin' failed to load"):
        await run_benchmark(["nowhere:plugin"], "Compute.Work", min_seconds=0.01)


async def test_a_benchmark_past_its_timeout_is_killed_and_reported() -> None:
    with pytest.raises(BenchmarkFailed, match=r"^Bench\.Endless: its benchmark took longer"):
        await run_benchmark([FAULTY], "Bench.Endless", min_seconds=0.01, timeout=1.0)


async def test_cancelling_a_benchmark_kills_its_child_at_once() -> None:
    me = psutil.Process(os.getpid())
    running = asyncio.create_task(run_benchmark([FAULTY], "Bench.Endless", min_seconds=0.01))
    low = min(19, me.nice() + 10)
    children: list[psutil.Process] = []
    for _ in range(1000):  # bounded: the child starts and lowers its priority in moments
        children = [c for c in me.children() if c.nice() >= low]
        if children:
            break
        await asyncio.sleep(0.01)
    assert children, "the benchmark's child process started at low priority"
    (child,) = children
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(running, 5)
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE


async def test_at_half_speed_compute_work_benchmarks_at_about_half_the_rate() -> None:
    ratios = []
    for _ in range(3):  # the median of three pairs, each pair run at once: the machine is noisy
        fast, slow = await asyncio.gather(
            run_benchmark([COMPUTE], "Compute.Work", min_seconds=0.25, speed=1.0),
            run_benchmark([COMPUTE], "Compute.Work", min_seconds=0.25, speed=0.5),
        )
        ratios.append(slow.rate / fast.rate)
    assert 0.3 < sorted(ratios)[1] < 0.8, ratios
