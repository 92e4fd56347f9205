"""A bad network between the nodes and the hub: a TCP proxy delays, stalls and cuts every node's
connections (WebSocket and HTTP alike) on a seeded schedule while a job runs. Every item is
committed once, the results are a local run's, and no job is lost; what a node finished while its
link was dead reaches the hub once it reconnects, and runs no second time. Real processes on
127.0.0.1."""

from __future__ import annotations

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

from witengine.testing.processes import (
    ProcessFarm,
    free_port,
    ledger_counts,
    ledger_items,
    progress,
    wait_until,
)
from witengine.testing.proxy import Fault, FaultSchedule, TcpProxy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

NETWORK_SEED = 31


def test_delays_stalls_and_cuts_between_nodes_and_hub_lose_no_item(
    farm: ProcessFarm, tmp_path: Path, reference: Callable[[int], list[int]]
) -> None:
    # Stalls up to 5 s: past the farm's 3 s lease, so a stalled node's batches go to others and
    # what it sends once the stall ends is late; cuts close every connection at once.
    schedule = FaultSchedule.seeded(
        NETWORK_SEED, start=0.5, rounds=6, gap=(1.0, 2.5), stall=(1.0, 5.0)
    )
    run_through_proxy(farm, tmp_path, reference, schedule, n=1500)


def test_the_proxy_passes_tls_and_its_faults_lose_no_item(
    tmp_path: Path, reference: Callable[[int], list[int]]
) -> None:
    """The same over HTTPS and WSS: the proxy works on bytes, so TLS passes through it, and a
    cut or a stall of an encrypted link is survived as well."""
    # The cut last: every fault finds the nodes' links open.
    schedule = FaultSchedule(
        (Fault(0.5, "stall", 3.5), Fault(5.0, "delay", 1.5, ms=100), Fault(7.5, "cut"))
    )
    farm = ProcessFarm(tmp_path, free_port(), tls=True)
    farm.start_hub()
    try:
        run_through_proxy(farm, tmp_path, reference, schedule, n=900)
    finally:
        farm.stop()


def test_a_node_delivers_what_it_finished_while_its_link_was_dead_and_runs_none_of_it_again(
    tmp_path: Path, reference: Callable[[int], list[int]]
) -> None:
    """The link goes dead for 3 s (nothing passes, then it is reset: what the node sent meanwhile
    is lost); the node works on, reconnects, and sends again every result the hub has not
    acknowledged. Lease and grace outlast the outage, so only the node can deliver those items:
    a node that dropped them would have its batch's unanswered items run again."""
    farm = ProcessFarm(
        tmp_path, free_port(), hub_args=("--lease", "20", "--heartbeat", "0.5", "--grace", "20")
    )
    farm.start_hub()
    proxy = TcpProxy(farm.port, FaultSchedule((Fault(0.0, "drop", 3.0),)))
    proxy.start(armed=False)
    try:
        start_nodes(farm, "a", hub_url=f"http://127.0.0.1:{proxy.port}")
        n, ledger = 300, tmp_path / "ledger.txt"
        done = Path(f"{ledger}.done")
        job_id = farm.submit(LEDGER, {"n": str(n), "ledger": str(ledger), "ms": "30"})
        with CommitWatch(farm.root / "hub" / "hub.sqlite3", job_id) as watch:
            wait_until(lambda: progress(farm, job_id) >= 30, 60, "30 items done")
            before = set(ledger_items(done))
            proxy.arm()
            wait_until(lambda: proxy.faults_over, 10, "the link to come back")
            kept = set(ledger_items(done)) - before
            job = farm.wait_done(job_id, 120)
    finally:
        proxy.stop()
        farm.stop()
    assert job["status"] == "completed", job["error"]
    assert job["variables"]["doubled"] == reference(n)
    assert_committed_once(farm, job_id, reference(n), watch)
    assert len(kept) >= 10, f"the node finished only {len(kept)} items while its link was dead"
    counts = ledger_counts(ledger)
    again = sorted(i for i in kept if counts[i] > 1)
    assert not again, f"{len(again)} items finished while the link was dead ran again: {again}"
    assert farm.log("a").count("connected to") >= 2, "the node never reconnected"


def run_through_proxy(
    farm: ProcessFarm,
    tmp_path: Path,
    reference: Callable[[int], list[int]],
    schedule: FaultSchedule,
    n: int,
) -> None:
    """Nodes reach the hub only through a proxy that follows `schedule` once a job of n items
    is under way; every fault must hit open connections while the job runs."""
    proxy = TcpProxy(farm.port, schedule)
    proxy.start(armed=False)
    try:
        scheme = "https" if farm.tls else "http"
        start_nodes(farm, "a", "b", "c", hub_url=f"{scheme}://127.0.0.1:{proxy.port}")
        ledger = tmp_path / "ledger.txt"
        job_id = farm.submit(LEDGER, {"n": str(n), "ledger": str(ledger), "ms": "30"})
        with CommitWatch(farm.root / "hub" / "hub.sqlite3", job_id) as watch:
            proxy.arm()
            job = farm.wait_done(job_id, 180)
            during = list(proxy.applied)
    finally:
        proxy.stop()
    kinds = {fault.split()[1] for fault in during if "(0 connection" not in fault}
    assert kinds == {"delay", "stall", "cut"}, f"faults while the job ran: {during}"
    assert job["status"] == "completed", job["error"]
    assert job["variables"]["doubled"] == reference(n)
    assert_committed_once(farm, job_id, reference(n), watch)
    assert sorted(ledger_counts(ledger)) == list(range(n))
    assert "disconnected" in farm.log(), "no cut reached the hub"
    assert_no_acknowledged_job_lost(farm)
