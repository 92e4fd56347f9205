"""The scheduler at scale, simulated: how a decision's cost grows with the farm, and how well
each strategy shares 1,000,000 items among nodes whose speeds spread 20x.

Everything runs in the deterministic simulator (`witengine.scheduling.simulator`), in virtual
time: the figures E, makespan and the rest are exact and the same on every machine; only the
decision times are real, the scheduler's CPU time per `request` (a node asking for work),
measured on this machine, so they move with its load.

First, the scaling: Adaptive with benchmarks off by ±30 % (random sign per node) on farms of
each size in `--sizes`, the same items on each. Per farm: E = bound / makespan, the median and
p99 decision time over every request (most near the end of the map, where idle nodes ask again
and may be given a duplicate of the work predicted to finish last), the requests and batches,
and the simulation's wall time. Goal (issue 14): decision p99 under 1 ms at the largest farm
(10,000 nodes by default), that is, decisions that do not grow with the node count.

Then the strategies on `--nodes` nodes: each with exact benchmarks, then Adaptive and Balanced
again with benchmarks off by ±30 %. Per run: E, the makespan, the lower bound, items run more
than once, work lost, the decision times (median and p99 over every request, and the median of
those that gave work), and the time to open the map's schedule. Goals (issue 4): Adaptive
E >= 0.95 with a median decision under 1 ms; with benchmarks off by ±30 %, Adaptive's E within
5 points of its E with exact ones.

    .venv/bin/python bench/scheduler_scale.py [--sizes 100,1000,10000] [--nodes 1000]
        [--items 1000000] [--spread 20] [--error 0.3] [--deaths 0] [--seed 1]
        [--strategies adaptive,balanced,queued]

`--sizes ''` or `--strategies ''` leaves that part out. A full run takes several minutes.
"""

from __future__ import annotations

import argparse
import time

from witengine.scheduling.simulator import SimConfig, SimReport, simulate
from witengine.scheduling.strategy import Strategy

DECISION_GOAL_MS = 1.0  # issue 14: p99 at the largest farm

SCALE_HEADER = (
    f"{'nodes':>8} {'E':>7} {'median ms':>10} {'p99 ms':>8} {'requests':>10} "
    f"{'batches':>9} {'wall s':>7}"
)
HEADER = (
    f"{'run':<24} {'E':>7} {'makespan s':>11} {'bound s':>9} {'dup items':>10} "
    f"{'lost %':>7} {'median ms':>10} {'p99 ms':>8} {'grant ms':>9} {'open ms':>8} {'wall s':>7}"
)


class Runs:
    """Simulations run once each: the scaling and the strategies share a farm when they can."""

    def __init__(self, base: SimConfig) -> None:
        self.base = base
        self.done: dict[SimConfig, tuple[SimReport, float]] = {}

    def run(self, **changes: object) -> tuple[SimReport, float]:
        config = SimConfig(**{**self.base.__dict__, **changes})
        if config not in self.done:
            began = time.perf_counter()
            report = simulate(config)
            self.done[config] = report, time.perf_counter() - began
        return self.done[config]


def scaling(runs: Runs, sizes: list[int], error: float) -> None:
    print(f"scaling: Adaptive, benchmarks ±{error:.0%}")
    print(SCALE_HEADER)
    reports: list[SimReport] = []
    for nodes in sizes:
        report, wall = runs.run(nodes=nodes, strategy=Strategy.ADAPTIVE, benchmark_error=error)
        reports.append(report)
        print(
            f"{nodes:>8,} {report.efficiency:>7.4f} {report.decision_ms_median:>10.4f} "
            f"{report.decision_ms_p99:>8.3f} {report.requests:>10,} {report.batches:>9,} "
            f"{wall:>7.1f}",
            flush=True,
        )
    largest = reports[-1]
    verdict = "met" if largest.decision_ms_p99 < DECISION_GOAL_MS else "MISSED"
    print(
        f"goal (issue 14): decision p99 < {DECISION_GOAL_MS:g} ms at {largest.nodes:,} nodes: "
        f"{verdict} (p99 {largest.decision_ms_p99:.3f} ms)"
    )
    if len(reports) > 1:
        smallest = reports[0]
        growth = largest.decision_ms_p99 / max(smallest.decision_ms_p99, 1e-9)
        print(
            f"  from {smallest.nodes:,} to {largest.nodes:,} nodes "
            f"({largest.nodes / smallest.nodes:g}x): p99 x{growth:.2f}"
        )


def row(name: str, report: SimReport, wall: float) -> str:
    return (
        f"{name:<24} {report.efficiency:>7.4f} {report.makespan:>11.2f} {report.bound:>9.2f} "
        f"{report.duplicates:>10,} {report.lost_share * 100:>7.3f} "
        f"{report.decision_ms_median:>10.4f} {report.decision_ms_p99:>8.3f} "
        f"{report.grant_ms_median:>9.4f} {report.setup_ms:>8.0f} {wall:>7.1f}"
    )


def strategies(runs: Runs, chosen: list[Strategy], nodes: int, error: float) -> None:
    print(f"strategies on {nodes:,} nodes")
    print(HEADER)
    plan: list[tuple[str, Strategy, float]] = []
    for strategy in chosen:
        plan.append((f"{strategy.value} exact", strategy, 0.0))
        if strategy is not Strategy.QUEUED:  # Queued never reads a rate
            plan.append((f"{strategy.value} ±{error:.0%}", strategy, error))
    reports: dict[tuple[Strategy, float], SimReport] = {}
    for name, strategy, benchmark_error in plan:
        report, wall = runs.run(nodes=nodes, strategy=strategy, benchmark_error=benchmark_error)
        print(row(name, report, wall), flush=True)
        reports[strategy, benchmark_error] = report
    exact = reports.get((Strategy.ADAPTIVE, 0.0))
    wrong = reports.get((Strategy.ADAPTIVE, error))
    if exact is None or wrong is None:
        return
    print("goals (issue 4):")
    verdict = "met" if exact.efficiency >= 0.95 and exact.decision_ms_median < 1.0 else "MISSED"
    print(
        f"  Adaptive E >= 0.95 with median decision < 1 ms: {verdict} "
        f"(E {exact.efficiency:.4f}, median {exact.decision_ms_median:.4f} ms)"
    )
    gap = (exact.efficiency - wrong.efficiency) * 100
    verdict = "met" if abs(gap) <= 5.0 else "MISSED"
    print(
        f"  Adaptive with benchmarks ±{error:.0%} within 5 points of exact: {verdict} "
        f"(E {wrong.efficiency:.4f} vs {exact.efficiency:.4f}: {gap:+.2f} points)"
    )
    for strategy in (Strategy.BALANCED, Strategy.QUEUED):
        other = reports.get((strategy, 0.0))
        if other is not None:
            print(f"  beside it, {strategy.value} E {other.efficiency:.4f} (exact benchmarks)")


def listed(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100,1000,10000", help="farm sizes for the scaling")
    parser.add_argument("--nodes", type=int, default=1000, help="farm size for the strategies")
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--spread", type=float, default=20.0)
    parser.add_argument("--error", type=float, default=0.3)
    parser.add_argument("--deaths", type=int, default=0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--strategies", default="adaptive,balanced,queued")
    args = parser.parse_args()
    known = {s.value.lower(): s for s in Strategy}
    unknown = [name for name in listed(args.strategies) if name.lower() not in known]
    if unknown:
        parser.error(f"unknown strategy {unknown[0]!r}; use {', '.join(known)}")
    chosen = [known[name.lower()] for name in listed(args.strategies)]
    try:
        sizes = sorted(int(size) for size in listed(args.sizes))
    except ValueError:
        parser.error(f"--sizes takes node counts separated by commas, got {args.sizes!r}")
    base = SimConfig(items=args.items, speed_spread=args.spread, deaths=args.deaths, seed=args.seed)
    print(
        f"{args.items:,} items (work 0.5-1.5 units), node speeds 1-{args.spread:g} units/s, "
        f"dispatch latency {base.latency * 1000:g} ms, {args.deaths} deaths, seed {args.seed}"
    )
    runs = Runs(base)
    if sizes:
        print()
        scaling(runs, sizes, args.error)
    if chosen:
        print()
        strategies(runs, chosen, args.nodes, args.error)


if __name__ == "__main__":
    main()
