"""Watching the machine: others' load (the machine's busy time less the node's own tree's),
power (no battery here: absence is mains), and the observation the governor is given."""

from __future__ import annotations

import os
from datetime import datetime, tzinfo
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from witengine.node.idle import NoInput
from witengine.node.machine import (
    MachineWatch,
    OthersLoad,
    local_zone,
    machine_busy_seconds,
    on_battery,
    tree_cpu_seconds,
)
from witengine.testing.clock import FakeClock


class Counters:
    """CPU counters a test moves by hand."""

    def __init__(self) -> None:
        self.busy = 100.0
        self.ours: dict[int, float] = {1: 10.0}

    def load(self, cores: int = 2) -> OthersLoad:
        return OthersLoad(busy=lambda: self.busy, ours=lambda: dict(self.ours), cores=cores)


def test_others_load_leaves_out_the_node_s_own_processes() -> None:
    counters = Counters()
    load = counters.load(cores=2)
    assert load.read(0.0) == 0.0  # one sample: nothing known yet
    counters.busy += 2.0  # two cores busy for a second...
    counters.ours[1] += 1.5  # ...one and a half of it the node's
    assert load.read(1.0) == 0.25


def test_load_is_sampled_at_most_once_a_second() -> None:
    counters = Counters()
    load = counters.load(cores=1)
    load.read(0.0)
    counters.busy += 1.0
    assert load.read(1.0) == 1.0
    counters.busy += 5.0
    assert load.read(1.5) == 1.0


def test_load_is_smoothed_so_a_spike_moves_it_only_partly() -> None:
    counters = Counters()
    load = counters.load(cores=1)
    load.read(0.0)
    load.read(1.0)  # idle second: 0
    counters.busy += 1.0
    spiked = load.read(2.0)
    assert 0.3 < spiked < 0.5  # 1 - e^-0.5 of the way


def test_processes_that_come_and_go_in_the_tree_are_not_counted_as_others() -> None:
    counters = Counters()
    load = counters.load(cores=1)
    load.read(0.0)
    counters.ours = {2: 0.5}  # pid 1 ended; pid 2 (a batch) started and used half a second
    counters.busy += 0.5
    assert load.read(1.0) == 0.0


def test_the_real_load_is_a_number_not_under_zero() -> None:
    load = OthersLoad()
    load.read(0.0)
    assert load.read(1.0) >= 0.0
    assert machine_busy_seconds() > 0
    assert os.getpid() in tree_cpu_seconds(os.getpid())
    assert tree_cpu_seconds(2**22 + 7) == {}  # no such process


def test_a_machine_without_a_battery_is_on_mains() -> None:
    assert on_battery(lambda: None) is False
    assert on_battery() is False  # this machine has none
    assert on_battery(lambda: SimpleNamespace(percent=80, power_plugged=False)) is True
    assert on_battery(lambda: SimpleNamespace(percent=80, power_plugged=True)) is False
    assert on_battery(lambda: SimpleNamespace(percent=80, power_plugged=None)) is False


def test_a_platform_without_battery_sensors_is_on_mains() -> None:
    def missing() -> object:
        raise AttributeError("sensors_battery")

    assert on_battery(missing) is False


def test_the_observation_carries_local_time_idle_load_and_power() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    clock = FakeClock(start=50.0)
    counters = Counters()

    def wall(zone: tzinfo) -> datetime:
        return datetime(2026, 12, 9, 12, 0, tzinfo=zone)

    watch = MachineWatch(
        NoInput(), clock, zone=berlin, load=counters.load(), battery=lambda: None, wall=wall
    )
    seen = watch.observe()
    assert seen.wall == datetime(2026, 12, 9, 12, 0, tzinfo=berlin)
    assert seen.wall.tzinfo is berlin
    assert (seen.monotonic, seen.idle_seconds, seen.load_per_core, seen.on_battery) == (
        50.0,
        None,
        0.0,
        False,
    )


def test_the_local_zone_is_a_zone_that_knows_its_changes() -> None:
    zone = local_zone()
    assert datetime(2026, 7, 1, tzinfo=zone).utcoffset() is not None
