"""Availability-aware planning: no batch past a node's window, a node whose owner came back
planned as slow until it proves otherwise, and the work a suspended node holds duplicated near
the end of a map. Time is the `now` each call passes (a fake clock: plain numbers)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from witengine.scheduling.core import Candidate, Grant, MapSchedule
from witengine.scheduling.planners.balanced import earliest_finish
from witengine.scheduling.scheduler import Scheduler
from witengine.scheduling.settings import SchedulerSettings
from witengine.scheduling.strategy import Strategy

ACTIVITY = "Compute.Work"
MINUTE = 60.0


def open_map(
    rates: dict[str, float],
    work: Sequence[float],
    strategy: Strategy,
    candidates: Sequence[Candidate] | None = None,
    now: float = 0.0,
    max_nodes: int | None = None,
    **knobs: float,
) -> tuple[MapSchedule, dict[str, Candidate]]:
    scheduler = Scheduler(SchedulerSettings(dispatch_overhead=0.0, **knobs))  # type: ignore[arg-type]
    for node_id, rate in rates.items():
        scheduler.rates.benchmark(node_id, ACTIVITY, rate)
    chosen = list(candidates) if candidates is not None else [Candidate(n) for n in rates]
    schedule = scheduler.schedule(
        "job_1", ACTIVITY, "compute", work, strategy, chosen, now=now, max_nodes=max_nodes
    )
    return schedule, {c.id: c for c in chosen}


def granted(schedule: MapSchedule, node: Candidate, now: float) -> Grant:
    grant = schedule.request(node, now)
    assert grant is not None
    return grant


def finish(schedule: MapSchedule, grant: Grant, now: float, seconds: float = 0.0) -> None:
    for index in grant.indices:
        schedule.result(grant.batch_id, index, ok=True, now=now, seconds=seconds)
    schedule.batch_ended(grant.batch_id, now)


# ------------------------------------------------------------------ windows


@pytest.mark.parametrize("strategy", [Strategy.ADAPTIVE, Strategy.BALANCED])
def test_a_node_with_twenty_minutes_left_gets_at_most_twenty_minutes_of_work(
    strategy: Strategy,
) -> None:
    now = 1000.0
    closing = Candidate("node_closing", window_end=now + 20 * MINUTE)
    schedule, _ = open_map(
        {"node_closing": 1.0, "node_open": 1.0},
        [1.0] * 10_000,
        strategy,
        [closing, Candidate("node_open")],
        now=now,
        max_lease=30_000.0,
    )
    grant = granted(schedule, closing, now)
    assert len(grant.indices) == 1200  # 20 minutes at 1 item per second
    assert now + grant.predicted_seconds <= closing.window_end  # type: ignore[operator]


@pytest.mark.parametrize("strategy", list(Strategy))
def test_a_node_gets_nothing_when_not_even_one_item_fits_before_its_window_closes(
    strategy: Strategy,
) -> None:
    closing = Candidate("node_closing", window_end=100.0)
    nodes = [closing, Candidate("node_open")]
    rates = {"node_closing": 1.0, "node_open": 1.0}
    schedule, _ = open_map(rates, [30.0] * 10, strategy, nodes, now=75.0)
    assert schedule.request(closing, 75.0) is None  # 25 s left, an item takes 30
    assert schedule.request(Candidate("node_open"), 75.0) is not None
    assert schedule.request(Candidate("node_closed", window_end=50.0), 75.0) is None


def test_a_node_whose_slots_are_all_busy_is_planned_after_the_batch_it_holds() -> None:
    closing = Candidate("node_closing", window_end=100.0)
    schedule, _ = open_map(
        {"node_closing": 1.0, "node_open": 1.0}, [1.0] * 1000, Strategy.ADAPTIVE, [closing]
    )
    first = granted(schedule, closing, 0.0)
    assert len(first.indices) == 100  # the whole window
    assert schedule.request(closing, 0.0) is None  # the next batch would start at 100 s
    for index in first.indices[:60]:
        schedule.result(first.batch_id, index, ok=True, now=60.0, seconds=1.0)
    assert schedule.request(closing, 60.0) is None  # still 40 s of its batch to run
    finish(schedule, first, 70.0, seconds=1.0)
    assert len(granted(schedule, closing, 70.0).indices) == 30


def test_queued_hands_out_the_next_item_only_when_it_fits() -> None:
    node = Candidate("node_a", window_end=10.0)
    schedule, _ = open_map({"node_a": 1.0}, [4.0, 4.0, 4.0], Strategy.QUEUED, [node])
    one = granted(schedule, node, 0.0)
    finish(schedule, one, 4.0)
    two = granted(schedule, node, 4.0)
    finish(schedule, two, 8.0)
    assert schedule.request(node, 8.0) is None  # 2 s left, the item needs 4
    assert schedule.request(Candidate("node_a", window_end=20.0), 8.0) is not None


def test_balanced_plans_what_does_not_fit_a_window_on_the_other_nodes() -> None:
    closing = Candidate("node_closing", window_end=30.0)
    schedule, nodes = open_map(
        {"node_closing": 1.0, "node_open": 1.0},
        [1.0] * 100,
        Strategy.BALANCED,
        [closing, Candidate("node_open")],
    )
    short = granted(schedule, closing, 0.0)
    long = granted(schedule, nodes["node_open"], 0.0)
    assert len(short.indices) == 30
    assert len(long.indices) == 70


def test_balanced_cuts_a_plan_made_before_the_window_moved_and_plans_the_rest_elsewhere() -> None:
    schedule, nodes = open_map(
        {"node_a": 1.0, "node_b": 1.0}, [1.0] * 100, Strategy.BALANCED, now=0.0
    )
    cut = granted(schedule, Candidate("node_a", window_end=20.0), 0.0)
    assert len(cut.indices) == 20
    rest = granted(schedule, nodes["node_b"], 0.0)
    assert len(rest.indices) == 80


def test_earliest_finish_leaves_over_what_fits_no_window() -> None:
    left_over: list[int] = []
    plans, makespan = earliest_finish(
        range(6), [2.0] * 6, {"a": 1.0, "b": 1.0}, until={"a": 4.0, "b": 2.0}, left_over=left_over
    )
    assert plans == {"a": [0, 2], "b": [1]}
    assert left_over == [3, 4, 5]
    assert makespan == 4.0


# --------------------------------------------------------------- suspensions


def test_a_node_whose_owner_came_back_is_planned_as_slow_until_it_proves_otherwise() -> None:
    back = Candidate("node_back", suspended_at=50.0)
    steady = Candidate("node_steady")
    schedule, _ = open_map(
        {"node_back": 10.0, "node_steady": 10.0},
        [1.0] * 100_000,
        Strategy.ADAPTIVE,
        [back, steady],
        now=100.0,
        suspended_discount=0.25,
        proof_seconds=60.0,
        max_lease=1e9,
    )
    doubted = granted(schedule, back, 100.0)
    trusted = granted(schedule, steady, 100.0)
    # Half the map shared by planning rate: 2.5 against 10 units/s.
    assert len(doubted.indices) == 10_000  # 100,000 / 2 x 2.5 / 12.5
    assert doubted.predicted_seconds == pytest.approx(4000.0)  # at a quarter of its rate
    assert len(trusted.indices) == 36_000  # 90,000 / 2 x 10 / 12.5
    # 50 s of results since its owner came back is not yet proof; 60 s is.
    for index in doubted.indices[:500]:
        schedule.result(doubted.batch_id, index, ok=True, now=150.0, seconds=0.1)
    again = granted(schedule, Candidate("node_back", suspended_at=50.0, window_end=None), 150.0)
    assert again.predicted_seconds == pytest.approx(len(again.indices) / 2.5)
    for index in doubted.indices[500:600]:
        schedule.result(doubted.batch_id, index, ok=True, now=160.0, seconds=0.1)
    proven = granted(schedule, back, 160.0)
    assert proven.predicted_seconds == pytest.approx(len(proven.indices) / 10.0)


def test_the_same_suspension_reported_again_does_not_start_the_probation_over() -> None:
    back = Candidate("node_back", suspended_at=5.0)
    schedule, nodes = open_map(
        {"node_back": 1.0}, [1.0] * 1000, Strategy.ADAPTIVE, [back], proof_seconds=2.0
    )
    first = granted(schedule, back, 10.0)
    assert first.predicted_seconds == pytest.approx(len(first.indices) / 0.25)
    finish(schedule, first, 20.0, seconds=1.0)
    schedule.candidates_changed([back], 21.0)
    second = granted(schedule, back, 21.0)
    assert second.predicted_seconds == pytest.approx(len(second.indices) / 1.0, rel=0.01)
    finish(schedule, second, 30.0, seconds=1.0)
    schedule.candidates_changed([Candidate("node_back", suspended_at=25.0)], 31.0)
    third = granted(schedule, nodes["node_back"], 31.0)
    assert third.predicted_seconds == pytest.approx(len(third.indices) / 0.25, rel=0.01)


# --------------------------------------------------------- the end of a map


def near_the_end(sleepy_present: bool | None) -> tuple[MapSchedule, Grant, Candidate]:
    """A fast node holds the last 10 items (due at 1.0 s); a slow one finished the rest by
    0.1 s. `sleepy_present`: False, the fast node's owner came back at 0.05 s (it left the
    candidates); None, it came back and resumed at 0.08 s; True, nothing happened."""
    sleepy, awake = Candidate("node_sleepy"), Candidate("node_awake")
    schedule, _ = open_map(
        {"node_sleepy": 10.0, "node_awake": 1.0},
        [1.0] * 22,
        Strategy.ADAPTIVE,
        [sleepy, awake],
        min_batch_overheads=0.0,
        duplicate_limit=1.0,
    )
    held = granted(schedule, sleepy, 0.0)
    assert len(held.indices) == 10 and held.predicted_seconds == pytest.approx(1.0)
    if sleepy_present is not True:
        schedule.candidates_changed([awake], 0.05)
    if sleepy_present is None:
        schedule.candidates_changed([sleepy, awake], 0.08)
    while schedule.snapshot().pending:
        finish(schedule, granted(schedule, awake, 0.1), 0.1)
    return schedule, held, awake


def test_near_the_end_work_held_by_a_suspended_node_is_duplicated_on_an_available_one() -> None:
    schedule, held, awake = near_the_end(sleepy_present=False)
    copy = granted(schedule, awake, 0.1)
    assert copy.duplicate
    assert copy.indices == held.indices[5:]  # the tail, shared out in pieces


def test_work_held_by_a_node_still_available_is_copied_only_where_it_ends_sooner() -> None:
    for present in (True, None):  # never suspended; suspended, then resumed
        schedule, _, awake = near_the_end(sleepy_present=present)
        assert schedule.request(awake, 0.1) is None  # the slow node would finish it later


def test_a_copy_may_take_items_heavier_than_the_count_of_copies_left() -> None:
    """The window's room is work; the budget of copies is a count of items: not one for other."""
    sleepy, awake = Candidate("node_sleepy"), Candidate("node_awake")
    schedule, _ = open_map(
        {"node_sleepy": 5.0, "node_awake": 10.0},
        [10.0] * 200,
        Strategy.ADAPTIVE,
        [sleepy, awake],
        min_batch_overheads=0.0,
        duplicate_limit=0.1,  # 20 copies
        max_lease=1e9,
    )
    held = granted(schedule, sleepy, 0.0)
    assert len(held.indices) == 33  # 2,000 / 2 x 5 / 15, in items of 10: due at 66 s
    while schedule.snapshot().pending:
        finish(schedule, granted(schedule, awake, 0.0), 0.0)
    copy = granted(schedule, awake, 1.0)  # its share would be 21 items: the budget is 20
    assert copy.duplicate and copy.indices == held.indices[-20:]


@pytest.mark.parametrize("strategy", list(Strategy))
def test_with_max_nodes_a_node_whose_window_has_closed_gives_way(strategy: Strategy) -> None:
    closed = Candidate("node_closed", window_end=5.0)
    schedule, nodes = open_map(
        {"node_closed": 10.0, "node_open": 1.0},
        [1.0] * 10,
        strategy,
        [closed, Candidate("node_open")],
        now=10.0,
        max_nodes=1,
    )
    assert schedule.request(closed, 10.0) is None
    assert granted(schedule, nodes["node_open"], 10.0).indices


def test_earliest_finish_within_windows_still_keeps_a_failed_item_off_the_node_it_failed_on() -> (
    None
):
    avoid = {0: {"a"}, 1: {"a", "b"}}
    plans, _ = earliest_finish(
        range(3), [1.0] * 3, {"a": 2.0, "b": 1.0}, until={"a": 10.0, "b": 1.0}, avoid=avoid
    )
    assert plans == {"a": [1, 2], "b": [0]}  # 1 failed on both: the one with room takes it
