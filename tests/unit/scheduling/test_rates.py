"""The rate model: seeded by benchmarks, corrected by measured throughput, outliers capped."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from witengine.scheduling.rates import DEFAULT_RATE, RateModel


def batches_until_within(model: RateModel, true_rate: float, tolerance: float) -> int:
    """Feed batches of 10 items measured at `true_rate` (±5 % noise); batches until the model's
    rate stays within `tolerance` of the truth."""
    rng = random.Random(7)
    for batch in range(1, 50):
        for _ in range(10):
            work = rng.uniform(0.5, 1.5)
            seconds = work / (true_rate * rng.uniform(0.95, 1.05))
            model.observe("node_a", "Compute.Work", work, seconds)
        if abs(model.rate("node_a", "Compute.Work") / true_rate - 1) <= tolerance:
            return batch
    raise AssertionError("the rate never converged")


def test_a_benchmark_is_the_rate_until_something_is_measured() -> None:
    model = RateModel()
    model.benchmark("node_a", "Compute.Work", 12.5)
    assert model.rate("node_a", "Compute.Work") == 12.5
    assert model.known("node_a", "Compute.Work")
    assert model.measurements("node_a", "Compute.Work") == 0


@pytest.mark.parametrize("error", [-0.3, 0.3])
def test_a_benchmark_off_by_30_percent_is_fixed_within_one_batch(error: float) -> None:
    model = RateModel()
    model.benchmark("node_a", "Compute.Work", 10.0 * (1 + error))
    assert batches_until_within(model, 10.0, tolerance=0.05) == 1


def test_a_benchmark_off_tenfold_is_fixed_within_a_few_batches() -> None:
    model = RateModel()
    model.benchmark("node_a", "Compute.Work", 100.0)
    assert batches_until_within(model, 10.0, tolerance=0.05) <= 3


def test_the_first_measurement_replaces_the_benchmark() -> None:
    model = RateModel()
    model.benchmark("node_a", "Compute.Work", 13.0)
    assert model.observe("node_a", "Compute.Work", 2.0, 0.2) == pytest.approx(10.0)


def test_warm_up_averages_throughput_weighted_by_work() -> None:
    model = RateModel(warmup=5)
    model.observe("node_a", "Compute.Work", 1.0, 0.1)  # 10 units/s
    rate = model.observe("node_a", "Compute.Work", 3.0, 0.6)  # 5 units/s
    assert rate == pytest.approx(4.0 / 0.7)


def test_an_outlier_moves_the_rate_at_most_by_the_clamp() -> None:
    model = RateModel(warmup=1, smoothing=1.0, clamp=4.0)
    model.benchmark("node_a", "Compute.Work", 10.0)
    model.observe("node_a", "Compute.Work", 1.0, 0.1)
    assert model.observe("node_a", "Compute.Work", 1.0, 0.0001) == pytest.approx(40.0)
    assert model.observe("node_a", "Compute.Work", 1.0, 1000.0) == pytest.approx(10.0)


def test_after_warm_up_the_rate_follows_a_node_that_slows_down() -> None:
    model = RateModel(warmup=3, smoothing=0.2)
    for _ in range(3):
        model.observe("node_a", "Compute.Work", 1.0, 0.1)
    for _ in range(20):
        rate = model.observe("node_a", "Compute.Work", 1.0, 0.2)
    assert rate == pytest.approx(5.0, rel=0.02)


def test_a_node_without_a_benchmark_is_planned_at_the_slowest_known_rate() -> None:
    model = RateModel()
    assert model.rate("node_new", "Compute.Work") == DEFAULT_RATE
    model.benchmark("node_a", "Compute.Work", 8.0)
    model.benchmark("node_b", "Compute.Work", 3.0)
    model.benchmark("node_c", "Render.Frame", 0.5)  # another activity does not count
    assert model.rate("node_new", "Compute.Work") == 3.0
    assert not model.known("node_new", "Compute.Work")


def test_measurements_without_work_or_time_change_nothing() -> None:
    model = RateModel()
    model.benchmark("node_a", "Compute.Work", 8.0)
    assert model.observe("node_a", "Compute.Work", 0.0, 1.0) == 8.0
    assert model.observe("node_a", "Compute.Work", 1.0, 0.0) == 8.0
    assert model.measurements("node_a", "Compute.Work") == 0


def test_forgetting_a_node_drops_its_rates() -> None:
    model = RateModel()
    model.benchmark("node_a", "Compute.Work", 8.0)
    model.benchmark("node_b", "Compute.Work", 2.0)
    model.forget("node_b")
    assert model.rate("node_new", "Compute.Work") == 8.0


def test_the_guess_rises_when_the_slowest_node_is_measured_faster() -> None:
    model = RateModel()
    model.benchmark("node_a", "Compute.Work", 8.0)
    model.benchmark("node_b", "Compute.Work", 2.0)
    assert model.guess("Compute.Work") == 2.0
    model.observe("node_b", "Compute.Work", 1.0, 0.25)  # 4 units/s: node_b is still slowest
    assert model.guess("Compute.Work") == 4.0
    model.benchmark("node_b", "Compute.Work", 20.0)
    assert model.guess("Compute.Work") == 8.0


NODES = st.sampled_from(["node_a", "node_b", "node_c", "node_d"])
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("benchmark"), NODES, st.sampled_from([0.5, 1.0, 2.0, 8.0])),
        st.tuples(st.just("observe"), NODES, st.sampled_from([0.1, 0.5, 1.0, 4.0])),
        st.tuples(st.just("forget"), NODES, st.just(0.0)),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(STEPS)
def test_the_guess_is_always_the_slowest_known_rate(steps: list[tuple[str, str, float]]) -> None:
    model = RateModel(warmup=2)
    for action, node_id, value in steps:
        if action == "benchmark":
            model.benchmark(node_id, "Compute.Work", value)
        elif action == "observe":
            model.observe(node_id, "Compute.Work", 1.0, value)
        else:
            model.forget(node_id)
        known = [
            model.rate(n, "Compute.Work")
            for n in ("node_a", "node_b", "node_c", "node_d")
            if model.known(n, "Compute.Work")
        ]
        assert model.guess("Compute.Work") == min(known, default=DEFAULT_RATE)


@pytest.mark.parametrize("rate", [0.0, -1.0, float("nan")])
def test_a_benchmark_must_be_positive(rate: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        RateModel().benchmark("node_a", "Compute.Work", rate)
