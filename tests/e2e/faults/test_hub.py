"""The hub SIGKILLed and restarted, twice in one job: nothing that had finished runs again (on
the hub's word or on the nodes'), every item is committed once, and every job it acknowledged is
still there. Real processes on 127.0.0.1, on both stores: SQLite in the hub's data folder, and
a database of the session's throw-away PostgreSQL server (`wit hub --store postgresql://…`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from faultcheck import (
    LEDGER,
    CommitWatch,
    Store,
    assert_committed_once,
    assert_no_acknowledged_job_lost,
    reading,
    start_nodes,
)

from witengine.testing.processes import (
    ProcessFarm,
    free_port,
    ledger_counts,
    ledger_items,
    progress,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def committed_attempts(db: Store, job_id: str) -> dict[int, int]:
    """The items of the job's map the hub has committed, with the attempt each was given out
    under: giving an item out again (anywhere, as anything but a copy of a batch already out)
    raises its attempt."""
    with reading(db) as query:
        rows = query(
            "SELECT idx, attempt FROM results WHERE error IS NULL AND map_id IN "
            "(SELECT id FROM maps WHERE job_id = ?)",
            (job_id,),
        )
    return dict(rows)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """Where the hub keeps its state: its SQLite file, or a PostgreSQL database's URL."""
    if request.param == "sqlite":
        return tmp_path / "hub" / "hub.sqlite3"
    url: str = request.getfixturevalue("postgres_url")
    return url


def test_a_hub_killed_twice_mid_job_resumes_it_and_loses_no_acknowledged_job(
    tmp_path: Path, reference: Callable[[int], list[int]], store: Store
) -> None:
    # The nodes go on working while the hub is down and keep their results; the restarted hub
    # waits up to its grace (5 s, the default) for them to come back (within 1.2 s: their
    # back-off is at most 1 s) with what they kept.
    on = () if isinstance(store, Path) else ("--store", store)
    farm = ProcessFarm(tmp_path, free_port(), hub_args=("--lease", "3", "--heartbeat", "0.5", *on))
    farm.start_hub()
    try:
        run_with_two_hub_crashes(farm, tmp_path, reference, store)
    finally:
        farm.stop()


def run_with_two_hub_crashes(
    farm: ProcessFarm, tmp_path: Path, reference: Callable[[int], list[int]], db: Store
) -> None:
    start_nodes(farm, "a", "b", "c")
    n, ledger = 900, tmp_path / "ledger.txt"
    done = Path(f"{ledger}.done")
    job_id = farm.submit(LEDGER, {"n": str(n), "ledger": str(ledger), "ms": "20"})
    committed_before: list[dict[int, int]] = []
    # At each restart: the items whose execution had finished, and how many had started.
    finished_before: list[tuple[set[int], int]] = []
    with CommitWatch(db, job_id) as watch:
        for crash, at in enumerate((150, 450)):
            wait_until(lambda at=at: progress(farm, job_id) >= at, 120, f"{at} items done")
            # A job acknowledged a moment before the crash must be there after it.
            small = tmp_path / f"small-{crash}.txt"
            farm.submit(LEDGER, {"n": "40", "ledger": str(small), "ms": "5"})
            farm.kill_hub()
            committed = committed_attempts(db, job_id)
            committed_before.append(committed)
            # The nodes work on while the hub is down: one finishes an item it cannot deliver.
            wait_until(
                lambda c=committed: len(set(ledger_items(done))) > len(c),
                10,
                "a node to finish an item while the hub is down",
            )
            finished_before.append((set(ledger_items(done)), len(ledger_items(ledger))))
            farm.start_hub()
        job = farm.wait_done(job_id, 180)
    assert job["status"] == "completed", job["error"]
    assert job["variables"]["doubled"] == reference(n)
    assert_committed_once(farm, job_id, reference(n), watch)
    # The restarted hub gives no committed item out again,
    at_end = committed_attempts(db, job_id)
    for crash, committed in enumerate(committed_before, start=1):
        assert committed, "some items were committed before the hub was killed"
        again = {i: (a, at_end[i]) for i, a in committed.items() if at_end[i] != a}
        assert not again, f"items committed before crash {crash} given out again: {again}"
    # and nothing that had finished before it came back runs again: committed before the
    # crash, or finished on a node while the hub was down (the node delivers it on its return).
    started = ledger_items(ledger)
    for crash, (finished, offset) in enumerate(finished_before, start=1):
        assert len(finished) > len(committed_before[crash - 1]), "no node worked while away"
        again = sorted({i for i in started[offset:] if i in finished})
        assert not again, f"{len(again)} items finished before restart {crash} ran again: {again}"
    assert sorted(ledger_counts(ledger)) == list(range(n))
    finals = assert_no_acknowledged_job_lost(farm)
    assert len(finals) == 3
    for other_id, other in finals.items():
        assert other["status"] == "completed", (other_id, other["error"])
        if other_id != job_id:
            assert other["variables"]["doubled"] == reference(40)
