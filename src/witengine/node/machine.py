"""Watching the machine for the owner policy: its local time, input, others' load and power.

`MachineWatch.observe()` gathers one `policy.Observation`; the agent calls it every poll (a
quarter second) and hands it to its `Governor`. Reading is cheap: the idle source is asked each
time, the load sampled at most once a second.

Others' load is the CPU time the whole machine spent busy, less what the node and every process
under it spent (its batches, Blender), per core, smoothed over a couple of seconds: witengine's
own work never suspends itself. A machine without a battery (psutil has none, or cannot tell)
is on mains.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable
from datetime import datetime, tzinfo

import psutil
import tzlocal

from witengine.clock import Clock
from witengine.node.idle import IdleSource
from witengine.node.policy import Observation

LOAD_EVERY = 1.0  # seconds between load samples
LOAD_SMOOTHING = 2.0  # seconds: the time constant of the load's moving average

Busy = Callable[[], float]  # the machine's busy CPU seconds so far, all cores together
Ours = Callable[[], dict[int, float]]  # CPU seconds so far of each process in the node's tree
Battery = Callable[[], object]  # psutil.sensors_battery(): None, or with `power_plugged`


def machine_busy_seconds() -> float:
    """CPU seconds the machine has spent busy since boot, all cores together."""
    times = psutil.cpu_times()
    idle = sum(getattr(times, name, 0.0) for name in ("idle", "iowait"))
    # Linux counts guest time inside user and nice already.
    guest = sum(getattr(times, name, 0.0) for name in ("guest", "guest_nice"))
    return float(sum(times)) - idle - guest


def tree_cpu_seconds(root: int) -> dict[int, float]:
    """CPU seconds (user and system) of a process and every process under it, by pid."""
    found: dict[int, float] = {}
    try:
        top = psutil.Process(root)
        processes = [top, *top.children(recursive=True)]
    except psutil.Error:
        return found
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            found[process.pid] = times.user + times.system
    return found


class OthersLoad:
    """The load of every process but the node's own tree, per core, smoothed."""

    def __init__(
        self,
        *,
        busy: Busy = machine_busy_seconds,
        ours: Ours | None = None,
        cores: int | None = None,
    ) -> None:
        self._busy = busy
        self._ours = ours or (lambda: tree_cpu_seconds(os.getpid()))
        self.cores = cores or psutil.cpu_count() or 1
        self._sampled_at: float | None = None
        self._last_busy = 0.0
        self._last_ours: dict[int, float] = {}
        self.value = 0.0  # the smoothed load per core; 0 until two samples are in
        self._warm = False

    def read(self, now: float) -> float:
        """The load now (monotonic seconds), sampling when a second has passed."""
        if self._sampled_at is not None and now - self._sampled_at < LOAD_EVERY:
            return self.value
        busy, ours = self._busy(), self._ours()
        if self._sampled_at is not None:
            elapsed = now - self._sampled_at
            # A process that ended took its last slice with it, and a new one counts whole:
            # both err by less than a sample, which the smoothing and the policy's sustain absorb.
            mine = sum(
                max(0.0, spent - self._last_ours.get(pid, 0.0)) for pid, spent in ours.items()
            )
            sample = max(0.0, busy - self._last_busy - mine) / elapsed / self.cores
            weight = 1.0 - math.exp(-elapsed / LOAD_SMOOTHING)
            self.value = self.value + (sample - self.value) * weight if self._warm else sample
            self._warm = True
        self._sampled_at, self._last_busy, self._last_ours = now, busy, ours
        return self.value


def on_battery(read: Battery = psutil.sensors_battery) -> bool:
    """Whether the machine runs on battery; without a battery, or when unsure, it is on mains."""
    try:
        battery = read()
    except (AttributeError, NotImplementedError, OSError, RuntimeError):
        return False
    return battery is not None and getattr(battery, "power_plugged", None) is False


def local_zone() -> tzinfo:
    """The machine's time zone, by name (so daylight-saving changes are known); its current
    fixed offset when the name cannot be found."""
    try:
        return tzlocal.get_localzone()
    except Exception:  # tzlocal raises several kinds for a misconfigured machine
        zone = datetime.now().astimezone().tzinfo
        assert zone is not None
        return zone


class MachineWatch:
    """Observes this machine for the owner policy."""

    def __init__(
        self,
        idle: IdleSource,
        clock: Clock,
        *,
        zone: tzinfo | None = None,
        load: OthersLoad | None = None,
        battery: Battery = psutil.sensors_battery,
        wall: Callable[[tzinfo], datetime] = datetime.now,
    ) -> None:
        self.idle = idle
        self.clock = clock
        self.zone = zone or local_zone()
        self.load = load or OthersLoad()
        self._battery = battery
        self._wall = wall

    def observe(self) -> Observation:
        """The machine now."""
        now = self.clock.now()
        return Observation(
            wall=self._wall(self.zone),
            monotonic=now,
            idle_seconds=self.idle.idle_seconds(),
            load_per_core=self.load.read(now),
            on_battery=on_battery(self._battery),
        )
