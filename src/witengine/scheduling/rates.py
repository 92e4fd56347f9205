"""The rate model: how many work units per second each node does for each activity.

A rate starts from the node's benchmark and is corrected online from measured throughput: the
first few measurements are averaged (work over seconds, so the benchmark is replaced by what the
node really does after one result), later ones are smoothed exponentially so the rate follows a
node whose speed changes without jumping at every noisy item. A sample further than `clamp`
times from the current rate is capped there first: one item stalled by a page fault or sped up
by a cache must not wreck a node's plan. A node with neither benchmark nor measurement is
planned at the slowest known rate of the activity (1 unit/s when none is known): a conservative
guess that its first results correct.

Pure: no clock, no I/O. Rates are per slot (one batch running at a time).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_RATE = 1.0  # units/s for an activity no node has a rate for yet


@dataclass(slots=True)
class _Estimate:
    rate: float
    samples: int = 0  # measurements folded in
    work: float = 0.0  # warm-up: units measured …
    seconds: float = 0.0  # … and the seconds they took


class RateModel:
    """Per (node, activity) rates in units per second, from benchmarks and measurements."""

    def __init__(self, *, warmup: int = 5, smoothing: float = 0.2, clamp: float = 4.0) -> None:
        if warmup < 1 or not 0.0 < smoothing <= 1.0 or clamp < 1.0:
            raise ValueError("warmup >= 1, 0 < smoothing <= 1 and clamp >= 1 are required")
        self.warmup = warmup
        self.smoothing = smoothing
        self.clamp = clamp
        self._rates: dict[str, dict[str, _Estimate]] = {}  # activity -> node -> estimate

    def benchmark(self, node_id: str, activity: str, rate: float) -> None:
        """The node's benchmark for the activity: its rate until measurements say otherwise.

        A new benchmark (a plugin's new version, say) starts the estimate over."""
        if not rate > 0.0:
            raise ValueError(f"a benchmark rate must be positive, got {rate}")
        self._rates.setdefault(activity, {})[node_id] = _Estimate(rate)

    def observe(self, node_id: str, activity: str, work: float, seconds: float) -> float:
        """The node did `work` units in `seconds`: fold that in and give the corrected rate."""
        nodes = self._rates.setdefault(activity, {})
        estimate = nodes.get(node_id)
        if work <= 0.0 or seconds <= 0.0:
            return estimate.rate if estimate is not None else self._fallback(nodes)
        sample = work / seconds
        if estimate is None:
            estimate = nodes[node_id] = _Estimate(self._fallback(nodes))
            estimate.rate = sample  # nothing to cap against but a guess: take what was seen
        else:
            sample = min(max(sample, estimate.rate / self.clamp), estimate.rate * self.clamp)
        if estimate.samples < self.warmup:
            estimate.work += work
            estimate.seconds += work / sample
            estimate.rate = estimate.work / estimate.seconds
        else:
            estimate.rate += self.smoothing * (sample - estimate.rate)
        estimate.samples += 1
        return estimate.rate

    def rate(self, node_id: str, activity: str) -> float:
        """The rate to plan the node with: measured, else benchmarked, else the slowest known."""
        nodes = self._rates.get(activity)
        if not nodes:
            return DEFAULT_RATE
        estimate = nodes.get(node_id)
        return estimate.rate if estimate is not None else self._fallback(nodes)

    def known(self, node_id: str, activity: str) -> bool:
        """Whether the node has a benchmark or a measurement for the activity."""
        return node_id in self._rates.get(activity, {})

    def measurements(self, node_id: str, activity: str) -> int:
        """How many measurements corrected the node's rate for the activity."""
        estimate = self._rates.get(activity, {}).get(node_id)
        return estimate.samples if estimate is not None else 0

    def forget(self, node_id: str) -> None:
        """Drop every rate of a node (it was replaced, or its hardware changed)."""
        for nodes in self._rates.values():
            nodes.pop(node_id, None)

    @staticmethod
    def _fallback(nodes: dict[str, _Estimate]) -> float:
        return min((e.rate for e in nodes.values()), default=DEFAULT_RATE)
