"""The benchmark runner: the measuring loop on a fake clock, then real child processes with tiny
durations: a rate in the activity's unit, failures in words, a cancel that kills the child."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from witengine.node.benchmark import (
    SCHEDSTAT,
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


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("8000000000 1500000000 12\n", 1.5),  # on a CPU 8 s, waiting for one 1.5 s, 12 slices
        ("8000000000 0 12\n", 0.0),
        ("", 0.0),
        ("8000000000 soon 12\n", 0.0),
    ],
)
def test_cpu_wait_is_the_second_figure_of_schedstat_in_seconds(
    tmp_path: Path, text: str, seconds: float
) -> None:
    stats = tmp_path / "schedstat"
    stats.write_text(text)
    assert cpu_wait_seconds(stats) == seconds


def test_cpu_wait_is_zero_where_the_system_does_not_tell_it(tmp_path: Path) -> None:
    assert cpu_wait_seconds(tmp_path / "no-schedstat") == 0.0


@pytest.mark.skipif(not SCHEDSTAT.exists(), reason="this system has no /proc/self/schedstat")
def test_cpu_wait_of_this_process_is_read_from_its_schedstat() -> None:
    def waited() -> float:
        return int(SCHEDSTAT.read_text().split()[1]) / 1e9

    before = waited()
    found = cpu_wait_seconds()
    assert before <= found <= waited()


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


async def test_compute_activities_are_measured_in_child_processes_in_their_units() -> None:
    names = ["Compute.Work", "Compute.IsPrime", "Compute.Hash", "Compute.ReadText"]
    found = await asyncio.gather(*(run_benchmark([COMPUTE], n, min_seconds=0.05) for n in names))
    assert [(f.activity, f.unit) for f in found] == [
        ("Compute.Work", "compute-units@1"),
        ("Compute.IsPrime", "trial-divisions@1"),
        ("Compute.Hash", "bytes@1"),
        ("Compute.ReadText", "bytes@1"),
    ]
    for each in found:
        assert each.iterations >= 1 and each.elapsed >= 0.05
        assert each.rate == pytest.approx(each.work / (each.elapsed - each.waited))
    work = found[0]
    assert work.work == 2.0 * work.iterations
    assert 1 < work.rate < 100_000, "a unit is some milliseconds of one core"


FAILURES = {  # (plugins, activity) -> what the runner says, in full
    (COMPUTE, "Compute.Fail"): r"^Compute\.Fail: its plugin declares no benchmark$",
    (COMPUTE, "Compute.Nope"): r"^Compute\.Nope: no such activity in this node's plugins$",
    (FAULTY, "Bench.Broken"): (
        r"^Bench\.Broken: its benchmark failed: RuntimeError: the test scene is missing$"
    ),
    (FAULTY, "Bench.Idle"): r"^Bench\.Idle: its benchmark returned 0\.0; it must return the work",
    ("nowhere:plugin", "Compute.Work"): r"plugin 'nowhere:plugin' failed to load",
}


async def test_a_benchmark_that_cannot_run_says_why() -> None:
    outcomes = await asyncio.gather(
        *(run_benchmark([ref], name, min_seconds=0.01) for ref, name in FAILURES),
        return_exceptions=True,
    )
    for message, outcome in zip(FAILURES.values(), outcomes, strict=True):
        assert isinstance(outcome, BenchmarkFailed), outcome
        assert re.search(message, str(outcome)), (message, str(outcome))


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
    assert ended(child)


def ended(process: psutil.Process) -> bool:
    """Exited (a zombie counts: what reaps orphans here may take its time)."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_a_benchmark_whose_node_died_stops_by_itself() -> None:
    # A stand-in node starts a long benchmark in its own session, then is killed outright.
    node = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import os, subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-m', 'witengine.node.benchmark',"
        f" '--plugins', '{COMPUTE}', '--activity', 'Compute.Sleep', '--min-seconds', '60',"
        " '--parent', str(os.getpid())], start_new_session=True, stdout=subprocess.DEVNULL)\n"
        "print(child.pid, flush=True)\n"
        "child.wait()\n",
        stdout=asyncio.subprocess.PIPE,
    )
    assert node.stdout is not None
    benchmark = psutil.Process(int(await asyncio.wait_for(node.stdout.readline(), 30)))
    try:
        node.kill()
        await node.wait()
        for _ in range(1000):  # bounded: it stops after the run in progress (10 ms)
            if ended(benchmark):
                break
            await asyncio.sleep(0.01)
        assert ended(benchmark), "the orphaned benchmark ended between two runs of its routine"
    finally:
        with contextlib.suppress(psutil.NoSuchProcess):
            benchmark.kill()
