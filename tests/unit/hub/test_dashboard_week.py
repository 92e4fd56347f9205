"""The farm's week: the slots the nodes' windows allow by hour, turned into the hub's local week,
what the farm delivered by hour, and the grid the overview draws."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from witengine.hub.dashboard.views import DashboardContext, NodeRow
from witengine.hub.dashboard.watch import FarmWatch
from witengine.hub.dashboard.week import (
    HOURS,
    DeliveredWeek,
    available_slots,
    hour_of_week,
    to_local,
    watched_seconds,
    week_grid,
)
from witengine.hub.dispatch import MapInfo
from witengine.protocol.states import NodeState

MONDAY = dt.datetime(2026, 12, 7, tzinfo=dt.UTC).timestamp()  # Monday 7 Dec 2026, 00:00 UTC
HOUR = 3600.0


def nights(share: float = 1.0) -> list[float]:
    """Weekday nights 20:00 to 08:00 UTC, and the whole weekend (as a node reports its windows)."""
    week = [0.0] * HOURS
    for day in range(7):
        for hour in range(24):
            if day >= 5 or hour >= 20 or hour < 8:
                week[day * 24 + hour] = share
    return week


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (0.0, 72),  # the epoch: a Thursday, midnight
        (MONDAY, 0),
        (MONDAY + HOUR - 1, 0),
        (MONDAY + 21 * HOUR + 30 * 60, 21),
        (MONDAY + 6 * 24 * HOUR + 23 * HOUR, 167),
        (MONDAY + 7 * 24 * HOUR, 0),
        (MONDAY - 1, 167),
    ],
)
def test_the_hour_of_the_week_counts_from_monday_midnight_utc(at: float, expected: int) -> None:
    assert hour_of_week(at) == expected


def test_available_slots_weigh_each_window_by_its_node_slots() -> None:
    week = available_slots([(4, nights()), (2, nights(0.5)), (1, [])])
    assert len(week) == HOURS
    assert week[21] == 4 + 1 + 1, "Monday 21:00: both night nodes, and the one with no policy"
    assert week[12] == 1, "Monday noon: only the node that has no policy"
    assert week[5 * 24 + 12] == 6, "Saturday noon: everyone"


def test_a_node_without_a_policy_or_with_a_malformed_week_is_always_available() -> None:
    assert available_slots([(3, [])]) == [3.0] * HOURS
    assert available_slots([(3, [0.0] * 10)]) == [3.0] * HOURS


def test_a_week_moves_to_a_zone_east_of_utc_by_whole_hours() -> None:
    utc = [float(hour) for hour in range(HOURS)]
    paris = to_local(utc, 3600)  # UTC+01:00: local midnight is 23:00 UTC the day before
    assert paris[0] == 167.0
    assert paris[1] == 0.0
    assert paris[21] == 20.0
    new_york = to_local(utc, -5 * 3600)  # local midnight is 05:00 UTC
    assert new_york[0] == 5.0
    assert new_york[167] == 4.0


def test_a_local_hour_across_two_utc_hours_mixes_them_by_its_overlap() -> None:
    utc = [0.0] * HOURS
    utc[18] = 1.0  # Monday 18:00 to 19:00 UTC
    india = to_local(utc, 5.5 * 3600)  # 23:30 local is 18:00 UTC
    assert india[23] == pytest.approx(0.5), "23:00-24:00 local holds 18:00-18:30 UTC"
    assert india[24] == pytest.approx(0.5), "Tuesday 00:00-01:00 local holds 18:30-19:00 UTC"
    assert sum(india) == pytest.approx(1.0)


def test_watched_seconds_cover_the_span_once_whatever_its_length() -> None:
    assert watched_seconds(MONDAY + 600, MONDAY + 1200) == [600.0] + [0.0] * (HOURS - 1)
    two_hours = watched_seconds(MONDAY + 1800, MONDAY + 2 * HOUR + 900)
    assert two_hours[:3] == [1800.0, 3600.0, 900.0]
    start = MONDAY + 5 * HOUR + 10
    for weeks in (1, 3):
        end = start + weeks * HOURS * HOUR + 7 * HOUR
        seconds = watched_seconds(start, end)
        assert sum(seconds) == pytest.approx(end - start)
        assert seconds[100] == weeks * HOUR
        assert seconds[6] == (weeks + 1) * HOUR, "the seven extra hours come once more"
    assert watched_seconds(MONDAY, MONDAY) == [0.0] * HOURS


def test_delivered_work_is_averaged_over_the_time_each_hour_was_watched() -> None:
    week = DeliveredWeek(start=MONDAY + 20 * HOUR)
    week.add(MONDAY + 20 * HOUR + 100, items=10, seconds=3600.0)
    week.add(MONDAY + 20 * HOUR + 200, items=20, seconds=3600.0)
    week.add(MONDAY + 7 * 24 * HOUR + 20 * HOUR + 5, items=30, seconds=7200.0)  # a week later
    now = MONDAY + 7 * 24 * HOUR + 21 * HOUR
    busy = week.busy_slots(now)
    assert busy[20] == pytest.approx(2.0), "14,400 slot-seconds over the two hours watched"
    assert busy[21] == 0.0
    assert week.items_per_hour(now)[20] == pytest.approx(30.0)
    assert DeliveredWeek(start=MONDAY).busy_slots(MONDAY) == [0.0] * HOURS


def test_the_grid_has_a_row_a_day_and_a_cell_an_hour_shaded_against_the_peak() -> None:
    values = [0.0] * HOURS
    values[21] = 8.0
    values[22] = 2.0
    grid = week_grid(values, lambda when, hour: f"{when}: {values[hour]:g}")
    assert [day for day, _ in grid.rows] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    monday = grid.rows[0][1]
    assert len(monday) == 24
    assert (monday[21].level, monday[22].level, monday[0].level) == (4, 1, 0)
    assert monday[21].title == "Mon 21:00–22:00: 8"
    assert grid.rows[6][1][23].title == "Sun 23:00–00:00: 0"
    assert (grid.peak, grid.total) == (8.0, 10.0)


@dataclass
class Farm:
    """What the watch reads of the farm: nothing it needs here."""

    def node_name(self, node_id: str) -> str:
        return node_id

    def map_info(self, map_id: str) -> MapInfo | None:
        return None

    def lease_alive(self, batch_id: str) -> bool:
        return False

    def node_connected(self, node_id: str) -> bool:
        return True


def row(name: str, slots: int, week: list[float], state: NodeState = NodeState.IDLE) -> NodeRow:
    return NodeRow(
        id=f"node_{name}",
        name=name,
        state=state,
        os="Linux",
        cpu="",
        cores=slots,
        ram_bytes=0,
        gpus=[],
        software={},
        plugins=[],
        activities=[],
        slots=slots,
        running=[],
        done=0,
        last_heard=None,
        last_seen=0.0,
        rates=[],
        benchmarks=[],
        blocked=[],
        policy={"hours": "Mon-Fri 20:00-08:00, Sat-Sun"} if week else None,
        week=tuple(week),
    )


def context(now: list[float], zone: str) -> DashboardContext:
    watch = FarmWatch(Farm(), lambda: now[0])
    service: Any = None  # the week reads the nodes' rows and the watch only
    return DashboardContext(service, service, watch, service, lambda: now[0], ZoneInfo(zone))


def test_the_farm_week_counts_connected_nodes_not_drained_in_the_hubs_zone() -> None:
    now = [MONDAY + 9 * HOUR]
    ctx = context(now, "Europe/Paris")
    rows = [
        row("night", 4, nights()),
        row("always", 1, []),
        row("gone", 10, nights(), NodeState.OFFLINE),
        row("drained", 10, [], NodeState.DRAINED),
        row("owner-back", 2, nights(), NodeState.SUSPENDED),
    ]
    week = ctx.week(rows)
    assert week.zone == "CET, UTC+01:00"
    assert (week.nodes, week.with_policy, week.slots) == (3, 2, 7)
    monday = dict(week.available.rows)["Mon"]
    assert monday[21].value == 7, "21:00 in Paris is 20:00 UTC: the night has begun"
    assert monday[20].value == 1, "20:00 in Paris is 19:00 UTC: only the node with no policy"
    assert monday[21].title == "Mon 21:00–22:00: 7.0 of 7 slots available"


def test_the_delivered_week_shows_the_slots_kept_busy_where_the_work_was_committed() -> None:
    now = [MONDAY + 20 * HOUR]
    ctx = context(now, "America/New_York")  # UTC-5 in December: 20:00 UTC is 15:00 there
    now[0] += 1800
    ctx.watch.delivered("node_a", items=90, seconds=3600.0)
    now[0] += 1800
    week = ctx.week([row("always", 4, [])])
    assert week.zone == "EST, UTC-05:00"
    cell = dict(week.delivered.rows)["Mon"][15]
    assert cell.value == pytest.approx(1.0), "an hour of work in the one hour watched"
    assert cell.title == "Mon 15:00–16:00: 1.0 slots busy on average, 90 items committed per hour"
    assert (cell.level, dict(week.available.rows)["Mon"][15].level) == (1, 4), "one scale"
