"""Nodes that die or freeze: every item committed once, results as a local run's, no job lost.
Real hub and node processes on 127.0.0.1; every loop is bounded in count and time."""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from faultcheck import (
    LEDGER,
    CommitWatch,
    assert_committed_once,
    assert_no_acknowledged_job_lost,
    start_nodes,
)

from witengine.testing.processes import ProcessFarm, free_port, ledger_counts, progress, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

KILLER_SEED = 7310
KILL_ROUNDS = 6  # at most; the killer stops when the job ends
KILL_EVERY = (1.5, 3.5)  # seconds between kills


def test_nodes_killed_again_and_again_lose_no_item(
    farm: ProcessFarm, tmp_path: Path, reference: Callable[[int], list[int]]
) -> None:
    """A seeded killer SIGKILLs a random node every few seconds during a 2,000-item job and
    starts a replacement: half the time the same node again (same identity, holding nothing),
    half the time a new one."""
    rng = random.Random(KILLER_SEED)
    n, ledger = 2000, tmp_path / "ledger.txt"
    live = ["n0", "n1", "n2"]
    start_nodes(farm, *live)
    job_id = farm.submit(LEDGER, {"n": str(n), "ledger": str(ledger), "ms": "20"})
    kills: list[str] = []
    with CommitWatch(farm.root / "hub" / "hub.sqlite3", job_id) as watch:
        for round_ in range(KILL_ROUNDS):
            time.sleep(rng.uniform(*KILL_EVERY))
            if farm.job(job_id).get("status") != "running":
                break
            victim = rng.choice(live)
            farm.kill_node(victim)
            kills.append(f"{victim} at {progress(farm, job_id)}/{n}")
            if rng.random() < 0.5:
                farm.start_node(victim)  # the same node, back with nothing in hand
            else:
                live[live.index(victim)] = f"r{round_}"
                farm.start_node(f"r{round_}")
        job = farm.wait_done(job_id, 180)
    assert len(kills) >= 3, f"the job ended before the killer got going: {kills}"
    assert job["status"] == "completed", job["error"]
    assert job["variables"]["doubled"] == reference(n)
    assert_committed_once(farm, job_id, reference(n), watch)
    counts = ledger_counts(ledger)
    assert sorted(counts) == list(range(n))
    rerun = sum(1 for times in counts.values() if times > 1)
    # Only items a killed node had run but not yet delivered may run twice.
    assert rerun < 100 * len(kills), f"{rerun} items ran twice after kills {kills}"
    assert_no_acknowledged_job_lost(farm)


def test_a_node_frozen_past_its_lease_has_its_late_results_ignored(
    farm: ProcessFarm, tmp_path: Path, reference: Callable[[int], list[int]]
) -> None:
    """SIGSTOP a node until its lease runs out and others have taken its items; SIGCONT it."""
    start_nodes(farm, "a", "b", "c")
    n, ledger = 300, tmp_path / "ledger.txt"
    job_id = farm.submit(LEDGER, {"n": str(n), "ledger": str(ledger), "ms": "30"})
    with CommitWatch(farm.root / "hub" / "hub.sqlite3", job_id) as watch:
        wait_until(lambda: progress(farm, job_id) >= 30, 120, "30 items done")
        farm.signal_node("a", signal.SIGSTOP)
        wait_until(
            lambda: "lease" in farm.log() and "expired" in farm.log(), 60, "a lease to expire"
        )
        # The frozen node's runner went on working; once another node has run one of the same
        # items again, the frozen node's result for it belongs to a fenced-off attempt.
        wait_until(lambda: max(ledger_counts(ledger).values()) > 1, 60, "an item taken over")
        farm.signal_node("a", signal.SIGCONT)
        job = farm.wait_done(job_id, 180)
    assert job["status"] == "completed", job["error"]
    assert job["variables"]["doubled"] == reference(n)
    wait_until(lambda: "late result" in farm.log(), 30, "the frozen node's late results")
    assert_committed_once(farm, job_id, reference(n), watch)
    assert sorted(ledger_counts(ledger)) == list(range(n))
    assert_no_acknowledged_job_lost(farm)


def test_a_node_stopped_by_sigterm_leaves_and_its_items_go_on_at_once(
    tmp_path: Path, reference: Callable[[int], list[int]]
) -> None:
    """A service manager stops a node mid-batch (SIGTERM): it stops its worker, tells the hub it
    is leaving, and exits 0; the hub gives its items to the other node at once, although lease
    and grace are a minute here, so only the node's word can make that happen in time."""
    farm = ProcessFarm(
        tmp_path, free_port(), hub_args=("--lease", "60", "--heartbeat", "0.5", "--grace", "60")
    )
    farm.start_hub()
    try:
        start_nodes(farm, "a", "b")
        n, ledger = 200, tmp_path / "ledger.txt"
        job_id = farm.submit(LEDGER, {"n": str(n), "ledger": str(ledger), "ms": "50"})
        with CommitWatch(farm.root / "hub" / "hub.sqlite3", job_id) as watch:
            wait_until(lambda: progress(farm, job_id) >= 20, 60, "20 items done")
            stopping = farm.nodes["a"]
            stopping.send_signal(signal.SIGTERM)
            assert stopping.wait(15) == 0, farm.log("a")
            wait_until(lambda: "back in the queue" in farm.log(), 10, "a's items handed on")
            job = farm.wait_done(job_id, 45)
        assert job["status"] == "completed", job["error"]
        assert job["variables"]["doubled"] == reference(n)
        assert_committed_once(farm, job_id, reference(n), watch)
        assert "stopped" in farm.log("a")
        assert " left" in farm.log()
        assert _processes_using(farm.root / "a") == [], "the stopped node left a process behind"
    finally:
        farm.stop()


def _processes_using(folder: Path) -> list[str]:
    """Processes whose command line names `folder` (a node's cache: its workers name it)."""
    import psutil

    found = []
    for process in psutil.process_iter(["cmdline"]):
        line = " ".join(process.info["cmdline"] or [])
        if str(folder) in line:
            found.append(f"{process.pid}: {line}")
    return found
