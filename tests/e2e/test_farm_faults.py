"""The farm survives dying nodes, frozen nodes and a dying hub, with every result right and
committed once. Real hub and node processes on 127.0.0.1; every wait has a deadline."""

from __future__ import annotations

import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from witengine.testing.processes import Farm, free_port, ledger_counts, progress, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

SCRIPT = """\
Job:Ledger(Int:n, String:ledger, Int:ms = 10)
{
    IntCollection:doubled = Grid.ForEach(i in Int.Range(0, n)) => Testing.Record(i, ledger, ms);
}
"""


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[Farm]:
    farm = Farm(tmp_path, free_port())
    farm.start_hub()
    try:
        yield farm
    finally:
        farm.stop()


def start_nodes(farm: Farm, *names: str) -> None:
    for name in names:
        farm.start_node(name)
    wait_until(lambda: farm.online() == sorted(names), 60, f"nodes {names} to connect")


def test_a_node_killed_mid_job_loses_no_item(farm: Farm, tmp_path: Path) -> None:
    start_nodes(farm, "a", "b", "c")
    ledger = tmp_path / "ledger.txt"
    job_id = farm.submit(SCRIPT, {"n": "500", "ledger": str(ledger), "ms": "15"})
    wait_until(lambda: progress(farm, job_id) >= 100, 120, "100 items done")
    farm.signal_node("b", signal.SIGKILL)
    job = farm.wait_done(job_id, 180)
    assert job["status"] == "completed", job["error"]
    assert job["variables"]["doubled"] == [2 * i for i in range(500)]
    counts = ledger_counts(ledger)
    assert sorted(counts) == list(range(500))
    rerun = [item for item, times in counts.items() if times > 1]
    assert len(rerun) < 250, "only the killed node's unfinished items may run twice"


def test_a_node_frozen_past_its_lease_has_its_late_results_ignored(
    farm: Farm, tmp_path: Path
) -> None:
    start_nodes(farm, "a", "b", "c")
    ledger = tmp_path / "ledger.txt"
    job_id = farm.submit(SCRIPT, {"n": "300", "ledger": str(ledger), "ms": "30"})
    wait_until(lambda: progress(farm, job_id) >= 30, 120, "30 items done")
    farm.signal_node("a", signal.SIGSTOP)
    wait_until(lambda: "lease" in farm.log() and "expired" in farm.log(), 60, "a lease to expire")
    # The frozen node's runner went on working; once another node has run one of the same
    # items again, the frozen node's result for it belongs to a fenced-off attempt.
    wait_until(lambda: max(ledger_counts(ledger).values()) > 1, 60, "an item taken over")
    farm.signal_node("a", signal.SIGCONT)
    job = farm.wait_done(job_id, 180)
    assert job["status"] == "completed", job["error"]
    assert job["variables"]["doubled"] == [2 * i for i in range(300)]
    wait_until(lambda: "late result" in farm.log(), 30, "the frozen node's late results")
    assert sorted(ledger_counts(ledger)) == list(range(300))


def test_a_hub_killed_mid_job_resumes_it_without_running_committed_items_again(
    farm: Farm, tmp_path: Path
) -> None:
    start_nodes(farm, "a", "b", "c")
    ledger = tmp_path / "ledger.txt"
    job_id = farm.submit(SCRIPT, {"n": "400", "ledger": str(ledger), "ms": "20"})
    wait_until(lambda: progress(farm, job_id) >= 120, 120, "120 items done")
    farm.kill_hub()
    with sqlite3.connect(tmp_path / "hub" / "hub.sqlite3") as db:
        committed = {row[0] for row in db.execute("SELECT idx FROM tasks WHERE state = 'done'")}
    executions_at_kill = len(ledger.read_text().splitlines())
    assert committed, "some items were committed before the hub was killed"
    farm.start_hub()
    job = farm.wait_done(job_id, 180)
    assert job["status"] == "completed", job["error"]
    assert job["variables"]["doubled"] == [2 * i for i in range(400)]
    later = [int(line.split()[0]) for line in ledger.read_text().splitlines()[executions_at_kill:]]
    assert not committed & set(later), "an item committed before the crash ran again"
    assert sorted(ledger_counts(ledger)) == list(range(400))
