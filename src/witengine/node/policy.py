"""A node's owner policy: when it may borrow the machine, and what it does when the owner is back.

Pure: `Governor.decide` maps what the machine looks like now (`Observation`: the local time, how
long since the last input, the load of everything but witengine, whether it runs on battery) to
an `Action` with its reason, remembering what it needs for hysteresis (how long the machine has
been idle again, how long the work has been suspended). The agent observes, asks, and acts:
it freezes the running batches' process trees on SUSPEND, thaws them on RUN, and hands back what
it holds on VACATE. Tests drive it with a fake clock and made-up observations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Action(StrEnum):
    """What the node does now."""

    RUN = "run"  # take work, and run (or thaw) what it holds
    SUSPEND = "suspend"  # freeze what it runs, keep it; take no new work
    VACATE = "vacate"  # deliver what is finished, hand the rest back; take no new work


@dataclass(frozen=True)
class Observation:
    """The machine at one moment, as the policy needs it."""

    wall: datetime  # the local time, aware of its time zone (windows are in local time)
    monotonic: float  # seconds on a monotonic clock, for how long things have lasted
    idle_seconds: float | None  # since the last keyboard or mouse input; None: no desktop
    load_per_core: float  # the load of every process but witengine's, per core
    on_battery: bool


@dataclass(frozen=True)
class Decision:
    """What to do, why, and how long the current window of work stays open."""

    action: Action
    reason: str  # in words, for `wit nodes` and the dashboard ("" when simply running)
    window_seconds: float | None = None  # until the current window closes; None: no end
