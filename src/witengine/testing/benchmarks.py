"""Plugins for tests of benchmarks and requirements, loaded by reference (in `WIT_PLUGINS` or a
node's plugin refs): `witengine.testing.benchmarks:impossible` has an activity no machine here
can run; `witengine.testing.benchmarks:faulty` has benchmarks that fail, mislead or never end.
"""

from __future__ import annotations

import time

from witengine import __version__
from witengine.plugins.api import Int, Plugin, Requirements

impossible = Plugin("impossible", version=__version__, summary="needs what no node has")
faulty = Plugin("faulty-benchmarks", version=__version__, summary="benchmarks that go wrong")

IMPOSSIBLE = Requirements(software="blender>=99")  # no machine running these tests has it


@impossible.activity(
    "Bench.Impossible", unit="frames@1", estimate=lambda n: 1.0, requires=IMPOSSIBLE
)
def frame(n: Int) -> Int:
    """Needs a Blender from the future, so no node here offers it."""
    return n


@impossible.benchmark("Bench.Impossible")
def impossible_benchmark() -> float:
    return 1.0


@faulty.activity("Bench.Broken")
def broken(n: Int) -> Int:
    """Fine to run; its benchmark raises."""
    return n


@faulty.benchmark("Bench.Broken")
def broken_benchmark() -> float:
    raise RuntimeError("the test scene is missing")


@faulty.activity("Bench.Idle")
def idle(n: Int) -> Int:
    """Fine to run; its benchmark claims no work done."""
    return n


@faulty.benchmark("Bench.Idle")
def idle_benchmark() -> float:
    return 0.0


@faulty.activity("Bench.Endless")
def endless(n: Int) -> Int:
    """Fine to run; its benchmark takes a minute per run (to test cancelling it)."""
    return n


@faulty.benchmark("Bench.Endless")
def endless_benchmark() -> float:
    time.sleep(60)
    return 1.0
