"""The hub SIGKILLed and restarted, twice in one job: nothing committed runs again, every item
is committed once, and every job it acknowledged is still there. Real processes on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from faultcheck import (
    LEDGER,
    CommitWatch,
    assert_committed_once,
    assert_no_acknowledged_job_lost,
    read_tasks,
    start_nodes,
)

from witengine.testing.processes import Farm, ledger_counts, progress, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def committed_items(db: Path, job_id: str) -> set[int]:
    """The items of the job's map the hub has committed."""
    stored = read_tasks(db, job_id)
    return {index for index, (state, _) in stored[1][1].items() if state == "done"}


def test_a_hub_killed_twice_mid_job_resumes_it_and_loses_no_acknowledged_job(
    farm: Farm, tmp_path: Path, reference: Callable[[int], list[int]]
) -> None:
    start_nodes(farm, "a", "b", "c")
    db = tmp_path / "hub" / "hub.sqlite3"
    n, ledger = 900, tmp_path / "ledger.txt"
    job_id = farm.submit(LEDGER, {"n": str(n), "ledger": str(ledger), "ms": "20"})
    committed_before: list[set[int]] = []
    executions_before: list[int] = []
    with CommitWatch(db, job_id) as watch:
        for crash, at in enumerate((150, 450)):
            wait_until(lambda at=at: progress(farm, job_id) >= at, 120, f"{at} items done")
            # A job acknowledged a moment before the crash must be there after it.
            small = tmp_path / f"small-{crash}.txt"
            farm.submit(LEDGER, {"n": "40", "ledger": str(small), "ms": "5"})
            farm.kill_hub()
            committed_before.append(committed_items(db, job_id))
            executions_before.append(len(ledger.read_text().splitlines()))
            farm.start_hub()
        job = farm.wait_done(job_id, 180)
    assert job["status"] == "completed", job["error"]
    assert job["variables"]["doubled"] == reference(n)
    assert_committed_once(farm, job_id, reference(n), watch)
    lines = ledger.read_text().splitlines()
    for committed, executed in zip(committed_before, executions_before, strict=True):
        assert committed, "some items were committed before the hub was killed"
        later = {int(line.split()[0]) for line in lines[executed:]}
        assert not committed & later, "an item committed before a crash ran again"
    assert sorted(ledger_counts(ledger)) == list(range(n))
    finals = assert_no_acknowledged_job_lost(farm)
    assert len(finals) == 3
    for other_id, other in finals.items():
        assert other["status"] == "completed", (other_id, other["error"])
        if other_id != job_id:
            assert other["variables"]["doubled"] == reference(40)
