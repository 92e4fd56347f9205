"""A node's rates: which activities it offers, the benchmark rates it has measured, and the loop
that measures the missing ones in idle time.

An activity is offered when its plugin is loaded here, it may run on nodes and this machine has
everything it requires; the hub never sends work for the others, and the node measures no rate
for them. Rates are kept in `<cache-dir>/benchmarks.json` under the plugin's name and version
(and the node's synthetic speed), so a restart measures nothing again and a new plugin version
measures again. The loop runs one benchmark at a time, only once the node has been idle (no
batch) for `idle_seconds`, and kills it the moment work arrives; a benchmark that fails is
logged and not tried again until the node restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from witengine.lang.types import Placement
from witengine.node.benchmark import BenchmarkFailed, Measurement, run_benchmark
from witengine.plugins.requirements import unmet_by_activity
from witengine.protocol import BenchmarkReport, Capabilities
from witengine.runtime.builtins.variables import BUILTIN
from witengine.runtime.library import Library
from witengine.waiting import within

if TYPE_CHECKING:
    from witengine.node.settings import NodeSettings

log = logging.getLogger(__name__)
CACHE_FORMAT = 1
RECHECK_SECONDS = 30.0  # how often an idle node with nothing to measure looks again


@dataclass(frozen=True)
class Target:
    """An activity to benchmark, with the plugin version and unit its rate belongs to."""

    activity: str
    plugin: str
    version: str
    unit: str


def offered_activities(
    library: Library, capabilities: Capabilities
) -> tuple[list[str], dict[str, list[str]]]:
    """The activities this node offers its hub, and those it cannot run with what it lacks."""
    candidates = [
        a
        for a in library.activities.values()
        if a.plugin != BUILTIN and a.spec.placement is not Placement.HUB
    ]
    unmet = unmet_by_activity(
        ((a.name, a.requirements) for a in candidates if a.requirements), capabilities
    )
    return sorted(a.name for a in candidates if a.name not in unmet), unmet


def benchmark_targets(library: Library, capabilities: Capabilities) -> list[Target]:
    """The offered activities that have a benchmark, in name order."""
    versions = dict(library.plugins)
    offered, _ = offered_activities(library, capabilities)
    targets = []
    for name in offered:
        definition = library.activities[name]
        if definition.benchmark is not None:
            version = versions.get(definition.plugin, "")
            targets.append(Target(name, definition.plugin, version, definition.unit))
    return targets


def report_of(target: Target, found: Measurement, error: float = 0.0) -> BenchmarkReport:
    """The report of a measured rate, multiplied by 1 + `error` (a testing knob; 0 normally)."""
    return BenchmarkReport(
        activity=target.activity,
        plugin=target.plugin,
        plugin_version=target.version,
        unit=found.unit,
        rate=found.rate * (1 + error),
        elapsed=found.elapsed,
        iterations=found.iterations,
    )


class RateCache:
    """Measured rates in one JSON file, by plugin name and version, then activity."""

    def __init__(self, path: Path, speed: float = 1.0) -> None:
        self.path = path
        self.speed = speed
        self.plugins: dict[str, dict[str, Any]] = self._load()

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            log.warning("ignoring the benchmark cache %s: %s", self.path, error)
            return {}
        if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
            return {}
        plugins = data.get("plugins")
        return plugins if isinstance(plugins, dict) else {}

    @staticmethod
    def _key(target: Target) -> str:
        return f"{target.plugin}@{target.version}"

    def get(self, target: Target) -> Measurement | None:
        entry = self.plugins.get(self._key(target), {}).get(target.activity)
        if not isinstance(entry, dict):
            return None
        if entry.get("unit") != target.unit or entry.get("speed") != self.speed:
            return None
        try:
            return Measurement(
                target.activity,
                target.unit,
                float(entry["rate"]),
                float(entry["elapsed"]),
                int(entry["iterations"]),
                float(entry["work"]),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def put(self, target: Target, found: Measurement) -> None:
        """Keep a rate, forgetting those of the plugin's other versions; written atomically."""
        key = self._key(target)
        for other in [k for k in self.plugins if k.rpartition("@")[0] == target.plugin]:
            if other != key:
                del self.plugins[other]
        entry = {**asdict(found), "speed": self.speed}
        del entry["activity"]
        self.plugins.setdefault(key, {})[target.activity] = entry
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps({"format": CACHE_FORMAT, "plugins": self.plugins}, indent=1))
        partial.replace(self.path)


Measure = Callable[[Target], Coroutine[Any, Any, Measurement]]


class IdleBenchmarks:
    """Measures, in idle time, the rates of the node's activities that have none cached."""

    def __init__(
        self,
        cache: RateCache,
        targets: Callable[[], list[Target]],
        measure: Measure,
        report: Callable[[BenchmarkReport], None],
        *,
        idle_seconds: float = 2.0,
        enabled: bool = True,
        error: float = 0.0,
    ) -> None:
        self.cache = cache
        self.targets = targets
        self.measure = measure
        self.report = report
        self.idle_seconds = idle_seconds
        self.enabled = enabled
        # For tests and benchmarks of the scheduler only: reported rates are off by this fraction
        # (the cache keeps the true measurement).
        self.error = error
        self.failed: set[Target] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._busy = asyncio.Event()
        self._kick = asyncio.Event()
        self._settled = False  # idle for idle_seconds since the last work
        self._task: asyncio.Task[Measurement] | None = None

    @classmethod
    def for_node(
        cls,
        settings: NodeSettings,
        library: Callable[[], Library],
        sources: Callable[[], tuple[Sequence[str], Sequence[Path]]],
        capabilities: Capabilities,
        report: Callable[[BenchmarkReport], None],
    ) -> IdleBenchmarks:
        """The loop of a node agent: its cache folder, speed and benchmark settings; `library`
        and `sources` (plugin refs and the folders they import from) as they are now."""

        async def measure(target: Target) -> Measurement:
            refs, paths = sources()
            return await run_benchmark(
                refs,
                target.activity,
                paths=paths,
                min_seconds=settings.bench_seconds,
                speed=settings.speed,
            )

        return cls(
            RateCache(settings.cache_dir / "benchmarks.json", settings.speed),
            lambda: benchmark_targets(library(), capabilities),
            measure,
            report,
            idle_seconds=settings.bench_idle_seconds,
            enabled=settings.benchmarks,
            error=settings.bench_error,
        )

    # ------------------------------------------------------- the agent's calls

    def busy(self) -> None:
        """Work arrived: stop the running benchmark (its child is killed) and wait."""
        self._idle.clear()
        self._busy.set()
        self._settled = False
        if self._task is not None:
            self._task.cancel()

    def idle(self) -> None:
        """No batch is left: benchmarks may run again after `idle_seconds`."""
        self._busy.clear()
        self._idle.set()

    def kick(self) -> None:
        """The node's plugins may have changed: look for activities to measure now."""
        self._kick.set()

    def reports(self) -> list[BenchmarkReport]:
        """Every rate known for the current activities and plugin versions."""
        found = ((t, self.cache.get(t)) for t in self.targets())
        return [report_of(t, m, self.error) for t, m in found if m is not None]

    # ------------------------------------------------------------- the loop

    def _next(self) -> Target | None:
        for target in self.targets():
            if target not in self.failed and self.cache.get(target) is None:
                return target
        return None

    async def run(self) -> None:
        """Measure missing rates whenever the node is idle; runs until cancelled."""
        if not self.enabled:
            return
        while True:
            await self._idle.wait()
            if not self._settled:
                if await within(self.idle_seconds, self._busy.wait()):
                    continue  # work came before the node had been idle long enough
                self._settled = True
            target = self._next()
            if target is None:
                self._kick.clear()
                await within(RECHECK_SECONDS, _first(self._busy, self._kick))
                continue
            await self._run_one(target)

    async def _run_one(self, target: Target) -> None:
        task = self._task = asyncio.create_task(self.measure(target))
        try:
            await asyncio.wait({task})
        finally:
            self._task = None
            if not task.done():  # this loop itself was cancelled
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if task.cancelled():
            log.info("benchmark of %s stopped: work arrived", target.activity)
            return
        error = task.exception()
        if error is not None:
            self.failed.add(target)
            if isinstance(error, BenchmarkFailed):
                log.warning("benchmark failed: %s", error)
            else:
                log.error("benchmark of %s failed", target.activity, exc_info=error)
            return
        found = task.result()
        self.cache.put(target, found)
        log.info(
            "benchmark of %s: %.4g %s per second (%d runs in %.2f s)",
            target.activity,
            found.rate,
            found.unit,
            found.iterations,
            found.elapsed,
        )
        self.report(report_of(target, found, self.error))


async def _first(*events: asyncio.Event) -> None:
    """Return when any of the events is set."""
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
