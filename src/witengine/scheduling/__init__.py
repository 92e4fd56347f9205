"""Scheduling: pure functions and state machines that decide how work is split among nodes.

No I/O, no clock, no sleeping: time is passed in. `Farm.schedule` opens a map's `MapSchedule`
(see `core` for the driver's protocol); `simulator` drives one against virtual nodes.
"""

from witengine.scheduling.core import (
    Grant,
    MapSchedule,
    Outcome,
    ScheduleSnapshot,
    Strategy,
    Verdict,
    Worker,
    uniform_work,
)
from witengine.scheduling.farm import Farm
from witengine.scheduling.rates import RateModel
from witengine.scheduling.settings import FarmSettings

__all__ = [
    "Farm",
    "FarmSettings",
    "Grant",
    "MapSchedule",
    "Outcome",
    "RateModel",
    "ScheduleSnapshot",
    "Strategy",
    "Verdict",
    "Worker",
    "uniform_work",
]
