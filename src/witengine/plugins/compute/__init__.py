"""The `compute` plugin: pure-Python sample workloads for demos, tests and benchmarks.

Every activity that does measurable work declares a unit, an estimate per item and a benchmark
that uses the test data in `data/`. `Compute.Work` honours a node's synthetic speed
(`ActivityContext.speed`), so tests and benchmarks can build a farm of unequal nodes on one
machine: a speed above 1 divides the work, a speed below 1 becomes a duty cycle (work, then
sleep), so four slow nodes fit on two cores. Its benchmark sees the same factor.

A CPU's speed drifts by several per cent from minute to minute on a shared machine, too much for
a benchmark that compares schedulers against the true rates. With `WIT_WORK_PACE` set (units per
second at speed 1), `Compute.Work` is paced by the wall clock instead: an item of u units at
speed s takes exactly u / (s x pace) seconds, burning the CPU a unit costs and sleeping the rest,
so the true rates are known exactly. The pace must leave the burn room: an item whose burn
overruns its time takes longer, and says so in its node's log.

Every activity is deterministic (the same arguments give the same result on any machine), so
each declares `compare=EXACT`: two nodes' results for one item agree when they are equal. For
`Compute.Work` and `Compute.Sleep`, whose result is their argument, that checks the answer, not
that the time was spent.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
import time
from importlib import resources

from witengine import __version__
from witengine.plugins.api import EXACT, ActivityContext, Blob, Double, Int, Long, Plugin

plugin = Plugin("compute", version=__version__, summary="pure-Python sample workloads")
log = logging.getLogger(__name__)

# One work unit is this many rounds of an integer mixing loop: a few milliseconds of one core.
ROUNDS_PER_UNIT = 20_000
WORK_BENCHMARK_UNITS = 2.0  # per run of Compute.Work's benchmark: some 10 ms at speed 1
TEXT_BENCHMARK_BYTES = 256 * 1024  # per run of the text benchmarks


@functools.cache
def _data(name: str) -> str:
    """A test data file shipped with the plugin, read once per process."""
    return (resources.files(__package__) / "data" / name).read_text("utf-8")


def _utf8_size(text: str) -> float:
    return float(len(text.encode("utf-8")))


def _benchmark_text() -> str:
    sample = _data("text.txt")
    return sample * (TEXT_BENCHMARK_BYTES // len(sample.encode("utf-8")) + 1)


class ComputeFailure(Exception):
    """Raised by Compute.Fail, on purpose."""


def trial_divisions(n: int) -> float:
    """The divisions is_prime makes for a prime near n (fewer for most composites)."""
    return max(1.0, math.isqrt(max(n, 0)) / 2)


@plugin.activity(
    "Compute.IsPrime", unit="trial-divisions@1", estimate=trial_divisions, compare=EXACT
)
def is_prime(n: Long) -> bool:
    """Whether n is a prime number (trial division)."""
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    limit = math.isqrt(n)
    divisor = 3
    while divisor <= limit:
        if n % divisor == 0:
            return False
        divisor += 2
    return True


@plugin.benchmark("Compute.IsPrime")
def is_prime_benchmark() -> float:
    numbers = [int(line) for line in _data("primes.txt").split() if line.isdigit()]
    for n in numbers:
        if not is_prime(n):
            raise AssertionError(f"the benchmark's data is wrong: {n} is not prime")
    return sum(trial_divisions(n) for n in numbers)


@plugin.activity("Compute.Hash", unit="bytes@1", estimate=_utf8_size, compare=EXACT)
def hash_text(text: str) -> str:
    """The sha256 of the text (UTF-8), as hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@plugin.benchmark("Compute.Hash")
def hash_benchmark() -> float:
    text = _benchmark_text()
    hash_text(text)
    return _utf8_size(text)


@plugin.activity(
    "Compute.Work",
    unit="compute-units@1",
    estimate=lambda units: max(units, 0.0),
    compare=EXACT,
)
def work(context: ActivityContext, units: Double) -> Double:
    """Burn CPU in proportion to units; return units."""
    if units < 0:
        raise ValueError(f"units must not be negative, got {units}")
    if not context.speed > 0:
        raise ValueError(f"the node's speed must be above 0, got {context.speed}")
    pace = _pace()
    if pace is not None:
        started = time.perf_counter()
        _burn(int(units * ROUNDS_PER_UNIT))
        budget, used = units / (context.speed * pace), time.perf_counter() - started
        if used > budget:
            log.warning("Compute.Work overran its pace: %.4f s for %.4f s of work", used, budget)
        time.sleep(max(budget - used, 0.0))
    elif context.speed >= 1:
        # A node with speed s is s times as fast at this: each unit costs 1/s of the rounds.
        _burn(int(units * ROUNDS_PER_UNIT / context.speed))
    else:
        # A slower node works as a duty cycle, so several slow nodes share one core: the rounds
        # at full speed, then a sleep of (1/s - 1) times the CPU time they took. A node at speed
        # 0.125 thus uses 1/8 of a core and does 1/8 of the work per second.
        started = time.thread_time()
        _burn(int(units * ROUNDS_PER_UNIT))
        time.sleep((1 / context.speed - 1) * (time.thread_time() - started))
    return float(units)


@functools.cache
def _pace() -> float | None:
    """WIT_WORK_PACE, Compute.Work's units per second at speed 1 by the wall clock, if set."""
    text = os.environ.get("WIT_WORK_PACE", "").strip()
    if not text:
        return None
    try:
        pace = float(text)
    except ValueError:
        pace = math.nan
    if not 0 < pace < math.inf:
        raise ValueError(f"WIT_WORK_PACE must be a number above 0, got {text!r}")
    return pace


def _burn(rounds: int) -> None:
    """Rounds of an integer mixing loop, to use one core for a while."""
    state = 0x9E3779B9
    for _ in range(rounds):
        state = (state * 1103515245 + 12345) & 0xFFFFFFFF


@plugin.benchmark("Compute.Work")
def work_benchmark(context: ActivityContext) -> float:
    return work(context, WORK_BENCHMARK_UNITS)


@plugin.activity(
    "Compute.Sleep", unit="milliseconds@1", estimate=lambda ms: max(ms, 0), compare=EXACT
)
def sleep(ms: Int) -> Int:
    """Wait ms milliseconds without using the CPU; return ms."""
    if ms < 0:
        raise ValueError(f"ms must not be negative, got {ms}")
    time.sleep(ms / 1000)
    return ms


@plugin.benchmark("Compute.Sleep")
def sleep_benchmark() -> float:
    return float(sleep(10))


@plugin.activity("Compute.Fail", compare=EXACT)
def fail(message: str) -> None:
    """Always fails with the message (for testing failure handling)."""
    raise ComputeFailure(message)


@plugin.activity(
    "Compute.WriteText",
    unit="bytes@1",
    estimate=lambda text, name: _utf8_size(text),
    compare=EXACT,
)
def write_text(context: ActivityContext, text: str, name: str) -> Blob:
    """A file named `name` holding the text (UTF-8)."""
    return context.save_bytes(text.encode("utf-8"), name)


@plugin.benchmark("Compute.WriteText")
def write_text_benchmark(context: ActivityContext) -> float:
    return float(write_text(context, _benchmark_text(), "benchmark.txt").size)


@plugin.activity(
    "Compute.ReadText", unit="bytes@1", estimate=lambda file: float(file.size), compare=EXACT
)
def read_text(context: ActivityContext, file: Blob) -> str:
    """The text (UTF-8) of a file."""
    return context.file(file).read_text("utf-8")


@plugin.benchmark("Compute.ReadText")
def read_text_benchmark(context: ActivityContext) -> float:
    data = _benchmark_text().encode("utf-8")
    blob = Blob(hashlib.sha256(data).hexdigest(), len(data), "benchmark.txt")
    if not context.blobs.has(blob.sha256):  # written once, by the warm-up run
        blob = context.save_bytes(data, blob.name)
    read_text(context, blob)
    return float(blob.size)
