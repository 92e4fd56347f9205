"""The local executor: a real pool of worker processes over this machine's cores.

Workers load plugins by reference, so the probe plugin below is loaded in them from this module.
Nothing here measures time: concurrency is proved by a rendezvous that only two processes
running at once can pass, and every wait inside an activity has a deadline that fails the test.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from witengine.lang.checker import check_source
from witengine.plugins import compute
from witengine.plugins.api import ActivityContext, Int, Plugin
from witengine.plugins.registry import build_library
from witengine.protocol.states import JobStatus
from witengine.runtime.blobs import LocalBlobStore
from witengine.runtime.executor import ItemFailed, MapRequest
from witengine.runtime.library import Json
from witengine.runtime.local import LocalExecutor, usable_cores

DEADLINE = 30.0  # seconds an activity waits for a condition before it fails the test

probe = Plugin("probe", version="1")


@probe.activity("Probe.Echo")
def echo(item: Int, slow_below: Int = 0, hall: str = "") -> str:
    """`item pid`; items below `slow_below` first wait until the last item has run."""
    if item < slow_below:
        wait_for(lambda: (Path(hall) / "last").exists(), "the last item to run")
    elif hall:
        (Path(hall) / "last").touch()
    return f"{item} {os.getpid()}"


@probe.activity("Probe.Meet")
def meet(context: ActivityContext, item: Int, hall: str, guests: Int) -> str:
    """Wait until `guests` processes have entered the hall; `item pid work_dir`."""
    (context.work_dir / "scratch.txt").write_text(f"item {item}\n")
    (Path(hall) / str(os.getpid())).touch()
    wait_for(lambda: len(list(Path(hall).iterdir())) >= guests, f"{guests} processes at once")
    return f"{item} {os.getpid()} {context.work_dir}"


@probe.activity("Probe.CrashOn")
def crash_on(item: Int, bad: Int) -> Int:
    """Return item, except that item `bad` kills its process."""
    if item == bad:
        os._exit(3)
    return item


def wait_for(condition: object, what: str) -> None:
    assert callable(condition)
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {DEADLINE} s for {what}")
        time.sleep(0.002)


# Workers start faster without this module (it imports pytest): most tests do without the probe.
LIGHT = ["witengine.plugins.compute:plugin", "witengine.testing.plugins:plugin"]
PROBE = [*LIGHT, f"{__name__}:probe"]


def request(activity: str, items: list[list[Json]]) -> MapRequest:
    return MapRequest(activity, items)


def ignore(done: int, total: int) -> None:
    pass


def pids_of(results: list[Json]) -> set[int]:
    return {int(str(r).split()[1]) for r in results}


def ledger_pids(ledger: Path) -> set[int]:
    """The processes that ran Testing.Record, from the `item pid` lines of its ledger."""
    return {int(line.split()[1]) for line in ledger.read_text().splitlines()}


async def record(executor: LocalExecutor, ledger: Path, count: int = 20) -> set[int]:
    """Run Testing.Record on `count` items; check the results; the pids that ran them."""
    items: list[list[Json]] = [[i, str(ledger)] for i in range(count)]
    assert await executor.map(request("Testing.Record", items), ignore) == [
        2 * i for i in range(count)
    ]
    return ledger_pids(ledger)


@pytest.fixture
def blob_root(tmp_path: Path) -> Path:
    return tmp_path / "blobs"


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalExecutor]:
    """One pool with the probe plugin on every usable core, shared by the tests that keep it."""
    executor = LocalExecutor(PROBE, tmp_path_factory.mktemp("blobs"))
    yield executor
    asyncio.run(executor.aclose())


# ------------------------------------------------------------------- order


async def test_a_grid_for_each_over_a_thousand_items_returns_them_in_input_order(
    pool: LocalExecutor, blob_root: Path
) -> None:
    from witengine.api import run_checked  # here: workers import this module, and need not it

    library = build_library([compute.plugin])
    checked = check_source(
        """Job:Hashes(Int:n) {
            StringCollection:hashes = Grid.ForEach(i in Int.Range(0, n))
                => Compute.Hash(Format("item {0}", i));
        }""",
        library,
        "hashes.wit",
    )
    store = LocalBlobStore(blob_root)
    result = await run_checked(checked, {"n": "1000"}, library=library, executor=pool, store=store)
    assert result.status is JobStatus.COMPLETED, result.error
    expected = [hashlib.sha256(f"item {i}".encode()).hexdigest() for i in range(1000)]
    assert result.variables["hashes"] == expected


async def test_results_keep_input_order_when_the_first_items_finish_last(
    pool: LocalExecutor, tmp_path: Path
) -> None:
    hall = tmp_path / "hall"
    hall.mkdir()
    items: list[list[Json]] = [[i, 10, str(hall)] for i in range(1000)]
    seen: list[tuple[int, int]] = []
    results = await pool.map(
        request("Probe.Echo", items), lambda done, total: seen.append((done, total))
    )
    assert [int(str(r).split()[0]) for r in results] == list(range(1000))
    assert seen[-1] == (1000, 1000)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


async def test_an_empty_map_returns_no_results_and_starts_no_process(blob_root: Path) -> None:
    executor = LocalExecutor(["witengine_no_such_plugin:plugin"], blob_root)
    async with executor:  # a pool would fail to load that plugin: none is started
        assert await executor.map(request("Compute.IsPrime", []), ignore) == []


def test_items_go_out_in_several_chunks_per_worker() -> None:
    executor = LocalExecutor(LIGHT, Path("unused"), workers=2)
    assert executor.chunk_size(1000) == 125
    assert executor.chunk_size(3) == 1
    assert executor.chunk_size(10_000_000) == 2_000


# ------------------------------------------------------------------- cores


async def test_the_pool_runs_items_in_as_many_processes_at_once_as_there_are_cores(
    pool: LocalExecutor, tmp_path: Path
) -> None:
    cores = usable_cores()
    if cores < 2:
        pytest.skip("this machine has one usable core")
    hall = tmp_path / "hall"
    hall.mkdir()
    items: list[list[Json]] = [[i, str(hall), cores] for i in range(200)]
    assert pool.workers == cores
    results = await pool.map(request("Probe.Meet", items), ignore)
    assert len(pids_of(results)) == cores
    assert os.getpid() not in pids_of(results)
    assert {int(p.name) for p in hall.iterdir()} == pids_of(results)


# ---------------------------------------------------------------- failures


async def test_a_failing_activity_gives_item_failed_with_its_message(blob_root: Path) -> None:
    async with LocalExecutor(LIGHT, blob_root, workers=2) as executor:
        with pytest.raises(ItemFailed) as caught:
            await executor.map(request("Compute.Fail", [["disk full on frame 7"]]), ignore)
    assert caught.value.index == 0
    assert caught.value.message == "Compute.Fail: ComputeFailure: disk full on frame 7"


async def test_item_failed_names_the_item_that_failed(blob_root: Path) -> None:
    items: list[list[Json]] = [[-1.0 if i == 57 else 0.0] for i in range(100)]
    async with LocalExecutor(LIGHT, blob_root, workers=2) as executor:
        with pytest.raises(ItemFailed) as caught:
            await executor.map(request("Compute.Work", items), ignore)
        assert caught.value.index == 57
        assert str(caught.value) == (
            "item 57: Compute.Work: ValueError: units must not be negative, got -1.0"
        )
        # the pool is still there for the next map
        assert await executor.map(request("Compute.Work", [[0.5]]), ignore) == [0.5]


async def test_a_crashing_activity_gives_a_clear_error_and_the_pool_is_restarted(
    tmp_path: Path, blob_root: Path
) -> None:
    async with LocalExecutor(LIGHT, blob_root, workers=2) as executor:
        before = await record(executor, tmp_path / "before.txt")
        with pytest.raises(ItemFailed) as caught:
            await executor.map(request("Testing.Crash", [[1]]), ignore)
        assert caught.value.index == 0
        assert caught.value.message == (
            "Testing.Crash: a worker process died (killed, or crashed by the activity) while "
            "running it; the pool will be restarted"
        )
        after = await record(executor, tmp_path / "after.txt")
    assert before.isdisjoint(after), "the crashed pool's processes are gone"


async def test_a_crash_in_one_item_of_many_names_an_unfinished_item_without_blaming_it(
    blob_root: Path,
) -> None:
    items: list[list[Json]] = [[i, 150] for i in range(200)]
    async with LocalExecutor(PROBE, blob_root, workers=2) as executor:
        with pytest.raises(ItemFailed) as caught:
            await executor.map(request("Probe.CrashOn", items), ignore)
        assert caught.value.index <= 150
        assert "this item or one of the" in caught.value.message
        fine: list[list[Json]] = [[i, -1] for i in range(200)]
        assert await executor.map(request("Probe.CrashOn", fine), ignore) == list(range(200))


async def test_a_worker_killed_while_idle_does_not_break_the_next_maps(
    tmp_path: Path, blob_root: Path
) -> None:
    async with LocalExecutor(LIGHT, blob_root, workers=2) as executor:
        victim = min(await record(executor, tmp_path / "before.txt"))
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: not alive(victim), f"process {victim} to end")
        try:
            await record(executor, tmp_path / "during.txt")
        except ItemFailed as failure:  # the pool noticed the death only during this map
            assert "a worker process died" in failure.message
        after = await record(executor, tmp_path / "after.txt")
    assert victim not in after


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# ---------------------------------------------------------------- scratch


async def test_scratch_directories_are_removed_when_the_pool_closes(
    tmp_path: Path, blob_root: Path
) -> None:
    hall = tmp_path / "hall"
    hall.mkdir()
    items: list[list[Json]] = [[i, str(hall), 2] for i in range(40)]
    async with LocalExecutor(PROBE, blob_root, workers=2) as executor:
        results = await executor.map(request("Probe.Meet", items), ignore)
        work_dirs = {Path(str(r).split(maxsplit=2)[2]) for r in results}
        assert len(work_dirs) == 2
        assert all((d / "scratch.txt").is_file() for d in work_dirs)
        pool_dirs = {d.parent for d in work_dirs}
        assert len(pool_dirs) == 1
    assert not any(d.exists() for d in work_dirs)
    assert not any(d.exists() for d in pool_dirs)


async def test_scratch_of_a_crashed_pool_is_removed_too(tmp_path: Path, blob_root: Path) -> None:
    hall = tmp_path / "hall"
    hall.mkdir()
    async with LocalExecutor(PROBE, blob_root, workers=2) as executor:
        results = await executor.map(request("Probe.Meet", [[0, str(hall), 1]]), ignore)
        work_dir = Path(str(results[0]).split(maxsplit=2)[2])
        with pytest.raises(ItemFailed):
            await executor.map(request("Testing.Crash", [[1]]), ignore)
        assert work_dir.exists()
    assert not work_dir.exists()
    assert not work_dir.parent.exists()


async def test_a_closed_executor_starts_a_fresh_pool_when_used_again(
    tmp_path: Path, blob_root: Path
) -> None:
    executor = LocalExecutor(PROBE, blob_root, workers=1)
    hall = tmp_path / "hall"
    hall.mkdir()
    try:
        first = await executor.map(request("Probe.Meet", [[0, str(hall), 1]]), ignore)
        await executor.aclose()
        second = await executor.map(request("Probe.Meet", [[1, str(hall), 1]]), ignore)
    finally:
        await executor.aclose()
    first_dir = Path(str(first[0]).split(maxsplit=2)[2])
    second_dir = Path(str(second[0]).split(maxsplit=2)[2])
    assert first_dir.parent != second_dir.parent
    assert not first_dir.exists()
    assert not second_dir.exists()
