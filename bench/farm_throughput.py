"""Items per second for 20,000 Compute.Hash items: embedded farm vs in-process pool vs Dask.

Runs the three side by side in one process tree on this machine and prints their figures and the
farm-to-Dask ratio (the issue's goal: at least 50x). Each is warmed up with a few items first;
every run's hashes are compared with a local reference, so no figure comes from a wrong answer.

- The farm: a real hub and 2 real nodes on loopback (`embedded_farm(2)`, started before timing;
  start-up is reported apart). Its figure is the whole `run_on_hub` round trip, as `wit run --hub`
  makes it: the script checked here and submitted; the hub stores the job, interprets it (the
  20,000 items' arguments are evaluated by the interpreter), stores the map and hands batches to
  the nodes; each node runs them in its child process and sends every result back, which the hub
  checks, commits to SQLite and acknowledges; the job's events stream to the client, which then
  fetches the 20,000 results and decodes them.
- The pool: `LocalExecutor` with 2 worker processes, driven by the same interpreter in this
  process (no hub, no network, no store): the room the farm's own costs leave.
- Dask: a distributed `LocalCluster` with 2 worker processes, `client.map` of a plain function
  over texts made before timing, then `client.gather`.

`--profile DIR` records the hub and each node (its child process included) with py-spy
(`pip install py-spy`) during the farm's runs, writes their collapsed stacks to DIR and prints
where each process's samples went, the hub's by phase.

    .venv/bin/python bench/farm_throughput.py [--items 20000] [--repeat 5] [--profile DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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
    script: Path, count: int, repeat: int, expected: list[str], profile: Path | None
) -> tuple[float, list[float]]:
    from witengine.api import run_on_hub
    from witengine.embedded import embedded_farm

    started = time.perf_counter()
    async with embedded_farm(2) as farm:
        startup = time.perf_counter() - started
        await run_on_hub(farm.access, script, {"n": "10"})
        spies = await start_profilers(farm, profile) if profile is not None else []
        times = []
        try:
            for _ in range(repeat):
                began = time.perf_counter()
                result = await run_on_hub(farm.access, script, {"n": str(count)})
                times.append(time.perf_counter() - began)
                assert result.status.value == "completed", result.error
                assert result.variables["hashes"] == expected, "the farm's hashes are wrong"
        finally:
            for spy in spies:
                spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            for spy in spies:
                await spy.wait()
    return startup, times


async def start_profilers(farm: Any, folder: Path) -> list[asyncio.subprocess.Process]:
    """py-spy recording the hub, and each node with its child process, until SIGINT: collapsed
    stacks, sampled without pausing the processes."""
    folder.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        raise SystemExit(f"--profile needs py-spy: {spy.parent / 'pip'} install py-spy")
    targets = {"hub": farm.hub.pid} | {f"node-{n}": p.pid for n, p in enumerate(farm.nodes, 1)}
    spies = []
    for name, pid in targets.items():
        children = ["--subprocesses"] if name != "hub" else []
        output = folder / f"{name}.txt"
        spies.append(
            await asyncio.create_subprocess_exec(
                *(str(spy), "record", "--pid", str(pid), "--format", "raw", "--rate", "200"),
                *("--nonblocking", *children, "--output", str(output)),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
        )
    await asyncio.sleep(1.0)  # py-spy attaches
    return spies


# Where the hub's samples went: the first phase whose frame a sample's stack holds.
HUB_PHASES = (
    ("the job's API (submit, events, results)", "RequestResponseCycle.run_asgi"),
    ("storing, hashing and estimating the map", "open_map (witengine/hub/dispatch"),
    ("evaluating the items' arguments (interpreter)", "Interpreter.grid"),
    ("results: storing them (SQLite)", "SqliteStore.commit"),
    ("results: checking them, the schedule", "handle_many (witengine/hub/dispatch"),
    ("reading the nodes' messages (JSON, checks)", "_next_message"),
    ("the dashboard's watch", "FarmWatch.observe"),
    ("handing out batches", "Dispatcher.dispatch"),
    ("sending messages to nodes", "_serve.<locals>.write"),
)


def profile_summary(folder: Path) -> list[str]:
    """Each process's share of the samples, and the hub's by phase."""
    processes: dict[str, int] = {}
    phases: dict[str, int] = {}
    for path in sorted(folder.glob("*.txt")):
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if "EpollSelector.select" in stack or "_do_waitpid" in stack:
                continue  # waiting, not working
            name = path.stem
            if name != "hub":
                child = "witengine/node/batch_process.py" in stack
                name = f"{name} {'child process' if child else 'agent'}"
            processes[name] = processes.get(name, 0) + int(count)
            if path.stem == "hub":
                phase = next((p for p, frame in HUB_PHASES if frame in stack), "the rest")
                phases[phase] = phases.get(phase, 0) + int(count)
    total, hub = sum(processes.values()), processes.get("hub", 0)
    lines = [f"profile ({folder}): samples at 200 Hz while working"]
    lines += [f"  {name:32s} {n / total:6.1%}" for name, n in sorted(processes.items())]
    lines += ["  the hub's, by phase:"]
    ranked = sorted(phases.items(), key=lambda phase: -phase[1])
    lines += [f"    {phase:46s} {n / hub:6.1%}" for phase, n in ranked]
    return lines


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
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", type=Path, help="record the farm with py-spy into DIR")
    options = parser.parse_args()
    count, repeat = options.items, options.repeat
    expected = reference(count)
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "hashes.wit"
        script.write_text(SCRIPT)
        farm_startup, farm = asyncio.run(
            farm_runs(script, count, repeat, expected, options.profile)
        )
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
    if options.profile is not None:
        print("\n".join(profile_summary(options.profile)))


if __name__ == "__main__":
    main()
