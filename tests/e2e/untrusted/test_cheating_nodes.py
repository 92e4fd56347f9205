"""The fault suite of cheaters: real `wit node` processes whose results are altered before they
are sent (`witengine.testing.cheaters`), each joining an untrusted pool beside two honest
volunteers of other owners, on a real hub. For each kind of cheater, a Compute.Hash job allowed
on the pool completes with every result equal to a local run's, and the cheater ends blocked,
as its reputation on the hub's API says. The cheaters are seeded: a run repeats."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from volunteers import open_pool, rated, reputation, submit, volunteer

from witengine.testing.processes import ProcessFarm, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

ACTIVITY = "Compute.Hash"
SCRIPT = (
    'Job:Hashes(Int:n = 16, String:salt = "", String:strategy = "Queued")\n{\n'
    "    StringCollection:hashes = Grid.ForEach(i in Int.Range(0, n), strategy)\n"
    '        => Compute.Hash(Format("{0}-{1}", salt, i));\n'
    "}\n"
)


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessFarm]:
    """A hub with short leases and two honest volunteers, of owners ada and bob."""
    farm = ProcessFarm(tmp_path_factory.mktemp("cheaters"), free_port())
    try:
        farm.start_hub()
        open_pool(farm)
        volunteer(farm, "ada", "ada")
        volunteer(farm, "bob", "bob")
        yield farm
    finally:
        farm.stop()


def reference(salt: str, n: int) -> list[str]:
    """The job's hashes as a local run makes them (Compute.Hash is sha256 of the text)."""
    return [hashlib.sha256(f"{salt}-{i}".encode()).hexdigest() for i in range(n)]


def caught(farm: ProcessFarm, salt: str, n: int, *cheaters: str, strategy: str = "Queued") -> None:
    """Run the job: every committed result is right, and every cheater is blocked."""
    rated(farm, ACTIVITY, "ada", "bob", *cheaters)
    parameters = {"n": str(n), "salt": salt, "strategy": strategy}
    job = farm.wait_done(submit(farm, SCRIPT, parameters), 120)
    assert job["status"] == "completed", job["error"]
    assert job["variables"]["hashes"] == reference(salt, n)
    for name in cheaters:
        record = reputation(farm, name).get(ACTIVITY)
        assert record is not None, f"{name} was given no work"
        assert record["state"] == "blocked", record
        assert record["rejected"] + record["spot_failed"] >= 1, record
        farm.kill_node(name)  # out of the next test's way
    for honest in ("ada", "bob"):
        assert reputation(farm, honest)[ACTIVITY]["state"] != "blocked"


def test_a_node_returning_random_results_is_caught(farm: ProcessFarm) -> None:
    volunteer(farm, "eve-random", "eve", cheat=("random", 1))
    caught(farm, "random", 60, "eve-random")


def test_a_node_copying_another_items_result_is_caught(farm: ProcessFarm) -> None:
    volunteer(farm, "eve-copy", "eve", cheat=("copy", 2))
    caught(farm, "copy", 60, "eve-copy")


def test_a_node_right_95_percent_of_the_time_is_caught(farm: ProcessFarm) -> None:
    # Seed 6: its fifth result is wrong, while it is new and every result of it is checked.
    # (One that gets 10 right first is reliable, and then only a share of its results is
    # checked: docs/security.md says what that risks.)
    volunteer(farm, "eve-mostly", "eve", cheat=("mostly", 6))
    caught(farm, "mostly", 60, "eve-mostly")


def test_a_node_wrong_only_where_it_guesses_it_is_not_checked_is_caught(
    farm: ProcessFarm,
) -> None:
    # Honest for its first 12 results (reliable by then), then wrong on every fresh item and
    # right on retried ones and on items apart from its batch's run (spot checks' look-alikes):
    # the random share of a reliable node's results that is still checked catches it, and the
    # results it returned unchecked are run again.
    volunteer(farm, "eve-spotwise", "eve", cheat=("spotwise", 4))
    caught(farm, "spotwise", 600, "eve-spotwise")


def test_a_node_wrong_only_on_what_looks_like_a_check_is_caught(farm: ProcessFarm) -> None:
    # Right on fresh items, wrong on retried ones and on items apart from its batch's run: the
    # replicas it is handed (retried items) and the spot checks it answers catch it. A node that
    # is never handed a check is never wrong; a new volunteer, every result of whom is checked,
    # makes sure there are replicas to hand out (ada's and bob's are reliable by now).
    volunteer(farm, "carol", "carol")
    rated(farm, ACTIVITY, "carol")
    volunteer(farm, "eve-lookalike", "eve", cheat=("lookalike", 7))
    caught(farm, "lookalike", 200, "eve-lookalike")
    farm.kill_node("carol")


def test_two_nodes_of_one_owner_agreeing_on_a_wrong_result_are_caught(
    farm: ProcessFarm,
) -> None:
    # The hub never asks two nodes of one owner for one item, so their agreement counts once.
    volunteer(farm, "mallory-1", "mallory", cheat=("collude", 5))
    volunteer(farm, "mallory-2", "mallory", cheat=("collude", 6))
    caught(farm, "collude", 120, "mallory-1", "mallory-2")
