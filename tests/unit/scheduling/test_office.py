"""The office simulation: what an owner's policy lets a machine do when, the simulator freezing,
thawing and handing back batches as it says, and a small office's night accounted for."""

from __future__ import annotations

import math

import pytest

from witengine.scheduling.office import (
    HOUR,
    MINUTE,
    OfficeConfig,
    OfficeReport,
    OwnerRules,
    available_seconds,
    clock,
    draw,
    shifts,
    simulate_office,
)
from witengine.scheduling.simulator import Mode, Shift, Simulation, SimulationError, VirtualNode
from witengine.scheduling.strategy import Strategy

RULES = OwnerRules()  # idle 15 min before work, resume after 5 min, vacate after 10 min
NIGHT = [(3 * HOUR, 15 * HOUR)]  # 20:00 to 08:00


def told(found: tuple[Shift, ...]) -> list[tuple[float, str, float | None]]:
    return [(s.at / MINUTE, s.mode.value, s.window_end) for s in found]


@pytest.mark.parametrize(
    ("visits", "expected"),
    [
        pytest.param([], [(180, "run", 15 * HOUR), (900, "wait", None)], id="quiet night"),
        pytest.param(
            [(4 * HOUR, 2 * MINUTE)],  # 21:00, two minutes: resumed 5 minutes after
            [
                (180, "run", 15 * HOUR),
                (240, "suspend", None),
                (247, "run", 15 * HOUR),
                (900, "wait", None),
            ],
            id="a short visit suspends and resumes",
        ),
        pytest.param(
            [(4 * HOUR, 30 * MINUTE)],  # half an hour: vacated at 10, back 15 after the last input
            [
                (180, "run", 15 * HOUR),
                (240, "suspend", None),
                (250, "wait", None),
                (285, "run", 15 * HOUR),
                (900, "wait", None),
            ],
            id="a long visit vacates",
        ),
        pytest.param(
            [(2 * HOUR + 55 * MINUTE, 10 * MINUTE)],  # 19:55 to 20:05: works from 20:20
            [(200, "run", 15 * HOUR), (900, "wait", None)],
            id="input as the window opens delays the start",
        ),
        pytest.param(
            [(15 * HOUR - 3 * MINUTE, 2 * MINUTE)],  # the window closes while suspended
            [(180, "run", 15 * HOUR), (897, "suspend", None), (900, "wait", None)],
            id="the window closing vacates",
        ),
        pytest.param(
            [(4 * HOUR, 2 * MINUTE), (4 * HOUR + 4 * MINUTE, 2 * MINUTE)],  # twitching
            [
                (180, "run", 15 * HOUR),
                (240, "suspend", None),
                (250, "wait", None),
                (261, "run", 15 * HOUR),
                (900, "wait", None),
            ],
            id="input again before resuming counts from the last",
        ),
    ],
)
def test_a_machine_does_what_its_owner_policy_says(
    visits: list[tuple[float, float]], expected: list[tuple[float, str, float | None]]
) -> None:
    found = told(shifts(NIGHT, visits, RULES, horizon=24 * HOUR))
    assert [(round(at, 6), mode, end) for at, mode, end in found] == expected


def test_a_machine_without_hours_runs_from_the_start_with_no_window_end() -> None:
    found = shifts([(0.0, math.inf)], [(HOUR, MINUTE)], RULES, horizon=24 * HOUR)
    assert found[0] == Shift(0.0, Mode.RUN, None)
    assert [s.mode for s in found] == [Mode.RUN, Mode.SUSPEND, Mode.RUN]


def test_available_seconds_count_only_the_runs_and_stop_when_a_laptop_leaves() -> None:
    machine = VirtualNode(
        "node_a", 1.0, 1.0, shifts=shifts(NIGHT, [(4 * HOUR, 2 * MINUTE)], RULES, 24 * HOUR)
    )
    assert available_seconds(machine, 24 * HOUR) == pytest.approx((12 * 60 - 7) * MINUTE)
    assert available_seconds(machine, 4 * HOUR) == pytest.approx(HOUR)
    gone = VirtualNode("node_b", 1.0, 1.0, dies_at=5 * HOUR, shifts=machine.shifts)
    assert available_seconds(gone, 24 * HOUR) == pytest.approx(2 * HOUR - 7 * MINUTE)


def test_the_clock_reads_from_five_in_the_afternoon() -> None:
    assert clock(0.0) == "17:00"
    assert clock(14 * HOUR + 41 * MINUTE) == "07:41"
    assert clock(38 * HOUR) == "+1d 07:00"


def test_a_suspended_batch_resumes_where_it_stopped_and_a_vacated_one_goes_elsewhere() -> None:
    frozen = (Shift(0.0, Mode.RUN), Shift(5.0, Mode.SUSPEND), Shift(8.0, Mode.RUN))
    vacated = (Shift(0.0, Mode.RUN), Shift(5.5, Mode.SUSPEND), Shift(9.0, Mode.WAIT))
    nodes = [
        VirtualNode("node_frozen", 1.0, 1.0, shifts=frozen),
        VirtualNode("node_vacated", 1.0, 1.0, shifts=vacated),
    ]
    run = Simulation(nodes, [2.0] * 8, Strategy.QUEUED, latency=0.0, tick=0.5)
    makespan, tally, _ = run.execute()
    assert (tally.suspensions, tally.resumptions, tally.vacates) == (2, 1, 1)
    assert tally.thrown == pytest.approx(1.5)  # its third item had run 1.5 s of 2
    assert tally.handed_back == 1
    assert max(tally.runs) == 2  # the item handed back ran again, elsewhere
    # The frozen node's third item ran from 4 s, frozen from 5 s to 8 s: done at 9 s; then it
    # ran the item handed back and the last two.
    assert makespan == pytest.approx(15.0)


def figures(report: OfficeReport) -> dict[str, object]:
    """Everything but the measured CPU times."""
    return {k: v for k, v in report.to_json().items() if not k.startswith("decision")}


@pytest.fixture(scope="module")
def small_office() -> OfficeConfig:
    return OfficeConfig(machines=40, items=2_000, seed=3)


def test_a_small_office_loses_nothing_and_stays_under_its_availability(
    small_office: OfficeConfig,
) -> None:
    report = simulate_office(small_office)
    assert report.items_lost == 0
    assert 0.9 < report.efficiency <= 1.0
    assert report.suspensions > 0 and report.vacates > 0 and report.thrown_seconds > 0
    assert report.work == pytest.approx(report.efficiency * report.bound)
    assert figures(report) == figures(simulate_office(small_office))  # the seed decides all
    assert figures(report) != figures(
        simulate_office(OfficeConfig(machines=40, items=2_000, seed=4))
    )


def test_the_office_is_drawn_as_asked(small_office: OfficeConfig) -> None:
    machines, work = draw(small_office)
    without_hours = [m for m in machines if m.shifts[0].window_end is None]
    assert len(without_hours) == round(40 * small_office.lab_share)
    assert sum(m.dies_at is not None for m in machines) <= round(40 * small_office.laptop_share)
    assert max(m.rate for m in machines) / min(m.rate for m in machines) <= 4.0
    day = sum(m.rate * available_seconds(m, 24 * HOUR) for m in machines)
    assert sum(work) == pytest.approx(small_office.fill * day, rel=0.05)


def test_an_office_whose_scheduler_is_not_told_availability_throws_more_away() -> None:
    told = simulate_office(OfficeConfig(machines=60, items=3_000, seed=5))
    blind = simulate_office(OfficeConfig(machines=60, items=3_000, seed=5, aware=False))
    assert blind.items_lost == told.items_lost == 0
    assert blind.bound == pytest.approx(told.bound, rel=0.01)  # the same office
    assert blind.thrown_seconds > told.thrown_seconds
    assert blind.vacates > told.vacates


def test_a_job_not_done_within_the_days_drawn_says_so() -> None:
    config = OfficeConfig(machines=30, items=600, strategy=Strategy.BALANCED)
    with pytest.raises(SimulationError, match="not done within the 3 days"):
        simulate_office(config)
