"""Running one activity's benchmark in a child process at low priority.

The child (`python -m witengine.node.benchmark`) lowers its priority, loads the plugins, runs the
activity's benchmark routine once to warm up, then again and again until a minimum duration has
passed, and prints one line of JSON: the work done per second in the activity's unit. The parent
(`run_benchmark`) kills the child's whole process group the moment it is cancelled, so work that
reaches a node never waits for a benchmark to end.

The rate leaves out the time the child was ready to run but waited for a CPU (Linux reports it
in /proc/self/schedstat): at low priority on a machine its owner is using, that wait says how
busy the machine was, not how fast it is, and batches run at normal priority. Time spent
sleeping, reading files or waiting for a program or GPU still counts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from witengine.clock import SystemClock
from witengine.errors import WitError

DEFAULT_MIN_SECONDS = 1.5
DEFAULT_NICE = 10  # added to the child's niceness: the machine's owner comes first
OUTPUT_LIMIT = 64 * 1024


class BenchmarkFailed(WitError):
    """A benchmark could not run or gave no usable figure; the message says which and why."""


@dataclass(frozen=True)
class Measurement:
    """One benchmark run: `rate` is `work` / (`elapsed` - `waited`), in `unit` per second."""

    activity: str
    unit: str
    rate: float
    elapsed: float  # seconds measured (the warm-up left out)
    iterations: int  # runs of the routine measured
    work: float  # work the measured runs did, in `unit`
    waited: float = 0.0  # of `elapsed`, seconds the process waited for a CPU (other load)


SCHEDSTAT = Path("/proc/self/schedstat")  # Linux: ns on a CPU, ns waiting for one, time slices


def cpu_wait_seconds(schedstat: Path = SCHEDSTAT) -> float:
    """Seconds this process has been ready to run but waiting for a CPU; 0 where unknown."""
    try:
        with schedstat.open(encoding="ascii") as stats:
            return int(stats.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def _checked(activity: str, work: Any) -> float:
    if isinstance(work, bool) or not isinstance(work, int | float):
        raise BenchmarkFailed(f"{activity}: its benchmark returned {work!r}, not the work it did")
    if not math.isfinite(work) or work <= 0:
        raise BenchmarkFailed(
            f"{activity}: its benchmark returned {work}; it must return the work it did (> 0)"
        )
    return float(work)


def measure(
    activity: str,
    unit: str,
    routine: Callable[[], Any],
    *,
    min_seconds: float,
    now: Callable[[], float],
    waited: Callable[[], float] = lambda: 0.0,
) -> Measurement:
    """Run the routine once to warm up, then until `min_seconds` have passed (at least once).

    `waited` gives the seconds so far that the process waited for a CPU; they are left out of
    the rate (see the module's docstring)."""
    _checked(activity, routine())
    work, iterations = 0.0, 0
    started, waited_before = now(), waited()
    while True:
        work += _checked(activity, routine())
        iterations += 1
        elapsed = now() - started
        if elapsed >= min_seconds:
            break
    stolen = min(max(waited() - waited_before, 0.0), elapsed)
    running = max(elapsed - stolen, 1e-9)  # 1e-9: a clock too coarse to see one run
    return Measurement(activity, unit, work / running, elapsed, iterations, work, stolen)


# ------------------------------------------------------------------ child


def _measure_in_child(
    plugin_refs: Sequence[str], activity: str, min_seconds: float, speed: float, parent: int
) -> Measurement:
    # Imported here: the parent side of this module stays light.
    from witengine.plugins.registry import library_from_refs
    from witengine.runtime.blobs import LocalBlobStore
    from witengine.runtime.context import ActivityContext

    library = library_from_refs(plugin_refs)
    definition = library.activities.get(activity)
    if definition is None:
        raise BenchmarkFailed(f"{activity}: no such activity in this node's plugins")
    benchmark = definition.benchmark
    if benchmark is None:
        raise BenchmarkFailed(f"{activity}: its plugin declares no benchmark")

    def run_once(context: ActivityContext) -> float:
        if os.getppid() != parent:  # the node died without killing us: stop between runs
            raise BenchmarkFailed(f"{activity}: its node has stopped")
        return benchmark(context)

    with tempfile.TemporaryDirectory(prefix="wit-benchmark-") as scratch:
        root = Path(scratch)
        (root / "work").mkdir()
        context = ActivityContext(LocalBlobStore(root / "blobs"), root / "work", speed=speed)
        return measure(
            activity,
            definition.unit,
            lambda: run_once(context),
            min_seconds=min_seconds,
            now=SystemClock().now,
            waited=cpu_wait_seconds,
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m witengine.node.benchmark")
    parser.add_argument("--plugins", default="", help="comma-separated module:attribute refs")
    parser.add_argument("--activity", required=True)
    parser.add_argument("--min-seconds", type=float, default=DEFAULT_MIN_SECONDS)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--nice", type=int, default=DEFAULT_NICE)
    parser.add_argument(
        "--path", action="append", default=[], help="a folder to import plugins from (repeatable)"
    )
    parser.add_argument("--parent", type=int, default=None, help="stop when this process ends")
    options = parser.parse_args(argv)
    parent = options.parent if options.parent is not None else os.getppid()
    sys.path.extend(options.path)  # after the node's own packages, as in the batch runner
    with contextlib.suppress(OSError):
        os.nice(options.nice)
    refs = [r for r in options.plugins.split(",") if r]
    try:
        found = _measure_in_child(
            refs, options.activity, options.min_seconds, options.speed, parent
        )
        line: dict[str, Any] = {"measurement": asdict(found)}
    except WitError as error:
        line = {"error": str(error)}
    except Exception as error:  # a plugin's bug: reported by the parent, never a traceback
        line = {
            "error": f"{options.activity}: its benchmark failed: {type(error).__name__}: {error}"
        }
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


# ----------------------------------------------------------------- parent


async def run_benchmark(
    plugin_refs: Sequence[str],
    activity: str,
    *,
    paths: Sequence[Path] = (),
    min_seconds: float = DEFAULT_MIN_SECONDS,
    speed: float = 1.0,
    nice: int = DEFAULT_NICE,
    timeout: float | None = None,
) -> Measurement:
    """Benchmark an activity in a child process; BenchmarkFailed when it cannot.

    `paths` are folders the plugins are imported from (plugins installed from the hub).
    Cancelling the call kills the child at once. `timeout` (default: 60 s plus 20 times
    `min_seconds`) bounds a routine that never returns.
    """
    limit = timeout if timeout is not None else 60.0 + 20 * min_seconds
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "witengine.node.benchmark",
        "--plugins",
        ",".join(plugin_refs),
        "--activity",
        activity,
        "--min-seconds",
        repr(min_seconds),
        "--speed",
        repr(speed),
        "--nice",
        str(nice),
        "--parent",
        str(os.getpid()),
        *(arg for path in paths for arg in ("--path", str(path))),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # its own process group: a kill takes what it started too
    )
    try:
        output, errors = await asyncio.wait_for(process.communicate(), limit)
    except TimeoutError:
        raise BenchmarkFailed(f"{activity}: its benchmark took longer than {limit:g} s") from None
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                await asyncio.shield(process.wait())
    return _parse(activity, process.returncode, output, errors)


def _parse(activity: str, code: int | None, output: bytes, errors: bytes) -> Measurement:
    lines = output.decode(errors="replace").strip().splitlines()
    try:
        line = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        line = {}
    if "measurement" in line:
        return Measurement(**line["measurement"])
    if "error" in line:
        raise BenchmarkFailed(str(line["error"]))
    tail = errors.decode(errors="replace").strip()[-OUTPUT_LIMIT:].splitlines()[-5:]
    detail = f": {' / '.join(tail)}" if tail else ""
    raise BenchmarkFailed(f"{activity}: the benchmark process exited with code {code}{detail}")


if __name__ == "__main__":
    main()
