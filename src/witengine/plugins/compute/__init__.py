"""The `compute` plugin: pure-Python sample workloads for demos, tests and benchmarks."""

from __future__ import annotations

import hashlib
import math
import time

from witengine import __version__
from witengine.plugins.api import ActivityContext, Blob, Double, Int, Long, Plugin

plugin = Plugin("compute", version=__version__, summary="pure-Python sample workloads")

# One work unit is this many rounds of an integer mixing loop: a few milliseconds of one core.
ROUNDS_PER_UNIT = 20_000


class ComputeFailure(Exception):
    """Raised by Compute.Fail, on purpose."""


@plugin.activity("Compute.IsPrime")
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


@plugin.activity("Compute.Hash")
def hash_text(text: str) -> str:
    """The sha256 of the text (UTF-8), as hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@plugin.activity("Compute.Work")
def work(units: Double) -> Double:
    """Burn CPU in proportion to units; return units."""
    if units < 0:
        raise ValueError(f"units must not be negative, got {units}")
    state = 0x9E3779B9
    for _ in range(int(units * ROUNDS_PER_UNIT)):
        state = (state * 1103515245 + 12345) & 0xFFFFFFFF
    return float(units)


@plugin.activity("Compute.Sleep")
def sleep(ms: Int) -> Int:
    """Wait ms milliseconds without using the CPU; return ms."""
    if ms < 0:
        raise ValueError(f"ms must not be negative, got {ms}")
    time.sleep(ms / 1000)
    return ms


@plugin.activity("Compute.Fail")
def fail(message: str) -> None:
    """Always fails with the message (for testing failure handling)."""
    raise ComputeFailure(message)


@plugin.activity("Compute.WriteText")
def write_text(context: ActivityContext, text: str, name: str) -> Blob:
    """A file named `name` holding the text (UTF-8)."""
    return context.save_bytes(text.encode("utf-8"), name)


@plugin.activity("Compute.ReadText")
def read_text(context: ActivityContext, file: Blob) -> str:
    """The text (UTF-8) of a file."""
    return context.file(file).read_text("utf-8")
