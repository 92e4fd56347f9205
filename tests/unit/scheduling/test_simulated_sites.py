"""The simulator's federated farms: the nodes split over sites whose hubs join a parent as one
node each, every item committed once at the parent, each site's share by its summed rate, and
E against the flat farm's bound beside the flat farm's own."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from witengine.scheduling.simulation_sites import FederatedSimulation, simulate_federated
from witengine.scheduling.simulator import SimConfig, Simulation, VirtualNode, simulate
from witengine.scheduling.strategy import Strategy

FARM = SimConfig(nodes=30, items=3000, speed_spread=20.0, seed=5)


def with_(config: SimConfig, **changes: object) -> SimConfig:
    return SimConfig(**{**config.__dict__, **changes})


def test_a_seed_gives_the_same_run_every_time() -> None:
    config = with_(FARM, deaths=2, benchmark_error=0.3)
    first, again = simulate_federated(config, 3), simulate_federated(config, 3)
    figures = ("makespan", "duplicates", "lost", "batches", "parent_batches", "site_items")
    assert [first.to_json()[k] for k in figures] == [again.to_json()[k] for k in figures]
    other = simulate_federated(with_(config, seed=6), 3)
    assert first.federated.makespan != other.federated.makespan


def test_the_flat_farm_beside_it_is_the_plain_simulation_of_the_same_seed() -> None:
    report = simulate_federated(FARM, 3)
    plain = simulate(FARM)
    assert report.flat.makespan == plain.makespan and report.flat.batches == plain.batches
    assert report.federated.bound == report.flat.bound == plain.bound
    assert report.federated.efficiency == pytest.approx(
        report.flat.bound / report.federated.makespan
    )


def test_three_sites_finish_near_the_flat_farms_bound() -> None:
    report = simulate_federated(with_(FARM, nodes=150, items=15_000), 3)
    assert sum(report.site_items) == 15_000
    assert report.federated.efficiency >= 0.85, report
    assert report.federated.efficiency <= report.flat.efficiency + 0.01
    assert report.parent_batches < report.federated.batches / 10  # the sites re-plan them


@pytest.mark.parametrize("strategy", list(Strategy))
def test_each_strategy_plans_the_sites_and_the_nodes_in_them(strategy: Strategy) -> None:
    report = simulate_federated(with_(FARM, strategy=strategy, deaths=1, departures=1), 2)
    assert sum(report.site_items) == 3000 and report.federated.strategy == strategy.value


def test_each_site_gets_work_by_the_sum_of_its_nodes_rates() -> None:
    # Site 0 has nodes 0, 2, 4, 6 at 3 units/s; site 1 has nodes 1, 3, 5, 7 at 1 unit/s.
    rates = [3.0 if k % 2 == 0 else 1.0 for k in range(8)]
    nodes = [VirtualNode(f"node_{k}", rate, rate) for k, rate in enumerate(rates)]
    run = FederatedSimulation(Simulation(nodes, [1.0] * 4000, Strategy.ADAPTIVE), 2)
    report = run.run()
    fast, slow = run.site_items
    assert fast + slow == 4000
    assert fast / 4000 == pytest.approx(0.75, abs=0.03)
    assert report.efficiency >= 0.9


def test_a_site_that_loses_every_node_is_lost_to_the_parent_and_the_others_finish() -> None:
    nodes = [
        VirtualNode("node_0", 2.0, 2.0, dies_at=20.0),
        VirtualNode("node_1", 1.0, 1.0),
        VirtualNode("node_2", 2.0, 2.0, leaves_at=25.0),
        VirtualNode("node_3", 1.0, 1.0),
    ]
    run = FederatedSimulation(Simulation(nodes, [1.0] * 600, Strategy.ADAPTIVE), 2)
    report = run.run()  # checks every item committed exactly once
    gone, left = run.site_items
    assert gone + left == 600 and 0 < gone < 4.0 * 25.0
    assert report.makespan > 600 / 6.0


def test_one_site_is_a_farm_behind_one_more_hub() -> None:
    report = simulate_federated(FARM, 1)
    assert report.site_items == (3000,)
    assert report.federated.efficiency >= 0.9


@settings(deadline=None, max_examples=25)
@given(
    seed=st.integers(0, 10_000),
    nodes=st.integers(2, 24),
    sites=st.integers(1, 5),
    deaths=st.integers(0, 3),
    error=st.sampled_from([0.0, 0.3]),
    strategy=st.sampled_from(list(Strategy)),
    latency=st.sampled_from([0.0, 0.05, 2.0]),
)
def test_every_item_is_committed_once_whatever_the_farm(
    seed: int,
    nodes: int,
    sites: int,
    deaths: int,
    error: float,
    strategy: Strategy,
    latency: float,
) -> None:
    config = SimConfig(
        nodes=nodes,
        items=nodes * 20,
        seed=seed,
        deaths=deaths,
        benchmark_error=error,
        strategy=strategy,
        detection_delay=5.0,
    )
    sites = min(sites, nodes)
    report = simulate_federated(config, sites, site_latency=latency)  # raises on a lost item
    assert sum(report.site_items) == config.items
    assert 0 < report.federated.efficiency <= 1.0


def test_a_farm_of_more_sites_than_nodes_or_untrusted_nodes_is_refused() -> None:
    with pytest.raises(ValueError, match="each site needs a node"):
        simulate_federated(with_(FARM, nodes=2), 3)
    with pytest.raises(ValueError, match="trusted nodes only"):
        simulate_federated(with_(FARM, untrusted=True), 2)
