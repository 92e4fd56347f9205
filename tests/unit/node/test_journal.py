"""A node's journal of its batches: bounded in batches and in log lines, counting what it left
out, and measuring items per second per slot from the items' own seconds."""

from __future__ import annotations

from witengine.node.journal import LINE_CHARS, LOG_LINES, RECENT, Journal, Outcome
from witengine.protocol import Assign, TaskResult, TaskSpec


def assign(batch_id: str, size: int = 2, activity: str = "Compute.Sleep") -> Assign:
    tasks = [TaskSpec("map_1", i, 1, [i]) for i in range(size)]
    return Assign(
        batch_id=batch_id, job_id="job_1", activity=activity, tasks=tasks, lease_seconds=30
    )


def test_it_keeps_the_last_batches_and_the_last_lines_of_each() -> None:
    journal = Journal()
    for number in range(RECENT + 5):
        journal.received(assign(f"batch_{number}"), float(number))
        journal.ended(f"batch_{number}", Outcome.DONE, float(number) + 1)
    assert len(journal.recent) == RECENT
    assert journal.recent[0].batch_id == "batch_5"
    journal.received(assign("long"), 100.0)
    for line in range(LOG_LINES + 30):
        journal.wrote("long", f"line {line}" + "x" * (LINE_CHARS if line == LOG_LINES + 29 else 0))
    entry = journal.current["long"]
    assert len(entry.log) == LOG_LINES and entry.left_out == 30
    assert entry.log[0] == "line 30"
    assert len(entry.log[-1]) == LINE_CHARS


def test_lines_and_results_of_a_batch_it_no_longer_holds_are_dropped() -> None:
    journal = Journal()
    journal.wrote("gone", "late line")
    journal.delivered("gone", [TaskResult("map_1", 0, 1, True)])
    journal.ended("gone", Outcome.CANCELLED, 1.0)
    assert not journal.current and not journal.recent


def test_it_measures_items_per_second_per_slot_by_activity() -> None:
    journal = Journal()
    journal.received(assign("a", 4), 0.0)
    journal.delivered("a", [TaskResult("map_1", i, 1, True, None, None, 0.5) for i in range(4)])
    journal.ended("a", Outcome.DONE, 2.0)
    journal.received(assign("b", 2, "Compute.Hash"), 0.0)
    journal.delivered("b", [TaskResult("map_1", 0, 1, False, None, "no", 1.0)])
    assert journal.rates() == {"Compute.Hash": 1.0, "Compute.Sleep": 2.0}
    assert journal.recent[0].done == 4 and journal.current["b"].failed == 1
