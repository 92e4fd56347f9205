"""The farm's capacity by hour of the week: what its nodes' windows make available, beside what
they really delivered. Pure functions of data and one small tally; nothing here reads a clock.

Both figures are in *slots*: the slots the windows of the connected nodes allow in an hour (a
node's slots times the share of the hour its windows allow; a node without a policy is always
available), and the slots busy on average in that hour (the seconds its committed items took,
over the seconds that hour has been watched). A node's speed differs from one activity to
another, so slots are what can be added up across the farm; the overview's capacity per plugin
gives speeds. Hours are kept in UTC (Monday 00:00 UTC first, as nodes report their windows) and
turned into the hub's local week only to be shown.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

HOURS = 168  # in a week
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# The epoch (1970-01-01 00:00 UTC) was a Thursday: hour 0 of it is hour 72 of its week.
EPOCH_HOUR_OF_WEEK = 72


def hour_of_week(at: float) -> int:
    """The UTC hour of the week (0: Monday 00:00 to 01:00 UTC) that a time falls in."""
    return (math.floor(at / 3600) + EPOCH_HOUR_OF_WEEK) % HOURS


def available_slots(nodes: Iterable[tuple[int, Sequence[float]]]) -> list[float]:
    """For each UTC hour of the week, the slots the nodes' windows allow: the sum of each node's
    slots times its share of the hour. A node is (slots, week); an empty week is always
    available (no policy), and a week of another length than 168 is taken as none."""
    total = [0.0] * HOURS
    for slots, week in nodes:
        if len(week) != HOURS:
            week = [1.0] * HOURS
        for hour, share in enumerate(week):
            total[hour] += slots * share
    return total


def to_local(utc: Sequence[float], offset_seconds: float) -> list[float]:
    """A week by UTC hours as the local week of a zone `offset_seconds` east of UTC (local
    Monday 00:00 first). A local hour that is not a whole UTC hour (an offset of 5:30, say)
    mixes the two UTC hours it overlaps, by how much of it each holds."""
    local = []
    for hour in range(HOURS):
        start = hour - offset_seconds / 3600  # the local hour's start, in UTC hours of the week
        first = math.floor(start)
        part = start - first  # of the local hour, the share that falls in the next UTC hour
        value = (1 - part) * utc[first % HOURS]
        if part:
            value += part * utc[(first + 1) % HOURS]
        local.append(value)
    return local


def watched_seconds(start: float, end: float) -> list[float]:
    """For each UTC hour of the week, the seconds of [start, end) that fall in it."""
    seconds = [0.0] * HOURS
    if end <= start:
        return seconds
    first, last = math.floor(start / 3600), math.floor(end / 3600)
    if first == last:
        seconds[hour_of_week(start)] += end - start
        return seconds
    seconds[hour_of_week(start)] += (first + 1) * 3600 - start
    seconds[hour_of_week(end)] += end - last * 3600
    inner = last - first - 1  # whole hours between the two partial ones, in a row
    weeks, rest = divmod(inner, HOURS)
    if weeks:
        seconds = [s + weeks * 3600.0 for s in seconds]
    for k in range(rest):
        seconds[(first + 1 + k + EPOCH_HOUR_OF_WEEK) % HOURS] += 3600.0
    return seconds


class DeliveredWeek:
    """What the farm delivered, by UTC hour of the week: items committed and the seconds they
    took, since `start` (when the hub began to count). 168 pairs of numbers, whatever the
    farm's size or age."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.items = [0] * HOURS
        self.seconds = [0.0] * HOURS

    def add(self, at: float, items: int, seconds: float) -> None:
        """Items committed at `at` that took `seconds` of their nodes' slots."""
        hour = hour_of_week(at)
        self.items[hour] += items
        self.seconds[hour] += seconds

    def busy_slots(self, now: float) -> list[float]:
        """For each UTC hour of the week, the slots busy on average while it was watched: the
        seconds of committed work over the seconds of that hour since `start` (0 before any)."""
        watched = watched_seconds(self.start, now)
        return [s / w if w > 0 else 0.0 for s, w in zip(self.seconds, watched, strict=True)]

    def items_per_hour(self, now: float) -> list[float]:
        """For each UTC hour of the week, the items committed per hour on average in it."""
        watched = watched_seconds(self.start, now)
        return [3600 * n / w if w > 0 else 0.0 for n, w in zip(self.items, watched, strict=True)]


@dataclass(frozen=True)
class WeekCell:
    """One hour of the local week, as the grid shows it."""

    day: str
    hour: int
    value: float
    level: int  # 0 (none) to 4 (the week's most), for the cell's shade
    title: str


@dataclass(frozen=True)
class WeekGrid:
    """Seven rows (Monday first) of 24 cells (midnight first), in the hub's local time."""

    rows: list[tuple[str, list[WeekCell]]]
    peak: float
    total: float  # the sum of every hour's value: slot-hours (or items) in a week


def week_grid(
    local: Sequence[float], describe: Callable[[str, int], str], scale: float | None = None
) -> WeekGrid:
    """The grid of a local week of 168 values; `describe(when, hour)` titles each cell, with
    `when` as people read it ("Tue 21:00–22:00") and `hour` its index in the local week. Cells
    are shaded against `scale` (default: the week's peak), so that two grids drawn against one
    scale compare."""
    peak = max(local, default=0.0)
    scale = peak if scale is None else scale
    rows = []
    for day_index, day in enumerate(DAYS):
        cells = []
        for hour in range(24):
            index = day_index * 24 + hour
            value = local[index]
            level = 0 if value <= 0 or scale <= 0 else min(4, max(1, math.ceil(4 * value / scale)))
            when = f"{day} {hour:02d}:00–{(hour + 1) % 24:02d}:00"
            cells.append(WeekCell(day, hour, value, level, describe(when, index)))
        rows.append((day, cells))
    return WeekGrid(rows, peak, sum(local))
