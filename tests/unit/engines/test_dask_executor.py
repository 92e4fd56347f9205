"""`DaskExecutor` on a real `distributed.LocalCluster` (workers as threads of this process, so
the probe plugin below is found by reference from this module; the slow test at the end runs
worker processes and kills one). Nothing here measures time: waits are for conditions, each
with a deadline that fails the test."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from distributed import Client, LocalCluster, Worker, get_worker

from witengine.api import run_checked
from witengine.engines.dask_executor import (
    DaskError,
    DaskExecutor,
    batches,
    resources_for,
    scheduler_address,
)
from witengine.lang.checker import check_source
from witengine.plugins.api import Int, Plugin
from witengine.plugins.registry import build_library, load_ref
from witengine.plugins.requirements import Requirements
from witengine.protocol.states import JobStatus
from witengine.runtime.blobs import LocalBlobStore
from witengine.runtime.executor import ItemFailed, MapRequest
from witengine.runtime.library import Library

DEADLINE = 60.0

placement = Plugin("placement", version="1")
placement.ref = f"{__name__}:placement"


@placement.activity("Placement.Render", requires=Requirements(software="blender>=3.0"))
def render_where(item: Int) -> str:
    """The name of the Dask worker that ran the item (it needs Blender)."""
    return f"{item} {get_worker().name}"


@placement.activity("Placement.Any")
def any_where(item: Int) -> str:
    """The name of the Dask worker that ran the item (it needs nothing)."""
    return f"{item} {get_worker().name}"


def _plugins() -> list[Plugin]:
    refs = ("witengine.plugins.compute:plugin", "witengine.testing.plugins:plugin")
    return [*(load_ref(ref) for ref in refs), placement]


@pytest.fixture
def library() -> Library:
    return build_library(_plugins())


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    async with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,
            asynchronous=True,
            dashboard_address=":0",
        ) as cluster,
        Client(cluster, asynchronous=True) as connected,
    ):
        yield connected


def _executor(client: Client, library: Library, tmp_path: Path, **options: Any) -> DaskExecutor:
    blobs = LocalBlobStore(tmp_path / "blobs")
    return DaskExecutor(client, library, blobs, _plugins(), **options)


async def _until(condition: Callable[[], Any], what: str) -> None:
    async def poll() -> None:
        while not await condition():
            await asyncio.sleep(0.05)

    try:
        await asyncio.wait_for(poll(), DEADLINE)
    except TimeoutError:
        pytest.fail(f"waited {DEADLINE} s for {what}")


HASHES_AND_FILES = """\
Job:OnDask(Int:n = 10)
{
    StringCollection:hashes = Grid.ForEach(i in Int.Range(0, n))
        => Compute.Hash(Format("item-{0}", i));
    BlobCollection:files = Grid.ForEach(i in Int.Range(0, 3))
        => Compute.WriteText(Format("text {0}", i), Format("t{0}.txt", i));
    StringCollection:texts = Grid.ForEach(f in files) => Compute.ReadText(f);
}
"""


@pytest.mark.parametrize("shared", [False, True], ids=["files as Dask data", "shared folder"])
async def test_a_job_runs_on_dask_with_results_in_order_and_files_both_ways(
    client: Client, library: Library, tmp_path: Path, shared: bool
) -> None:
    folder = tmp_path / "shared" if shared else None
    executor = _executor(client, library, tmp_path, shared=folder)
    checked = check_source(HASHES_AND_FILES, library)
    result = await run_checked(
        checked, {"n": "1000"}, library=library, executor=executor, store=executor.blobs
    )
    assert result.status is JobStatus.COMPLETED, result.error
    assert result.variables["hashes"] == [
        hashlib.sha256(f"item-{i}".encode()).hexdigest() for i in range(1000)
    ]
    assert result.variables["texts"] == ["text 0", "text 1", "text 2"]
    digests = [file["blob"] for file in result.variables["files"]]
    for i, sha256 in enumerate(digests):  # made on a worker, kept here
        assert (executor.blobs.root / sha256[:2] / sha256).read_text() == f"text {i}"
    if folder is not None:  # the workers wrote them into the shared folder
        assert all(LocalBlobStore(folder).has(sha256) for sha256 in digests)


async def test_a_map_goes_as_a_few_batches_sized_from_the_workers_threads(
    client: Client, library: Library, tmp_path: Path
) -> None:
    executor = _executor(client, library, tmp_path)
    reports: list[tuple[int, int]] = []
    items = [[f"item-{i}"] for i in range(1000)]
    results = await executor.map(
        MapRequest("Compute.Hash", items), lambda done, total: reports.append((done, total))
    )
    assert results == [hashlib.sha256(f"item-{i}".encode()).hexdigest() for i in range(1000)]
    # One report per batch: 2 worker threads, about 4 batches each, of about equal work.
    assert 8 <= len(reports) <= 9, reports
    assert reports[-1] == (1000, 1000)


async def test_an_item_that_fails_is_named_by_its_position(
    client: Client, library: Library, tmp_path: Path
) -> None:
    executor = _executor(client, library, tmp_path)
    with pytest.raises(ItemFailed) as failed:
        await executor.map(MapRequest("Compute.Fail", [["no"]]), lambda done, total: None)
    assert failed.value.index == 0
    assert failed.value.message == "Compute.Fail: ComputeFailure: no"


async def test_items_that_need_blender_run_only_on_a_worker_declaring_it(
    client: Client, library: Library, tmp_path: Path
) -> None:
    async with Worker(
        client.scheduler.address, nthreads=1, resources={"blender": 1}, name="with-blender"
    ):
        executor = _executor(client, library, tmp_path)
        rendered = await executor.map(
            MapRequest("Placement.Render", [[i] for i in range(40)]), lambda done, total: None
        )
        assert rendered == [f"{i} with-blender" for i in range(40)]
        anywhere = await executor.map(
            MapRequest("Placement.Any", [[i] for i in range(40)]), lambda done, total: None
        )
        assert [text.split()[0] for text in anywhere] == [str(i) for i in range(40)]


async def test_a_map_no_worker_can_run_fails_at_once_naming_the_resource(
    client: Client, library: Library, tmp_path: Path
) -> None:
    executor = _executor(client, library, tmp_path)
    with pytest.raises(DaskError) as refused:
        await executor.map(MapRequest("Placement.Render", [[1]]), lambda done, total: None)
    assert "declares the resource(s) blender" in str(refused.value)
    assert '--resources "blender=1"' in str(refused.value)


async def test_cancelling_a_map_cancels_its_dask_tasks(
    client: Client, library: Library, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger"
    executor = _executor(client, library, tmp_path)
    items = [[i, str(ledger), 200] for i in range(80)]  # 8 batches of 10 items, 2 s each
    started: list[int] = []
    running = asyncio.create_task(
        executor.map(MapRequest("Testing.Record", items), lambda done, total: started.append(done))
    )

    async def tasks_on_scheduler() -> int:
        count: int = await client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))
        return count

    await _until(lambda: _async(ledger.exists()), "the first item to start")
    assert await tasks_on_scheduler() > 0
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    await _until(lambda: _async_call(tasks_on_scheduler, lambda n: n == 0), "no task left")
    # The batches that had started finish; no other starts.
    ended = Path(f"{ledger}.done")
    await _until(lambda: _async(len(_lines(ledger)) == len(_lines(ended))), "their end")
    assert len(_lines(ledger)) < len(items)


async def _async(value: Any) -> Any:
    return value


async def _async_call(get: Callable[[], Any], test: Callable[[Any], bool]) -> bool:
    return test(await get())


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_batches_hold_about_equal_work_in_input_order() -> None:
    work = [8.0, 1.0, 1.0, 1.0, 1.0, 8.0, 4.0, 4.0]
    cut = batches(list(range(8)), work, 4)  # 28 units: about 7 each
    assert cut == [[0], [1, 2, 3, 4], [5], [6, 7]]
    assert batches(list(range(5)), [0.0] * 5, 2) == [[0, 1, 2], [3, 4]]  # no estimates
    assert [len(b) for b in batches(list(range(20_000)), [1.0] * 20_000, 4)] == [2_000] * 10
    assert batches([], [], 4) == []


def test_requirements_become_dask_worker_resources() -> None:
    assert resources_for(None) == frozenset()
    assert resources_for(Requirements(software=["blender>=3.0", "ffmpeg"])) == {
        "blender",
        "ffmpeg",
    }
    assert resources_for(Requirements(gpu="nvidia", min_ram_gib=4)) == {"gpu"}


@pytest.mark.parametrize(
    ("given", "address"),
    [
        ("tcp://10.0.0.5:8786", "tcp://10.0.0.5:8786"),
        ("dask://scheduler:8786", "tcp://scheduler:8786"),
        ("127.0.0.1:8786", "tcp://127.0.0.1:8786"),
    ],
)
def test_scheduler_addresses_are_read_in_three_spellings(given: str, address: str) -> None:
    assert scheduler_address(given) == address


def test_an_address_without_a_port_is_refused_with_the_form_to_use() -> None:
    with pytest.raises(DaskError, match="write it as tcp://HOST:PORT"):
        scheduler_address("scheduler")


@pytest.mark.slow
async def test_a_worker_killed_mid_map_loses_no_item(library: Library, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    async with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            asynchronous=True,
            dashboard_address=":0",
        ) as cluster,
        Client(cluster, asynchronous=True) as client,
    ):
        executor = _executor(client, library, tmp_path)
        count = 40
        items = [[i, str(ledger), 100] for i in range(count)]  # 8 batches of 5 items
        running = asyncio.create_task(
            executor.map(MapRequest("Testing.Record", items), lambda done, total: None)
        )
        await _until(lambda: _async(len(_lines(ledger)) >= 2), "two items to start")
        victim = int(_lines(ledger)[0].split()[1])  # the worker process running the first item
        os.kill(victim, signal.SIGKILL)
        results = await asyncio.wait_for(running, DEADLINE)
    assert results == [i * 2 for i in range(count)]  # each kept once, in order
    finished = {int(line.split()[0]) for line in _lines(Path(f"{ledger}.done"))}
    assert finished == set(range(count))  # each really computed
    started_on_victim = {int(s.split()[0]) for s in _lines(ledger) if int(s.split()[1]) == victim}
    done_on_victim = {
        int(s.split()[0]) for s in _lines(Path(f"{ledger}.done")) if int(s.split()[1]) == victim
    }
    assert started_on_victim - done_on_victim, "the kill came after the victim's items ended"


async def test_a_cluster_without_workers_is_waited_for_then_refused(
    library: Library, tmp_path: Path
) -> None:
    async with (
        LocalCluster(n_workers=0, processes=False, asynchronous=True, dashboard_address=":0") as c,
        Client(c, asynchronous=True) as client,
    ):
        executor = _executor(client, library, tmp_path, worker_wait=0.2)
        with pytest.raises(DaskError, match="the Dask cluster has no worker, and none came"):
            await executor.map(MapRequest("Compute.Hash", [["a"]]), lambda done, total: None)
