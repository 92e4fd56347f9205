"""The rate model: how many work units per second each node does for each activity.

A rate starts from the node's benchmark and is corrected online from measured throughput: the
first few measurements are averaged (work over seconds, so the benchmark is replaced by what the
node really does after one result), later ones are smoothed exponentially so the rate follows a
node whose speed changes without jumping at every noisy item. A sample further than `clamp`
times from the current rate is capped there first: one item stalled by a page fault or sped up
by a cache must not wreck a node's plan. A node with neither benchmark nor measurement is
planned at the slowest known rate of the activity (1 unit/s when none is known): a conservative
guess that its first results correct. The slowest rate is kept per activity and looked for again
among all the activity's nodes only when the slowest node's rate rises (or it is forgotten).

Pure: no clock, no I/O. Rates are per slot (one batch running at a time).
"""

from __future__ import annotations

from collections.abc import Iterable
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
        self._slowest: dict[str, tuple[float, str]] = {}  # activity -> (rate, node), when known

    def benchmark(self, node_id: str, activity: str, rate: float) -> None:
        """The node's benchmark for the activity: its rate until measurements say otherwise.

        A new benchmark (a plugin's new version, say) starts the estimate over."""
        if not rate > 0.0:
            raise ValueError(f"a benchmark rate must be positive, got {rate}")
        self._rates.setdefault(activity, {})[node_id] = _Estimate(rate)
        self._changed(activity, node_id, rate)

    def observe(self, node_id: str, activity: str, work: float, seconds: float) -> float:
        """The node did `work` units in `seconds`: fold that in and give the corrected rate."""
        nodes = self._rates.setdefault(activity, {})
        estimate = nodes.get(node_id)
        if work <= 0.0 or seconds <= 0.0:
            return estimate.rate if estimate is not None else self.guess(activity)
        sample = work / seconds
        if estimate is None:
            estimate = nodes[node_id] = _Estimate(sample)  # nothing to cap against: take it
        else:
            sample = min(max(sample, estimate.rate / self.clamp), estimate.rate * self.clamp)
        if estimate.samples < self.warmup:
            estimate.work += work
            estimate.seconds += work / sample
            estimate.rate = estimate.work / estimate.seconds
        else:
            estimate.rate += self.smoothing * (sample - estimate.rate)
        estimate.samples += 1
        self._changed(activity, node_id, estimate.rate)
        return estimate.rate

    def rate(self, node_id: str, activity: str) -> float:
        """The rate to plan the node with: measured, else benchmarked, else the slowest known."""
        estimate = self._rates.get(activity, {}).get(node_id)
        return estimate.rate if estimate is not None else self.guess(activity)

    def planned(self, node_ids: Iterable[str], activity: str) -> tuple[dict[str, float], list[str]]:
        """The rate of each node as `rate` gives it, and the nodes among them planned at the
        guess (no benchmark, no measurement): one call for a whole farm."""
        nodes = self._rates.get(activity, {})
        rates = {node_id: nodes[node_id].rate for node_id in node_ids if node_id in nodes}
        guessed = [node_id for node_id in node_ids if node_id not in rates]
        if guessed:
            guess = self.guess(activity)
            rates.update(dict.fromkeys(guessed, guess))
        return rates, guessed

    def guess(self, activity: str) -> float:
        """The rate a node with neither benchmark nor measurement is planned at: the slowest
        known for the activity, or `DEFAULT_RATE` when none is."""
        slowest = self._slowest.get(activity)
        if slowest is not None:
            return slowest[0]
        nodes = self._rates.get(activity)
        if not nodes:
            return DEFAULT_RATE
        node_id = min(nodes, key=lambda n: nodes[n].rate)
        self._slowest[activity] = (nodes[node_id].rate, node_id)
        return nodes[node_id].rate

    def known(self, node_id: str, activity: str) -> bool:
        """Whether the node has a benchmark or a measurement for the activity."""
        return node_id in self._rates.get(activity, {})

    def measurements(self, node_id: str, activity: str) -> int:
        """How many measurements corrected the node's rate for the activity."""
        estimate = self._rates.get(activity, {}).get(node_id)
        return estimate.samples if estimate is not None else 0

    def forget(self, node_id: str) -> None:
        """Drop every rate of a node (it was replaced, or its hardware changed)."""
        for activity, nodes in self._rates.items():
            nodes.pop(node_id, None)
            slowest = self._slowest.get(activity)
            if slowest is not None and slowest[1] == node_id:
                del self._slowest[activity]

    def _changed(self, activity: str, node_id: str, rate: float) -> None:
        """Keep the activity's slowest rate true after `node_id`'s became `rate`."""
        slowest = self._slowest.get(activity)
        if slowest is None:
            return  # looked for at the next guess
        if rate < slowest[0]:
            self._slowest[activity] = (rate, node_id)
        elif slowest[1] == node_id and rate > slowest[0]:
            del self._slowest[activity]  # the slowest got faster: another may be slowest now
