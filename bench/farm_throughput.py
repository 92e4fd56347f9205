"""Items per second for 20,000 Compute.Hash items: embedded farm vs in-process pool vs Dask.

Runs the three side by side in one process tree on this machine and prints their figures and the
farm-to-Dask ratio. The farm is a real hub and 2 real nodes on loopback (started before timing;
start-up is reported apart); the pool is `LocalExecutor` with 2 workers; Dask is a distributed
`LocalCluster` with 2 worker processes and `client.map`. Every run's hashes are compared with a
local reference, so no figure comes from a wrong answer.

    .venv/bin/python bench/farm_throughput.py [--items 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import tempfile
import time
from pathlib import Path

SCRIPT = """\
Job:Hashes(Int:n = 20000)
{
    StringCollection:hashes = Grid.ForEach(i in Int.Range(0, n))
        => Compute.Hash(Format("item-{0}", i));
}
"""


def reference(count: int) -> list[str]:
    return [hashlib.sha256(f"item-{i}".encode()).hexdigest() for i in range(count)]


def dask_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


async def farm_runs(
    script: Path, count: int, repeat: int, expected: list[str]
) -> tuple[float, list[float]]:
    from witengine.api import run_on_hub
    from witengine.embedded import embedded_farm

    started = time.perf_counter()
    async with embedded_farm(2) as farm:
        startup = time.perf_counter() - started
        times = []
        for _ in range(repeat):
            began = time.perf_counter()
            result = await run_on_hub(farm.access, script, {"n": str(count)})
            times.append(time.perf_counter() - began)
            assert result.status.value == "completed", result.error
            assert result.variables["hashes"] == expected, "the farm's hashes are wrong"
    return startup, times


async def pool_runs(script: Path, count: int, repeat: int, expected: list[str]) -> list[float]:
    from witengine.api import check_file, run_checked
    from witengine.plugins.registry import default_library, discover
    from witengine.runtime.blobs import LocalBlobStore
    from witengine.runtime.local import LocalExecutor

    library = default_library()
    checked = check_file(script, library)
    with tempfile.TemporaryDirectory() as blobs:
        store = LocalBlobStore(Path(blobs))
        async with LocalExecutor([p.ref for p in discover()], Path(blobs), 2) as executor:
            await run_checked(checked, {"n": "10"}, library=library, executor=executor, store=store)
            times = []
            for _ in range(repeat):
                began = time.perf_counter()
                result = await run_checked(
                    checked, {"n": str(count)}, library=library, executor=executor, store=store
                )
                times.append(time.perf_counter() - began)
                assert result.variables["hashes"] == expected, "the pool's hashes are wrong"
    return times


def dask_runs(count: int, repeat: int, expected: list[str]) -> tuple[float, list[float]]:
    import logging

    from dask.distributed import Client, LocalCluster

    started = time.perf_counter()
    logging.getLogger("distributed").setLevel(logging.CRITICAL)  # its shutdown chatter
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.CRITICAL,
        ) as cluster,
        Client(cluster) as client,
    ):
        startup = time.perf_counter() - started
        client.gather(client.map(dask_hash, ["warm-up"] * 10, pure=False))
        times = []
        for _ in range(repeat):
            texts = [f"item-{i}" for i in range(count)]
            began = time.perf_counter()
            hashes = client.gather(client.map(dask_hash, texts, pure=False))
            times.append(time.perf_counter() - began)
            assert hashes == expected, "Dask's hashes are wrong"
    return startup, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    count, repeat = options.items, options.repeat
    expected = reference(count)
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "hashes.wit"
        script.write_text(SCRIPT)
        farm_startup, farm = asyncio.run(farm_runs(script, count, repeat, expected))
        pool = asyncio.run(pool_runs(script, count, repeat, expected))
    dask_startup, dask = dask_runs(count, repeat, expected)

    def rate(times: list[float]) -> float:
        return count / statistics.median(times)

    print(f"{count} Compute.Hash items, median of {repeat} runs (all results checked)")
    print(
        f"  embedded farm (hub + 2 nodes): {rate(farm):9.0f} items/s  "
        f"(runs {', '.join(f'{t:.2f}' for t in farm)} s; farm start-up {farm_startup:.1f} s)"
    )
    print(
        f"  in-process pool (2 workers):   {rate(pool):9.0f} items/s  "
        f"(runs {', '.join(f'{t:.2f}' for t in pool)} s)"
    )
    print(
        f"  Dask LocalCluster (2 workers): {rate(dask):9.0f} items/s  "
        f"(runs {', '.join(f'{t:.2f}' for t in dask)} s; cluster start-up {dask_startup:.1f} s)"
    )
    print(f"  farm / Dask = {rate(farm) / rate(dask):.1f}x  (goal: at least 50x)")


if __name__ == "__main__":
    main()
