"""The office at night, for real: a hub and two nodes whose owner policy reads the owner's input
from a file. When the owner comes back the node's running batch is frozen (its processes in state
T) within a second and the hub shows the node suspended, with the reason; when the owner leaves
again the same processes go on and nothing is computed twice; when the owner stays past
vacate-after the node hands its work back and the job completes on the other node."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from owners import (
    batch_processes,
    nodes,
    office_farm,
    owner_at,
    running_on,
    start_office_node,
    status,
    wait_frozen,
    working,
)

from witengine.testing.processes import (
    ProcessFarm,
    ledger_counts,
    ledger_items,
    progress,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

# One item per batch (Queued): a node holds the item it runs and the next one, and no copy of an
# item is ever sent to a second node, so an item run twice is one the farm ran again.
QUEUED_LEDGER = """\
Job:Ledger(Int:n, String:ledger, Int:ms)
{
    IntCollection:doubled = Grid.ForEach(i in Int.Range(0, n), "Queued")
        => Testing.Record(i, ledger, ms);
}
"""
FREEZE_WITHIN = 1.0  # seconds from the owner's input to the batch's processes stopped


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[ProcessFarm]:
    yield from office_farm(tmp_path)


def test_a_node_whose_owner_comes_back_freezes_its_batch_and_thaws_it_computing_nothing_twice(
    farm: ProcessFarm, tmp_path: Path
) -> None:
    keyboards = {name: start_office_node(farm, name, "8s") for name in ("a", "b")}
    working(farm, "a", "b")
    listed = nodes(farm)
    assert listed["a"]["policy"]["idle-source"] == f"file:{keyboards['a']}"
    n, ledger = 24, tmp_path / "ledger.txt"
    job_id = farm.submit(QUEUED_LEDGER, {"n": str(n), "ledger": str(ledger), "ms": "300"})
    batches = {name: batch_processes(farm, name) for name in ("a", "b")}
    wait_until(
        lambda: all(running_on(ledger, batches[name]) for name in ("a", "b")),
        30,
        "both nodes to run items",
    )
    with owner_at(keyboards["a"]), owner_at(keyboards["b"]):
        took = wait_frozen([*batches["a"], *batches["b"]], within=FREEZE_WITHIN)
        wait_until(
            lambda: all(nodes(farm)[name]["state"] == "suspended" for name in ("a", "b")),
            2,
            "the hub to show both nodes suspended",
        )
        listed = nodes(farm)
        assert "the owner is back" in listed["a"]["reason"], listed["a"]
        assert listed["a"]["running"] >= 1, "its items stay leased to it"
        started, done = len(ledger_items(ledger)), progress(farm, job_id)
        time.sleep(1.5)  # frozen: not one item starts or ends
        assert len(ledger_items(ledger)) == started and progress(farm, job_id) == done
        assert all(status(p) == "stopped" for p in [*batches["a"], *batches["b"]])
    job = farm.wait_done(job_id, 60)
    assert job["status"] == "completed", job.get("error")
    assert job["variables"]["doubled"] == [2 * i for i in range(n)]
    assert ledger_counts(ledger) == dict.fromkeys(range(n), 1), "every item ran once"
    assert {p.pid for p in batch_processes(farm, "a")} >= {batches["a"][0].pid}, (
        "the same batch process went on: it was thawed, not replaced"
    )
    print(f"froze both nodes' batches {took:.2f} s after their owners' input")


def test_a_node_whose_owner_stays_hands_its_items_on_and_the_other_node_completes_the_job(
    farm: ProcessFarm, tmp_path: Path
) -> None:
    keyboards = {"a": start_office_node(farm, "a", "3s"), "b": start_office_node(farm, "b", "1h")}
    working(farm, "a", "b")
    n, ledger = 16, tmp_path / "ledger.txt"
    job_id = farm.submit(QUEUED_LEDGER, {"n": str(n), "ledger": str(ledger), "ms": "400"})
    frozen = batch_processes(farm, "a")
    wait_until(lambda: running_on(ledger, frozen), 30, "node a to run an item")
    with owner_at(keyboards["a"]):
        took = wait_frozen(frozen, within=FREEZE_WITHIN)
        held = running_on(ledger, frozen)
        wait_until(lambda: nodes(farm)["a"]["state"] == "unavailable", 10, "node a to hand back")
        vacated = nodes(farm)["a"]
        assert "work handed back" in vacated["reason"], vacated
        assert vacated["running"] == 0
        wait_until(lambda: all(status(p) == "gone" for p in frozen), 5, "a's batch killed")
        job = farm.wait_done(job_id, 60)
    assert job["status"] == "completed", job.get("error")
    assert job["variables"]["doubled"] == [2 * i for i in range(n)]
    finished = ledger_counts(Path(f"{ledger}.done"))
    assert finished == dict.fromkeys(range(n), 1), "every item finished once"
    interrupted = held[-1]
    assert ledger_counts(ledger)[interrupted] == 2, "the item frozen on a ran again on b"
    assert "handed back batch" in farm.log()
    print(f"froze a's batch {took:.2f} s after its owner's input")
