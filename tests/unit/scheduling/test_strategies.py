"""Each strategy's sizing and the ledger they share: leases, failures, blocklists, duplicates."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from witengine.runtime.values import ProcessingOptions
from witengine.scheduling.core import Candidate, MapSchedule, Verdict
from witengine.scheduling.ledger import Ledger
from witengine.scheduling.planners.balanced import earliest_finish, trimmed
from witengine.scheduling.scheduler import Scheduler
from witengine.scheduling.settings import SchedulerSettings
from witengine.scheduling.strategy import Strategy

ACTIVITY = "Compute.Work"


def scheduler_with(
    rates: dict[str, float | None], **knobs: float
) -> tuple[Scheduler, list[Candidate]]:
    """A scheduler whose nodes have these benchmarks (None: no benchmark)."""
    scheduler = Scheduler(SchedulerSettings(**knobs))  # type: ignore[arg-type]
    for node_id, rate in rates.items():
        if rate is not None:
            scheduler.rates.benchmark(node_id, ACTIVITY, rate)
    return scheduler, [Candidate(node_id) for node_id in rates]


def open_map(
    scheduler: Scheduler,
    candidates: Sequence[Candidate],
    work: Sequence[float],
    strategy: Strategy,
    max_nodes: int | None = None,
) -> MapSchedule:
    return scheduler.schedule(
        "job_1", ACTIVITY, "compute", work, strategy, candidates, now=0.0, max_nodes=max_nodes
    )


def finish(schedule: MapSchedule, batch_id: str, indices: Sequence[int], now: float) -> None:
    for index in indices:
        schedule.result(batch_id, index, ok=True, now=now, seconds=0.0)
    schedule.batch_ended(batch_id, now)


def test_a_script_names_the_scheduler_strategy_itself() -> None:
    assert ProcessingOptions().strategy is Strategy.ADAPTIVE
    assert ProcessingOptions.make(" balanced ").strategy is Strategy.BALANCED


# ------------------------------------------------------------------------ Adaptive


def test_adaptive_gives_half_the_work_shared_by_rate() -> None:
    scheduler, candidates = scheduler_with({"node_fast": 30.0, "node_slow": 10.0})
    schedule = open_map(scheduler, candidates, [1.0] * 4000, Strategy.ADAPTIVE)
    fast = schedule.request(candidates[0], 0.0)
    assert fast is not None
    assert len(fast.indices) == 1500  # 4000 / 2 x 30 / 40
    slow = schedule.request(candidates[1], 0.0)
    assert slow is not None
    assert len(slow.indices) == 312  # (2500 / 2) x 10 / 40, rounded down
    assert fast.predicted_seconds == pytest.approx(50.0)


def test_adaptive_batches_are_at_least_fifty_dispatch_overheads() -> None:
    scheduler, candidates = scheduler_with(
        {"node_a": 100.0, "node_b": 100.0}, dispatch_overhead=0.01
    )
    schedule = open_map(scheduler, candidates, [1.0] * 60, Strategy.ADAPTIVE)
    sizes = []
    while (grant := schedule.request(candidates[0], 0.0)) is not None:
        sizes.append(len(grant.indices))
    assert sizes[:-1] == [50] * (len(sizes) - 1)  # 50 x 0.01 s x 100 units/s
    assert sum(sizes) == 60


def test_adaptive_batches_fit_the_longest_lease() -> None:
    scheduler, candidates = scheduler_with({"node_a": 1.0}, max_lease=300.0, lease_factor=3.0)
    schedule = open_map(scheduler, candidates, [1.0] * 10_000, Strategy.ADAPTIVE)
    grant = schedule.request(candidates[0], 0.0)
    assert grant is not None
    assert len(grant.indices) == 100  # 300 s / 3 at 1 unit/s
    assert grant.lease_seconds == pytest.approx(300.0, rel=0.01)


def test_adaptive_sends_the_largest_items_first() -> None:
    scheduler, candidates = scheduler_with({"node_a": 1.0})
    schedule = open_map(scheduler, candidates, [1.0, 5.0, 2.0, 5.0, 0.5], Strategy.ADAPTIVE)
    order: list[int] = []
    while (grant := schedule.request(candidates[0], 0.0)) is not None:
        order.extend(grant.indices)
    assert order == [1, 3, 2, 0, 4]


def test_adaptive_sizes_by_measured_rate_once_results_arrive() -> None:
    scheduler, candidates = scheduler_with({"node_a": 10.0, "node_b": 10.0})
    schedule = open_map(scheduler, candidates, [1.0] * 10_000, Strategy.ADAPTIVE)
    first = schedule.request(candidates[0], 0.0)
    assert first is not None
    for index in first.indices[:20]:  # node_a really does 40 units/s
        schedule.result(first.batch_id, index, ok=True, now=1.0, seconds=0.025)
    second = schedule.request(candidates[1], 1.0)
    assert second is not None
    pending = 10_000 - len(first.indices)
    assert len(second.indices) == pytest.approx(pending / 2 * 10 / 50, abs=1)


def test_adaptive_plans_a_node_without_a_rate_at_the_first_rate_measured() -> None:
    # Two nodes without benchmarks (the embedded scheduler's): both are guessed at 1 unit/s, then
    # node_a's first result says 470,000 units/s. node_b, still unmeasured, must count at that
    # rate too, or node_a takes half the map as if it were alone (a render went 21 frames to
    # one node and 1 at a time to the other).
    scheduler, candidates = scheduler_with({"node_a": None, "node_b": None})
    schedule = open_map(scheduler, candidates, [921_600.0] * 48, Strategy.ADAPTIVE)
    a = schedule.request(candidates[0], 0.0)
    b = schedule.request(candidates[1], 0.0)
    assert a is not None and b is not None and len(a.indices) == len(b.indices) == 1
    schedule.result(a.batch_id, a.indices[0], ok=True, now=1.96, seconds=1.96)
    schedule.batch_ended(a.batch_id, 1.96)
    again = schedule.request(candidates[0], 1.96)
    assert again is not None
    pending = 48 - 2
    assert len(again.indices) == pytest.approx(pending / 2 / 2, abs=1)  # its half of half


def test_adaptive_plans_nodes_without_a_rate_at_the_slowest_rate_measured_so_far() -> None:
    scheduler, candidates = scheduler_with({"node_a": None, "node_b": None, "node_c": None})
    schedule = open_map(scheduler, candidates, [1.0] * 12_000, Strategy.ADAPTIVE)
    a, b, c = (schedule.request(worker, 0.0) for worker in candidates)
    assert a is not None and b is not None and c is not None
    schedule.result(a.batch_id, a.indices[0], ok=True, now=0.01, seconds=0.01)  # 100 units/s
    schedule.result(b.batch_id, b.indices[0], ok=True, now=0.1, seconds=0.1)  # 10 units/s
    more = schedule.request(candidates[2], 0.1)
    assert more is not None
    pending = 12_000 - len(a.indices) - len(b.indices) - len(c.indices)
    # node_c counts at 10 units/s, the slowest measured, not at node_a's 100
    assert len(more.indices) == pytest.approx(pending / 2 * 10 / (100 + 10 + 10), abs=1)


def test_a_new_guess_moves_the_predicted_end_of_a_batch_on_a_node_without_a_rate() -> None:
    scheduler, candidates = scheduler_with({"node_a": None, "node_b": None, "node_c": 5.0})
    schedule = open_map(scheduler, candidates, [1.0] * 600, Strategy.ADAPTIVE)
    assert isinstance(schedule, Ledger)
    a, b, _ = (schedule.request(worker, 0.0) for worker in candidates)
    assert a is not None and b is not None
    before = schedule._latest(0.0, skip="")  # node_a planned at the guess, node_c's 5 units/s
    assert before is not None and before.item.node_id == "node_a"
    assert before.end == pytest.approx(len(a.indices) / 5.0)
    schedule.result(b.batch_id, b.indices[0], ok=True, now=1.0, seconds=1.0)  # 1 unit/s
    after = schedule._latest(1.0, skip="node_b")
    assert after is not None and after.item.node_id == "node_a"
    assert after.end == pytest.approx(len(a.indices) / 1.0)  # node_a follows the new guess


def test_adaptive_duplicates_the_tail_of_the_last_batch_for_an_idle_fast_node() -> None:
    scheduler, candidates = scheduler_with({"node_fast": 10.0, "node_slow": 1.0})
    fast, slow = candidates
    schedule = open_map(scheduler, candidates, [1.0] * 200, Strategy.ADAPTIVE)
    slow_grant = schedule.request(slow, 0.0)
    fast_grant = schedule.request(fast, 0.0)
    assert slow_grant is not None and fast_grant is not None
    assert len(slow_grant.indices) == 9  # 200 / 2 x 1 / 11
    while fast_grant is not None and not fast_grant.duplicate:
        finish(schedule, fast_grant.batch_id, fast_grant.indices, 0.1)
        fast_grant = schedule.request(fast, 0.1)
    assert fast_grant is not None and fast_grant.duplicate
    tail = slow_grant.indices[-len(fast_grant.indices) :]
    assert fast_grant.indices == tail  # the items the slow node would run last
    # Both copies predicted to end together: the slow node keeps the head.
    head_seconds = (len(slow_grant.indices) - len(tail)) / 1.0
    assert fast_grant.predicted_seconds <= head_seconds
    outcomes = [
        schedule.result(fast_grant.batch_id, i, ok=True, now=0.5, seconds=0.1) for i in tail
    ]
    assert all(o.verdict is Verdict.COMMIT for o in outcomes)
    for index in slow_grant.indices[: -len(tail)]:
        outcome = schedule.result(slow_grant.batch_id, index, ok=True, now=2.0, seconds=1.0)
        assert outcome.verdict is Verdict.COMMIT
    assert outcome.cancel == (slow_grant.batch_id,)  # nothing it still runs is needed
    assert schedule.done
    late = schedule.result(slow_grant.batch_id, tail[0], ok=True, now=3.0, seconds=1.0)
    assert late.verdict is Verdict.IGNORE


def test_the_first_copy_to_finish_wins_and_the_other_is_cancelled() -> None:
    scheduler, candidates = scheduler_with(
        {"node_fast": 10.0, "node_slow": 1.0}, min_batch_overheads=2000
    )
    fast, slow = candidates
    schedule = open_map(scheduler, candidates, [1.0] * 3, Strategy.ADAPTIVE)
    slow_grant = schedule.request(slow, 0.0)
    assert slow_grant is not None and len(slow_grant.indices) == 3
    copy = schedule.request(fast, 0.0)
    assert copy is not None and copy.duplicate
    assert copy.indices == (2,)  # slow node: 3 s for all; the copy takes the last
    won = schedule.result(slow_grant.batch_id, 2, ok=True, now=0.1, seconds=0.1)
    assert won.verdict is Verdict.COMMIT
    assert won.cancel == (copy.batch_id,)
    lost = schedule.result(copy.batch_id, 2, ok=True, now=0.2, seconds=0.1)
    assert lost.verdict is Verdict.IGNORE
    assert schedule.snapshot().out == {slow_grant.batch_id: frozenset({0, 1})}


def test_duplicates_stay_within_the_limit() -> None:
    scheduler, candidates = scheduler_with(
        {"node_slow": 1.0, **{f"node_{k}": 50.0 for k in range(5)}}
    )
    schedule = open_map(scheduler, candidates, [1.0] * 10, Strategy.ADAPTIVE)
    slow = schedule.request(candidates[0], 0.0)
    assert slow is not None
    for worker in candidates[1:]:
        schedule.request(worker, 0.0)
    snapshot = schedule.snapshot()
    assert snapshot.duplicate_budget == 1  # 10 % of 10 items
    assert snapshot.duplicates_granted <= 1


def test_a_stalled_batch_is_shared_out_to_idle_nodes() -> None:
    scheduler, candidates = scheduler_with({"node_dead": 10.0, "node_a": 10.0, "node_b": 10.0})
    dead, a, b = candidates
    schedule = open_map(scheduler, candidates, [1.0] * 400, Strategy.ADAPTIVE)
    held = schedule.request(dead, 0.0)
    assert held is not None and len(held.indices) == 66
    while schedule.snapshot().pending:
        grant = schedule.request(a, 0.0)
        assert grant is not None
        finish(schedule, grant.batch_id, grant.indices, 0.0)
    # node_dead never reports: long past three items' time, its work goes out in pieces
    # (half of it shared by rate: 66 / 2 x 10 / 30), though it should still be running.
    copy = schedule.request(b, 5.0)
    assert copy is not None and copy.duplicate
    assert len(copy.indices) == 11
    assert set(copy.indices) <= set(held.indices)


# ------------------------------------------------------------------------ Balanced


def test_balanced_plans_one_batch_per_node_in_proportion_to_speed() -> None:
    scheduler, candidates = scheduler_with({"node_a": 3.0, "node_b": 1.0})
    schedule = open_map(scheduler, candidates, [1.0] * 40, Strategy.BALANCED)
    a = schedule.request(candidates[0], 0.0)
    b = schedule.request(candidates[1], 0.0)
    assert a is not None and b is not None
    assert (len(a.indices), len(b.indices)) == (30, 10)
    assert schedule.request(candidates[0], 0.0) is None  # one batch per node


def test_balanced_trims_nodes_that_shorten_the_plan_by_less_than_two_percent() -> None:
    rates = {"node_a": 100.0, "node_b": 100.0, "node_crawl": 1.0}
    scheduler, candidates = scheduler_with(rates)  # type: ignore[arg-type]
    schedule = open_map(scheduler, candidates, [1.0] * 200, Strategy.BALANCED)
    assert schedule.request(candidates[2], 0.0) is None
    grants = [schedule.request(w, 0.0) for w in candidates[:2]]
    assert sum(len(g.indices) for g in grants if g is not None) == 200


def test_balanced_plans_a_node_without_a_benchmark_at_the_slowest_rate() -> None:
    scheduler, candidates = scheduler_with({"node_a": 4.0, "node_b": 2.0, "node_new": None})
    schedule = open_map(scheduler, candidates, [1.0] * 80, Strategy.BALANCED)
    sizes = {w.id: len(g.indices) for w in candidates if (g := schedule.request(w, 0.0))}
    assert sizes == {"node_a": 40, "node_b": 20, "node_new": 20}


def test_balanced_replans_a_lost_nodes_unfinished_items_on_the_rest() -> None:
    scheduler, candidates = scheduler_with({"node_a": 1.0, "node_b": 1.0, "node_c": 2.0})
    schedule = open_map(scheduler, candidates, [1.0] * 40, Strategy.BALANCED)
    grants = {w.id: schedule.request(w, 0.0) for w in candidates}
    lost = grants["node_c"]
    assert lost is not None and len(lost.indices) == 20
    for index in lost.indices[:4]:
        schedule.result(lost.batch_id, index, ok=True, now=2.0, seconds=0.5)
    assert schedule.node_lost("node_c", 2.0) == [lost.batch_id]
    replanned: list[int] = []
    for worker in candidates[:2]:
        grant = grants[worker.id]
        assert grant is not None
        finish(schedule, grant.batch_id, grant.indices, 10.0)
        again = schedule.request(worker, 10.0)
        assert again is not None
        replanned.extend(again.indices)
    assert sorted(replanned) == sorted(lost.indices[4:])


def test_earliest_finish_is_exact_for_equal_items() -> None:
    plans, makespan = earliest_finish(range(7), [1.0] * 7, {"a": 2.0, "b": 1.0})
    assert sorted(len(p) for p in plans.values()) == [2, 5]
    assert makespan == pytest.approx(2.5)


def test_trimming_keeps_every_node_that_matters() -> None:
    work = [1.0] * 100
    speeds = {"a": 1.0, "b": 1.0, "c": 1.0}
    assert set(trimmed(range(100), work, speeds)) == {"a", "b", "c"}


# -------------------------------------------------------------------------- Queued


def test_queued_hands_out_one_item_per_request_in_order() -> None:
    scheduler, candidates = scheduler_with({"node_a": 1.0, "node_b": 100.0})
    schedule = open_map(scheduler, candidates, [1.0] * 3, Strategy.QUEUED)
    grants = [schedule.request(candidates[k % 2], 0.0) for k in range(4)]
    assert [g.indices if g else None for g in grants] == [(0,), (1,), (2,), None]


def test_a_failed_item_goes_to_another_node_first() -> None:
    scheduler, candidates = scheduler_with({"node_a": 1.0, "node_b": 1.0})
    schedule = open_map(scheduler, candidates, [1.0] * 5, Strategy.QUEUED)
    first = schedule.request(candidates[0], 0.0)
    assert first is not None
    outcome = schedule.result(first.batch_id, 0, ok=False, now=1.0, error="boom")
    assert outcome.verdict is Verdict.RETRY
    schedule.batch_ended(first.batch_id, 1.0)
    again = schedule.request(candidates[0], 1.0)
    other = schedule.request(candidates[1], 1.0)
    assert again is not None and other is not None
    assert again.indices == (1,) and other.indices == (0,)


# ------------------------------------------------------------ the shared ledger


@pytest.mark.parametrize("strategy", list(Strategy))
def test_a_lease_comes_from_the_predicted_time_and_heartbeats_extend_it(
    strategy: Strategy,
) -> None:
    scheduler, candidates = scheduler_with({"node_a": 0.01}, min_lease=5.0, lease_factor=3.0)
    schedule = open_map(scheduler, candidates, [1.0], strategy)
    grant = schedule.request(candidates[0], 0.0)
    assert grant is not None
    assert grant.lease_seconds == pytest.approx(300.0, rel=0.01)  # 100 s predicted, x3
    schedule.heartbeat(grant.batch_id, 250.0)
    assert schedule.expire(320.0) == []
    assert schedule.expire(551.0) == [grant.batch_id]
    again = schedule.request(candidates[0], 551.0)
    assert again is not None and again.indices == (0,)
    late = schedule.result(grant.batch_id, 0, ok=True, now=552.0)
    assert late.verdict is Verdict.IGNORE


@pytest.mark.parametrize("strategy", list(Strategy))
def test_an_item_failing_on_three_nodes_fails_the_map(strategy: Strategy) -> None:
    scheduler, candidates = scheduler_with({f"node_{k}": 1.0 for k in range(4)})
    schedule = open_map(scheduler, candidates, [1.0], strategy)
    verdicts = []
    for worker in candidates[:3]:
        grant = schedule.request(worker, 0.0)
        assert grant is not None and grant.indices == (0,)
        outcome = schedule.result(grant.batch_id, 0, ok=False, now=0.0, error="no GPU")
        verdicts.append(outcome.verdict)
        schedule.batch_ended(grant.batch_id, 0.0)
    assert verdicts == [Verdict.RETRY, Verdict.RETRY, Verdict.FAIL]
    assert schedule.failure == (0, "no GPU")
    assert schedule.request(candidates[3], 0.0) is None


@pytest.mark.parametrize("strategy", list(Strategy))
def test_a_final_failure_fails_the_map_at_once_and_blames_no_node(strategy: Strategy) -> None:
    """The hub had no room for the item's file: no other try, and no node is blocked."""
    scheduler, candidates = scheduler_with({"node_a": 1.0, "node_b": 1.0})
    schedule = open_map(scheduler, candidates, [1.0] * 4, strategy)
    grant = schedule.request(candidates[0], 0.0)
    assert grant is not None
    full = "cannot upload its output file: the hub's blob store is full"
    outcome = schedule.result(
        grant.batch_id, grant.indices[0], ok=False, now=0.0, error=full, final=True
    )
    assert outcome.verdict is Verdict.FAIL
    assert schedule.failure == (grant.indices[0], full)
    assert scheduler.blocklist.of_node("node_a") == []


@pytest.mark.parametrize("strategy", list(Strategy))
def test_an_item_that_fails_on_the_only_node_fails_the_map_after_three_tries(
    strategy: Strategy,
) -> None:
    scheduler, candidates = scheduler_with({"node_a": 1.0})
    schedule = open_map(scheduler, candidates, [1.0], strategy)
    for attempt in range(3):
        grant = schedule.request(candidates[0], float(attempt))
        assert grant is not None and 0 in grant.indices
        outcome = schedule.result(grant.batch_id, 0, ok=False, now=float(attempt), error="bad")
        schedule.batch_ended(grant.batch_id, float(attempt))
    assert outcome.verdict is Verdict.FAIL
    assert schedule.failure == (0, "bad")


@pytest.mark.parametrize("strategy", list(Strategy))
def test_a_node_failing_three_times_in_a_job_gets_no_more_of_its_work(
    strategy: Strategy,
) -> None:
    scheduler, candidates = scheduler_with({"node_bad": 1.0, "node_good": 1.0})
    bad = candidates[0]
    schedule = open_map(scheduler, candidates, [1.0] * 6, Strategy.QUEUED)
    for _ in range(3):
        grant = schedule.request(bad, 0.0)
        assert grant is not None
        outcome = schedule.result(grant.batch_id, grant.indices[0], ok=False, now=0.0)
        schedule.batch_ended(grant.batch_id, 0.0)
    assert outcome.verdict is Verdict.RETRY
    assert schedule.request(bad, 1.0) is None
    assert scheduler.blocklist.blocked("job_1", "node_bad", "compute")
    assert scheduler.blocklist.of_node("node_bad") == [("job_1", "compute")]
    assert scheduler.blocklist.of_node("node_good") == []
    other_map = open_map(scheduler, candidates, [1.0] * 6, strategy)  # the same job: still blocked
    assert other_map.request(bad, 1.0) is None
    assert other_map.request(candidates[1], 1.0) is not None
    scheduler.job_ended("job_1")
    assert not scheduler.blocklist.blocked("job_1", "node_bad", "compute")
    assert scheduler.blocklist.of_node("node_bad") == []


def test_blocklisting_recalls_the_nodes_other_batches() -> None:
    scheduler, candidates = scheduler_with(
        {"node_bad": 1.0, "node_good": 1.0}, min_batch_overheads=0.0
    )
    schedule = open_map(scheduler, candidates, [1.0] * 40, Strategy.ADAPTIVE)
    first = schedule.request(candidates[0], 0.0)
    assert first is not None and len(first.indices) >= 3
    outcomes = [schedule.result(first.batch_id, i, ok=False, now=0.0) for i in first.indices[:3]]
    assert outcomes[-1].cancel == (first.batch_id,)
    snapshot = schedule.snapshot()
    assert not snapshot.out
    assert len(snapshot.pending) == 40


@pytest.mark.parametrize("strategy", list(Strategy))
def test_max_nodes_uses_only_the_fastest(strategy: Strategy) -> None:
    scheduler, candidates = scheduler_with({"node_a": 1.0, "node_b": 5.0, "node_c": 3.0})
    schedule = open_map(scheduler, candidates, [1.0] * 30, strategy, max_nodes=2)
    assert schedule.request(candidates[0], 0.0) is None
    assert schedule.request(candidates[1], 0.0) is not None


@pytest.mark.parametrize("strategy", list(Strategy))
def test_a_drained_node_keeps_its_batches_and_gets_no_more(strategy: Strategy) -> None:
    scheduler, candidates = scheduler_with({"node_a": 1.0, "node_b": 1.0})
    schedule = open_map(scheduler, candidates, [1.0] * 10, strategy)
    grant = schedule.request(candidates[0], 0.0)
    assert grant is not None
    assert schedule.cancel_node("node_a") == [grant.batch_id]
    assert schedule.request(candidates[0], 0.0) is None
    finish(schedule, grant.batch_id, grant.indices, 1.0)
    assert schedule.snapshot().committed == frozenset(grant.indices)


@pytest.mark.parametrize("strategy", list(Strategy))
def test_remaining_seconds_counts_down_to_zero(strategy: Strategy) -> None:
    scheduler, candidates = scheduler_with({"node_a": 2.0})
    schedule = open_map(scheduler, candidates, [1.0] * 10, strategy)
    before = schedule.remaining_seconds(0.0)
    assert before == pytest.approx(5.0)
    while (grant := schedule.request(candidates[0], 0.0)) is not None:
        finish(schedule, grant.batch_id, grant.indices, 0.0)
    assert schedule.remaining_seconds(0.0) == 0.0


def test_an_empty_map_is_done_at_once() -> None:
    scheduler, candidates = scheduler_with({"node_a": 1.0})
    for strategy in Strategy:
        schedule = open_map(scheduler, candidates, [], strategy)
        assert schedule.done
        assert schedule.request(candidates[0], 0.0) is None


@pytest.mark.parametrize("strategy", list(Strategy))
def test_with_max_nodes_the_next_fastest_takes_a_lost_nodes_place(strategy: Strategy) -> None:
    scheduler, candidates = scheduler_with({"node_a": 1.0, "node_b": 5.0, "node_c": 3.0})
    schedule = open_map(scheduler, candidates, [1.0] * 30, strategy, max_nodes=1)
    assert schedule.request(candidates[2], 0.0) is None
    grant = schedule.request(candidates[1], 0.0)
    assert grant is not None
    schedule.node_lost("node_b", 1.0)
    again = schedule.request(candidates[2], 1.0)
    assert again is not None and set(grant.indices) <= set(again.indices) | set(
        schedule.snapshot().pending
    )
