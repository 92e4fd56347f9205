"""Wit jobs on a Dask cluster (`DaskExecutor`, as `wit run --dask` runs them) beside the embedded
farm and plain Dask, on the same items: its overhead over plain Dask, stated.

Two workloads, each timed as the median of `--repeat` runs, every result checked:

- 20,000 `Compute.Hash` items (the throughput bench's): tiny items, where the cost per item of
  each way of running them shows.
- Render-like items: `--frames` `Compute.Work(u)` items of unequal work (u from 0.5 to 16 units,
  a few milliseconds of one core per unit, seeded), as frames of an animation are.

Each runs:
- on the embedded farm (a real hub and 2 real nodes on loopback, `embedded_farm(2)`): the job's
  whole round trip, as in bench/farm_throughput.py;
- on Dask through witengine (`DaskExecutor` on a `LocalCluster` of 2 worker processes of one
  thread each): the job checked and interpreted here, each map sent as batches of items, each
  batch run from the installed plugins on a worker, results gathered in order;
- on plain Dask, the same cluster: `client.map` of a plain function over the items' arguments
  made before timing (one task per item, as a Dask user writes it), and the same function over
  the same batches that witengine makes (the fair bound for its batches).

The overhead is (witengine on Dask time) / (plain Dask time) - 1, against each plain run.

    .venv/bin/python bench/dask_backend.py [--items 20000] [--frames 400] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import math
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HASHES = """\
Job:Hashes(Int:n = 20000)
{
    StringCollection:hashes = Grid.ForEach(i in Int.Range(0, n))
        => Compute.Hash(Format("item-{0}", i));
}
"""

FRAMES = """\
Job:Frames(DoubleCollection:units)
{
    DoubleCollection:done = Grid.ForEach(u in units) => Compute.Work(u);
}
"""

WORKERS = 2


def plain_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def plain_work(units: float) -> float:
    from witengine.plugins.compute import ROUNDS_PER_UNIT, _burn

    _burn(int(units * ROUNDS_PER_UNIT))
    return float(units)


def plain_batch(function: Any, arguments: Sequence[Any]) -> list[Any]:
    return [function(argument) for argument in arguments]


def frame_units(count: int) -> list[float]:
    chance = random.Random(21)
    return [round(min(16.0, max(0.5, chance.lognormvariate(1.0, 0.8))), 2) for _ in range(count)]


class Workload:
    def __init__(self, name: str, script: str, parameters: dict[str, str], expected: list[Any]):
        self.name = name
        self.script = script
        self.parameters = parameters
        self.expected = expected
        self.variable = "hashes" if name == "hash" else "done"

    def check(self, values: Any, who: str) -> None:
        assert values == self.expected, f"{who}'s results for the {self.name} items are wrong"


async def farm_runs(workloads: list[Workload], folder: Path, repeat: int) -> dict[str, list[float]]:
    from witengine.api import run_on_hub
    from witengine.embedded import embedded_farm

    times: dict[str, list[float]] = {}
    async with embedded_farm(WORKERS) as farm:
        for workload in workloads:
            script = folder / f"{workload.name}.wit"
            script.write_text(workload.script)
            await run_on_hub(farm.access, script, _warm_up(workload))
            for _ in range(repeat):
                began = time.perf_counter()
                result = await run_on_hub(farm.access, script, workload.parameters)
                times.setdefault(workload.name, []).append(time.perf_counter() - began)
                assert result.status.value == "completed", result.error
                workload.check(result.variables[workload.variable], "the farm")
    return times


def _warm_up(workload: Workload) -> dict[str, str]:
    return {"n": "10"} if workload.name == "hash" else {"units": "0.5,0.5"}


async def dask_runs(workloads: list[Workload], repeat: int) -> dict[str, list[float]]:
    from distributed import Client, LocalCluster

    from witengine.api import check_source, run_checked
    from witengine.engines.dask_executor import BATCHES_PER_THREAD, MAX_BATCH, DaskExecutor
    from witengine.plugins.registry import default_library, discover
    from witengine.runtime.blobs import LocalBlobStore

    library = default_library()
    times: dict[str, list[float]] = {}
    logging.getLogger("distributed").setLevel(logging.CRITICAL)  # its shutdown chatter
    async with (
        LocalCluster(
            n_workers=WORKERS,
            threads_per_worker=1,
            processes=True,
            asynchronous=True,
            dashboard_address=":0",
            silence_logs=logging.CRITICAL,
        ) as cluster,
        Client(cluster, asynchronous=True) as client,
    ):
        with tempfile.TemporaryDirectory() as blobs:
            executor = DaskExecutor(client, library, LocalBlobStore(Path(blobs)), discover())
            for workload in workloads:
                checked = check_source(workload.script, library)
                store = executor.blobs
                options: dict[str, Any] = {"library": library, "executor": executor}
                await run_checked(checked, _warm_up(workload), store=store, **options)
                function, arguments = _plain(workload)
                count = len(arguments)
                size = max(1, min(MAX_BATCH, math.ceil(count / (WORKERS * BATCHES_PER_THREAD))))
                batches = [arguments[i : i + size] for i in range(0, count, size)]
                await client.gather(client.map(function, arguments[:10], pure=False))
                for _ in range(repeat):
                    # One task per item last: the scheduler's clean-up after thousands of
                    # tasks would otherwise weigh on whatever runs next.
                    began = time.perf_counter()
                    parts = await client.gather(
                        client.map(plain_batch, [function] * len(batches), batches, pure=False)
                    )
                    _add(times, f"{workload.name} batched", began)
                    workload.check([value for part in parts for value in part], "batched Dask")

                    began = time.perf_counter()
                    result = await run_checked(checked, workload.parameters, store=store, **options)
                    _add(times, f"{workload.name} wit", began)
                    assert result.status.value == "completed", result.error
                    workload.check(result.variables[workload.variable], "witengine on Dask")

                    began = time.perf_counter()
                    values = await client.gather(client.map(function, arguments, pure=False))
                    _add(times, f"{workload.name} map", began)
                    workload.check(values, "plain client.map")
                    await asyncio.sleep(1.0)  # the scheduler forgets those tasks
    return times


def _plain(workload: Workload) -> tuple[Any, list[Any]]:
    if workload.name == "hash":
        return plain_hash, [f"item-{i}" for i in range(len(workload.expected))]
    return plain_work, list(workload.expected)


def _add(times: dict[str, list[float]], key: str, began: float) -> None:
    times.setdefault(key, []).append(time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20_000, help="Compute.Hash items")
    parser.add_argument("--frames", type=int, default=400, help="render-like items")
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    units = frame_units(options.frames)
    workloads = [
        Workload(
            "hash",
            HASHES,
            {"n": str(options.items)},
            [plain_hash(f"item-{i}") for i in range(options.items)],
        ),
        Workload("frames", FRAMES, {"units": ",".join(map(str, units))}, units),
    ]
    with tempfile.TemporaryDirectory() as folder:
        farm = asyncio.run(farm_runs(workloads, Path(folder), options.repeat))
    dask = asyncio.run(dask_runs(workloads, options.repeat))

    def median(times: list[float]) -> float:
        return statistics.median(times)

    for workload in workloads:
        count = len(workload.expected)
        if workload.name == "hash":
            print(f"{count} Compute.Hash items, median of {options.repeat} runs (results checked)")
        else:
            print(
                f"{count} render-like Compute.Work items ({min(units):g} to {max(units):g} "
                f"units, {sum(units):.0f} in all), median of {options.repeat} runs "
                "(results checked)"
            )
        rows = [
            ("embedded farm (hub + 2 nodes)", farm[workload.name]),
            ("witengine on Dask (2 workers)", dask[f"{workload.name} wit"]),
            ("plain Dask client.map", dask[f"{workload.name} map"]),
            ("plain Dask, batched alike", dask[f"{workload.name} batched"]),
        ]
        for label, times in rows:
            runs = ", ".join(f"{t:.2f}" for t in times)
            print(f"  {label:31s} {count / median(times):9.0f} items/s  (runs {runs} s)")
        wit = median(dask[f"{workload.name} wit"])
        over_map = wit / median(dask[f"{workload.name} map"]) - 1
        over_batched = wit / median(dask[f"{workload.name} batched"]) - 1
        print(
            f"  witengine on Dask's overhead: {over_map:+.0%} over plain client.map, "
            f"{over_batched:+.0%} over plain Dask batched alike"
        )


if __name__ == "__main__":
    main()
