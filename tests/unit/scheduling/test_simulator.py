"""The simulator: deterministic per seed, every item committed once, and the figures the issue
asks of Adaptive (E near the bound, robust to wrong benchmarks, deaths and departures)."""

from __future__ import annotations

import math

import pytest

from witengine.scheduling.simulator import (
    SimConfig,
    SimReport,
    Simulation,
    VirtualNode,
    build,
    simulate,
)
from witengine.scheduling.strategy import Strategy

FARM = SimConfig(nodes=40, items=4000, speed_spread=20.0, seed=11)


def figures(report: SimReport) -> tuple[object, ...]:
    """Everything but the measured CPU times."""
    return (
        report.makespan,
        report.bound,
        report.duplicates,
        report.lost,
        report.requests,
        report.batches,
    )


def with_(config: SimConfig, **changes: object) -> SimConfig:
    return SimConfig(**{**config.__dict__, **changes})


@pytest.mark.parametrize("strategy", list(Strategy))
def test_a_seed_gives_the_same_run_every_time(strategy: Strategy) -> None:
    config = with_(FARM, nodes=12, items=600, strategy=strategy, deaths=2, benchmark_error=0.3)
    assert figures(simulate(config)) == figures(simulate(config))
    assert figures(simulate(config)) != figures(simulate(with_(config, seed=12)))


def test_the_farm_is_drawn_as_asked() -> None:
    config = with_(FARM, benchmark_error=0.3, deaths=3, departures=2, unbenchmarked=4)
    nodes, estimated, true_work = build(config)
    rates = sorted(n.rate for n in nodes)
    assert rates[0] == 1.0 and rates[-1] == 20.0
    assert len(estimated) == 4000 and true_work == estimated
    assert sum(n.dies_at is not None for n in nodes) == 3
    assert sum(n.leaves_at is not None for n in nodes) == 2
    assert sum(n.benchmark is None for n in nodes) == 4
    for node in nodes:
        if node.benchmark is not None:
            assert node.benchmark / node.rate == pytest.approx(1.3) or (
                node.benchmark / node.rate == pytest.approx(0.7)
            )


def test_the_bound_is_the_work_over_the_rates_or_the_largest_item() -> None:
    nodes = [VirtualNode("a", 1.0, 1.0), VirtualNode("b", 3.0, 3.0)]
    assert Simulation(nodes, [1.0] * 8, Strategy.ADAPTIVE).run().bound == pytest.approx(2.0)
    big = Simulation(nodes, [1.0, 10.0], Strategy.ADAPTIVE).run()
    assert big.bound == pytest.approx(10.0 / 3.0)


def test_a_dead_node_counts_in_the_bound_only_while_it_lived() -> None:
    nodes = [VirtualNode("a", 1.0, 1.0), VirtualNode("b", 3.0, 3.0, dies_at=1.0)]
    report = Simulation(nodes, [1.0] * 9, Strategy.QUEUED).run()
    assert report.bound == pytest.approx(6.0)  # 3 x 1 s by b, then 6 units at 1 unit/s
    assert report.makespan >= report.bound


@pytest.mark.parametrize("error", [0.0, 0.3])
def test_adaptive_finishes_within_five_percent_of_the_bound(error: float) -> None:
    report = simulate(with_(FARM, benchmark_error=error))
    assert report.efficiency >= 0.95, report
    assert report.decision_ms_median < 1.0


def test_wrong_benchmarks_cost_adaptive_less_than_five_points() -> None:
    exact = simulate(FARM).efficiency
    wrong = simulate(with_(FARM, benchmark_error=0.3)).efficiency
    assert abs(exact - wrong) <= 0.05


def test_wrong_benchmarks_cost_balanced_its_plan() -> None:
    exact = simulate(with_(FARM, strategy=Strategy.BALANCED)).efficiency
    wrong = simulate(with_(FARM, strategy=Strategy.BALANCED, benchmark_error=0.3)).efficiency
    assert exact >= 0.95
    assert wrong < exact - 0.05


@pytest.mark.parametrize("strategy", list(Strategy))
def test_deaths_and_departures_lose_no_item(strategy: Strategy) -> None:
    config = with_(FARM, items=1500, strategy=strategy, deaths=4, departures=3, unbenchmarked=5)
    report = simulate(config)  # raises SimulationError if an item is lost or committed twice
    assert report.items == 1500
    assert report.lost > 0  # work in flight on the dead nodes
    assert math.isfinite(report.makespan) and report.makespan >= report.bound


def test_adaptive_shares_a_dead_nodes_work_out_before_the_death_is_noticed() -> None:
    efficiencies = [
        simulate(with_(FARM, items=2000, deaths=2, benchmark_error=0.3, seed=s)).efficiency
        for s in range(3)
    ]
    assert min(efficiencies) >= 0.9, efficiencies


def test_duplicates_stay_near_the_end() -> None:
    report = simulate(FARM)
    assert report.duplicates <= 0.1 * FARM.items
    assert report.lost_share < 0.02


def test_an_empty_map_takes_no_time() -> None:
    report = simulate(with_(FARM, items=0))
    assert report.makespan == 0.0 and report.efficiency == 1.0


def test_the_report_reads_as_json() -> None:
    data = simulate(with_(FARM, nodes=5, items=50)).to_json()
    for key in ("makespan", "bound", "efficiency", "duplicates", "lost", "decision_ms_median"):
        assert key in data
