"""An untrusted simulated farm: drawn as asked from its seed, and its results verified before
they count, with the cost of verifying measured."""

from __future__ import annotations

from collections import Counter

from witengine.scheduling.cheaters import CHEATS, Conduct
from witengine.scheduling.simulator import SimConfig, build, simulate

FARM = SimConfig(nodes=100, items=3_000, untrusted=True, cheaters=0.1, seed=5)


def test_an_untrusted_farm_is_drawn_as_asked() -> None:
    nodes, _, _ = build(FARM)
    assert not any(node.trusted for node in nodes)
    kinds = Counter(node.conduct for node in nodes)
    assert kinds[Conduct.HONEST] == 90 and all(kinds[kind] == 2 for kind in CHEATS)
    owners = Counter(node.owner for node in nodes)
    colluders = {node.owner for node in nodes if node.conduct is Conduct.COLLUDES}
    assert len(colluders) == 1 and owners[colluders.pop()] == 2
    assert len(owners) == 99
    trusted, _, _ = build(SimConfig(nodes=100, items=3_000, seed=5))
    assert [n.rate for n in trusted] == [n.rate for n in nodes]  # the same farm, but its trust


def test_a_seed_gives_the_same_untrusted_run_every_time() -> None:
    first, second = simulate(FARM), simulate(FARM)
    assert first.trust == second.trust and first.makespan == second.makespan
