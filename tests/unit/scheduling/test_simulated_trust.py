"""An untrusted simulated farm: drawn as asked from its seed, its results verified by the hub's
pure core before they count, with the cost of verifying measured."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from witengine.scheduling.cheaters import CHEATS, Conduct
from witengine.scheduling.simulator import SimConfig, Simulation, build, simulate

FARM = SimConfig(nodes=100, items=3_000, untrusted=True, cheaters=0.1, seed=5)


def test_an_untrusted_farm_is_drawn_as_asked() -> None:
    nodes, _, _ = build(FARM)
    assert not any(node.trusted for node in nodes)
    kinds = Counter(node.conduct for node in nodes)
    assert kinds[Conduct.HONEST] == 90 and all(kinds[kind] == 2 for kind in CHEATS)
    owners = Counter(node.owner for node in nodes)
    (pair,) = {node.owner for node in nodes if node.conduct is Conduct.COLLUDES}
    assert owners[pair] == 2 and len(owners) == 99
    trusted, _, _ = build(SimConfig(nodes=100, items=3_000, seed=5))
    assert [n.rate for n in trusted] == [n.rate for n in nodes]  # the same farm, but its trust


def test_a_seed_gives_the_same_untrusted_run_every_time() -> None:
    first, second = simulate(FARM), simulate(FARM)
    assert first.trust == second.trust and first.makespan == second.makespan
    assert simulate(dataclasses.replace(FARM, seed=6)).trust != first.trust


def test_honest_untrusted_nodes_are_all_checked_at_first_and_sampled_once_reliable() -> None:
    report = simulate(SimConfig(nodes=50, items=5_000, untrusted=True, seed=1))
    trust = report.trust
    assert trust is not None and trust.cheaters == 0
    assert trust.wrong_returned == 0 and trust.wrong_committed == 0 and trust.honest_caught == 0
    assert trust.replicated_share_start == pytest.approx(1.0)  # every item answered twice
    assert trust.replicated_share_last_half < 0.15  # the goal once nodes are reliable
    assert report.efficiency > 0.95  # against the work that had to be done, replicas included


def test_the_fault_suite_s_cheaters_are_all_caught_and_nothing_wrong_is_committed() -> None:
    # Six cheaters: random results, copies, right 95 % of the time, wrong on spot checks'
    # look-alikes, and a colluding pair of one owner.
    report = simulate(SimConfig(nodes=100, items=3_000, untrusted=True, cheaters=0.06, seed=1))
    trust = report.trust
    assert trust is not None and trust.cheaters == 6
    assert trust.wrong_returned > 100  # they did lie
    assert trust.wrong_committed == 0
    assert trust.cheaters_caught == 6 and trust.honest_caught == 0


def test_copiers_of_different_owners_never_have_a_copy_accepted() -> None:
    config = SimConfig(nodes=50, items=2_000, untrusted=True, cheaters=0.1, seed=0)
    nodes, work, true_work = build(config)
    nodes = [
        dataclasses.replace(node, conduct=Conduct.COPIES) if node.conduct.cheats else node
        for node in nodes
    ]
    report = Simulation(nodes, work, config.strategy, true_work=true_work).run()
    assert report.trust is not None
    assert report.trust.wrong_committed == 0 and report.trust.honest_caught == 0
