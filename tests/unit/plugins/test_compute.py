"""The compute plugin's activities, called the way the executors call them: through the library,
with JSON arguments and results, so their Wit signatures are exercised too."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from witengine.errors import ActivityError
from witengine.plugins import compute
from witengine.plugins.registry import build_library
from witengine.runtime.blobs import LocalBlobStore
from witengine.runtime.context import ActivityContext
from witengine.runtime.invoke import invoke_json
from witengine.runtime.library import Json, Library


@pytest.fixture(scope="module")
def library() -> Library:
    return build_library([compute.plugin])


@pytest.fixture
def context(tmp_path: Path) -> ActivityContext:
    work = tmp_path / "work"
    work.mkdir()
    return ActivityContext(LocalBlobStore(tmp_path / "blobs"), work)


def call(library: Library, activity: str, *args: Json) -> Json:
    return invoke_json(library, activity, list(args), None)


def sieve(limit: int) -> set[int]:
    """The primes below limit, by a method unrelated to the plugin's trial division."""
    flags = [True] * limit
    flags[0:2] = [False, False]
    for n in range(2, int(limit**0.5) + 1):
        if flags[n]:
            flags[n * n :: n] = [False] * len(flags[n * n :: n])
    return {n for n, prime in enumerate(flags) if prime}


# ------------------------------------------------------------------------ IsPrime


@pytest.mark.parametrize(
    ("n", "prime"),
    [
        (-7, False),
        (0, False),
        (1, False),
        (2, True),
        (3, True),
        (4, False),
        (9, False),
        (25, False),
        (97, True),
        (7919, True),
        (7917, False),
        (2_147_483_647, True),  # the largest Int, a Mersenne prime
        (4_294_967_311, True),  # the first prime past 2**32: only a Long holds it
        (3 * 4_294_967_311, False),
        (999_983 * 1_000_003, False),  # two large prime factors
        (999_999_999_989, True),
        (2**62, False),
    ],
)
def test_is_prime_on_known_primes_composites_and_edges(
    library: Library, n: int, prime: bool
) -> None:
    assert call(library, "Compute.IsPrime", n) is prime


def test_is_prime_agrees_with_a_sieve_below_ten_thousand(library: Library) -> None:
    primes = sieve(10_000)
    found = {n for n in range(10_000) if call(library, "Compute.IsPrime", n)}
    assert found == primes
    assert len(found) == 1229


def test_is_prime_refuses_a_number_beyond_long(library: Library) -> None:
    with pytest.raises(ActivityError, match=r"^Compute\.IsPrime: bad arguments"):
        call(library, "Compute.IsPrime", 2**63)


# --------------------------------------------------------------------------- Hash


@pytest.mark.parametrize("text", ["", "a", "hello, farm", "café ☕", "x" * 100_000])
def test_hash_is_the_sha256_hex_of_the_utf8_text(library: Library, text: str) -> None:
    assert call(library, "Compute.Hash", text) == hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------- Work


@pytest.mark.parametrize("units", [0.0, 0.25, 1.0, 3.5])
def test_work_returns_its_units(library: Library, context: ActivityContext, units: float) -> None:
    result = invoke_json(library, "Compute.Work", [units], context)
    assert result == units
    assert isinstance(result, float)


def test_work_takes_a_whole_number_of_units_as_a_double(
    library: Library, context: ActivityContext
) -> None:
    assert invoke_json(library, "Compute.Work", [2], context) == 2.0


def test_work_refuses_negative_units(library: Library, context: ActivityContext) -> None:
    with pytest.raises(ActivityError) as caught:
        invoke_json(library, "Compute.Work", [-1.0], context)
    assert str(caught.value) == ("Compute.Work: ValueError: units must not be negative, got -1.0")


class FakeTime:
    """Stands in for the plugin's `time`: a thread CPU clock the burn advances, recorded sleeps."""

    def __init__(self, cpu_per_round: float) -> None:
        self.cpu = 10.0
        self.cpu_per_round = cpu_per_round
        self.slept: list[float] = []

    def thread_time(self) -> float:
        return self.cpu

    def perf_counter(self) -> float:  # no other load: the wall clock moves with the CPU's
        return self.cpu

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> tuple[FakeTime, list[int]]:
    """The plugin's clock and burn loop faked: each round costs 1 µs of CPU; burns are recorded."""
    clock, burns = FakeTime(cpu_per_round=1e-6), []

    def burn(rounds: int) -> None:
        burns.append(rounds)
        clock.cpu += rounds * clock.cpu_per_round

    monkeypatch.setattr(compute, "time", clock)
    monkeypatch.setattr(compute, "_burn", burn)
    return clock, burns


@pytest.mark.parametrize(
    ("speed", "rounds"),
    [(1.0, 2 * compute.ROUNDS_PER_UNIT), (2.0, compute.ROUNDS_PER_UNIT), (8.0, 5_000)],
)
def test_work_at_speed_one_or_more_divides_its_rounds_and_never_sleeps(
    library: Library,
    tmp_path: Path,
    fake_time: tuple[FakeTime, list[int]],
    speed: float,
    rounds: int,
) -> None:
    clock, burns = fake_time
    fast = ActivityContext(LocalBlobStore(tmp_path / "blobs"), tmp_path, speed=speed)
    assert invoke_json(library, "Compute.Work", [2.0], fast) == 2.0
    assert burns == [rounds]
    assert clock.slept == []


@pytest.mark.parametrize(("speed", "sleep_per_cpu_second"), [(0.5, 1.0), (0.25, 3.0), (0.125, 7.0)])
def test_work_below_speed_one_burns_all_its_rounds_then_sleeps_to_a_duty_cycle(
    library: Library,
    tmp_path: Path,
    fake_time: tuple[FakeTime, list[int]],
    speed: float,
    sleep_per_cpu_second: float,
) -> None:
    clock, burns = fake_time
    slow = ActivityContext(LocalBlobStore(tmp_path / "blobs"), tmp_path, speed=speed)
    assert invoke_json(library, "Compute.Work", [2.0], slow) == 2.0
    assert burns == [2 * compute.ROUNDS_PER_UNIT]
    burned = 2 * compute.ROUNDS_PER_UNIT * clock.cpu_per_round
    assert clock.slept == [pytest.approx(sleep_per_cpu_second * burned)]


@pytest.fixture
def paced(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("WIT_WORK_PACE", "100")
    compute._pace.cache_clear()
    yield
    compute._pace.cache_clear()


@pytest.mark.parametrize(("speed", "budget"), [(0.5, 0.04), (0.125, 0.16), (2.0, 0.01)])
def test_paced_work_takes_its_units_over_speed_times_pace_by_the_wall_clock(
    library: Library,
    tmp_path: Path,
    fake_time: tuple[FakeTime, list[int]],
    paced: None,
    speed: float,
    budget: float,
) -> None:
    clock, burns = fake_time
    clock.cpu_per_round = 1e-7  # 2 units burn 4 ms
    node = ActivityContext(LocalBlobStore(tmp_path / "blobs"), tmp_path, speed=speed)
    assert invoke_json(library, "Compute.Work", [2.0], node) == 2.0
    assert burns == [2 * compute.ROUNDS_PER_UNIT]  # the CPU of 2 units, at any speed
    assert clock.slept == [pytest.approx(budget - 0.004)]


def test_paced_work_that_overruns_its_time_says_so_and_does_not_sleep(
    library: Library,
    tmp_path: Path,
    fake_time: tuple[FakeTime, list[int]],
    paced: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, _ = fake_time  # 2 units burn 40 ms; at speed 2 and pace 100 they have 10 ms
    node = ActivityContext(LocalBlobStore(tmp_path / "blobs"), tmp_path, speed=2.0)
    with caplog.at_level(logging.WARNING):
        invoke_json(library, "Compute.Work", [2.0], node)
    assert clock.slept == [0.0]
    assert "overran its pace: 0.0400 s for 0.0100 s of work" in caplog.text


@pytest.mark.parametrize("text", ["0", "-5", "inf", "fast"])
def test_a_pace_that_is_not_a_positive_number_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setenv("WIT_WORK_PACE", text)
    compute._pace.cache_clear()
    try:
        with pytest.raises(ValueError, match="WIT_WORK_PACE"):
            compute._pace()
    finally:
        compute._pace.cache_clear()


@pytest.mark.measures_cpu
def test_work_at_speed_one_quarter_uses_at_most_a_quarter_of_a_core(
    library: Library, tmp_path: Path
) -> None:
    """It burns its rounds, then sleeps three times the CPU time they took: a quarter of a
    core on an idle machine, less when other work slows the burn, never more."""
    slow = ActivityContext(LocalBlobStore(tmp_path / "blobs"), tmp_path, speed=0.25)
    wall, cpu = time.perf_counter(), time.thread_time()
    invoke_json(library, "Compute.Work", [2.0], slow)
    wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
    assert cpu > 0
    assert cpu / wall <= 0.26  # 0.25 and the clocks' own steps


# -------------------------------------------------------------------------- Sleep


@pytest.mark.parametrize("ms", [0, 1, 20])
def test_sleep_returns_its_milliseconds(library: Library, ms: int) -> None:
    assert call(library, "Compute.Sleep", ms) == ms


def test_sleep_refuses_negative_milliseconds(library: Library) -> None:
    with pytest.raises(ActivityError, match=r"^Compute\.Sleep: ValueError: ms must not be neg"):
        call(library, "Compute.Sleep", -5)


# --------------------------------------------------------------------------- Fail


@pytest.mark.parametrize("message", ["boom", "disk full on frame 12", ""])
def test_fail_raises_an_activity_error_with_its_message(library: Library, message: str) -> None:
    with pytest.raises(ActivityError) as caught:
        call(library, "Compute.Fail", message)
    assert str(caught.value) == f"Compute.Fail: ComputeFailure: {message}"


# ------------------------------------------------------------------ files as blobs


def test_write_text_stores_a_blob_named_by_its_content(
    library: Library, context: ActivityContext
) -> None:
    text = "frame 1\nframe 2\n"
    blob = invoke_json(library, "Compute.WriteText", [text, "notes.txt"], context)
    digest = hashlib.sha256(text.encode()).hexdigest()
    assert blob == {"sha256": digest, "size": len(text.encode()), "name": "notes.txt"}
    assert context.blobs.has(digest)


def test_read_text_reads_back_what_write_text_wrote(
    library: Library, context: ActivityContext
) -> None:
    blob = invoke_json(library, "Compute.WriteText", ["grüße", "../../escape.txt"], context)
    assert blob["name"] == "escape.txt"
    assert invoke_json(library, "Compute.ReadText", [blob], context) == "grüße"


def test_read_text_of_a_blob_not_in_the_store_names_it(
    library: Library, context: ActivityContext
) -> None:
    missing = {"sha256": "0" * 64, "size": 1, "name": "gone.txt"}
    said = r"^Compute\.ReadText: gone\.txt \(sha256:0{64}\) is missing from the blob store$"
    with pytest.raises(ActivityError, match=said):
        invoke_json(library, "Compute.ReadText", [missing], context)


# ------------------------------------------------------- estimates and benchmarks


@pytest.mark.parametrize(
    ("activity", "unit", "args", "work"),
    [
        ("Compute.IsPrime", "trial-divisions@1", [1_000_003], 500.0),
        ("Compute.IsPrime", "trial-divisions@1", [-5], 1.0),
        ("Compute.Hash", "bytes@1", ["café"], 5.0),
        ("Compute.Work", "compute-units@1", [2.5], 2.5),
        ("Compute.Work", "compute-units@1", [-1.0], 0.0),
        ("Compute.Sleep", "milliseconds@1", [40], 40.0),
        ("Compute.Fail", "items@1", ["boom"], 1.0),
        ("Compute.WriteText", "bytes@1", ["grüße", "a.txt"], 7.0),
    ],
)
def test_each_activity_estimates_an_item_in_its_unit(
    library: Library, activity: str, unit: str, args: list[Json], work: float
) -> None:
    definition = library.activities[activity]
    assert definition.unit == unit
    assert definition.work(args) == work


def test_every_activity_but_fail_has_a_benchmark_that_does_work_in_its_unit(
    library: Library, context: ActivityContext
) -> None:
    benchmarked = {}
    for name, definition in library.activities.items():
        if definition.plugin == "compute" and definition.benchmark is not None:
            benchmarked[name] = definition.benchmark(context)
    assert sorted(benchmarked) == [
        "Compute.Hash",
        "Compute.IsPrime",
        "Compute.ReadText",
        "Compute.Sleep",
        "Compute.Work",
        "Compute.WriteText",
    ]
    assert benchmarked["Compute.Work"] == compute.WORK_BENCHMARK_UNITS
    assert benchmarked["Compute.Sleep"] == 10.0
    assert benchmarked["Compute.IsPrime"] == sum(
        compute.trial_divisions(n)
        for n in (1000003, 100000007, 1000000007, 10000000019, 20000000089)
    )
    assert benchmarked["Compute.Hash"] >= compute.TEXT_BENCHMARK_BYTES
    assert benchmarked["Compute.ReadText"] == benchmarked["Compute.WriteText"]


def test_work_refuses_a_speed_that_is_not_above_zero(library: Library, tmp_path: Path) -> None:
    stopped = ActivityContext(LocalBlobStore(tmp_path / "blobs"), tmp_path, speed=0.0)
    with pytest.raises(ActivityError, match=r"the node's speed must be above 0, got 0\.0"):
        invoke_json(library, "Compute.Work", [1.0], stopped)
