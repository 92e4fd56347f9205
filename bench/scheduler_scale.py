"""The scheduler at scale, simulated: 1,000 nodes whose speeds spread 20x, 1,000,000 items.

Runs each strategy through the deterministic simulator (`witengine.scheduling.simulator`) on the
same farm and items, with exact benchmarks, then Adaptive and Balanced again with benchmarks off
by ±30 % (random sign per node). Prints per run the efficiency E = bound / makespan, the
makespan, the lower bound, items run more than once, work lost, and the scheduler's CPU time
per `request` decision (median and p99, over every request, and the median of those that gave
work), and the time to open the map's schedule. Then the issue's goals, met or not:

- Adaptive E >= 0.95 with a median decision under 1 ms;
- with benchmarks off by ±30 %, Adaptive's E within 5 points of its E with exact ones.

    .venv/bin/python bench/scheduler_scale.py [--nodes 1000] [--items 1000000] [--spread 20]
        [--error 0.3] [--deaths 0] [--seed 1] [--strategies adaptive,balanced,queued]

The simulation is in virtual time; only decision times are real (this machine's CPU, so they
vary with its load). A full run takes a few minutes.
"""

from __future__ import annotations

import argparse
import time

from witengine.scheduling.simulator import SimConfig, SimReport, simulate
from witengine.scheduling.strategy import Strategy

HEADER = (
    f"{'run':<24} {'E':>7} {'makespan s':>11} {'bound s':>9} {'dup items':>10} "
    f"{'lost %':>7} {'median ms':>10} {'p99 ms':>8} {'grant ms':>9} {'open ms':>8} {'wall s':>7}"
)


def row(name: str, report: SimReport, wall: float) -> str:
    return (
        f"{name:<24} {report.efficiency:>7.4f} {report.makespan:>11.2f} {report.bound:>9.2f} "
        f"{report.duplicates:>10,} {report.lost_share * 100:>7.3f} "
        f"{report.decision_ms_median:>10.4f} {report.decision_ms_p99:>8.3f} "
        f"{report.grant_ms_median:>9.4f} {report.setup_ms:>8.0f} {wall:>7.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--spread", type=float, default=20.0)
    parser.add_argument("--error", type=float, default=0.3)
    parser.add_argument("--deaths", type=int, default=0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--strategies", default="adaptive,balanced,queued")
    args = parser.parse_args()
    known = {s.value.lower(): s for s in Strategy}
    strategies = [known[name.strip().lower()] for name in args.strategies.split(",")]
    base = SimConfig(
        nodes=args.nodes,
        items=args.items,
        speed_spread=args.spread,
        deaths=args.deaths,
        seed=args.seed,
    )
    print(
        f"{args.items:,} items (work 0.5-1.5 units) on {args.nodes:,} nodes, speeds 1-"
        f"{args.spread:g} units/s, dispatch latency {base.latency * 1000:g} ms, "
        f"{args.deaths} deaths, seed {args.seed}"
    )
    print(HEADER)
    runs: list[tuple[str, Strategy, float]] = []
    for strategy in strategies:
        runs.append((f"{strategy.value} exact", strategy, 0.0))
        if strategy is not Strategy.QUEUED:  # Queued never reads a rate
            runs.append((f"{strategy.value} ±{args.error:.0%}", strategy, args.error))
    reports: dict[tuple[Strategy, float], SimReport] = {}
    for name, strategy, error in runs:
        config = SimConfig(**{**base.__dict__, "strategy": strategy, "benchmark_error": error})
        began = time.perf_counter()
        report = simulate(config)
        print(row(name, report, time.perf_counter() - began), flush=True)
        reports[strategy, error] = report
    exact = reports.get((Strategy.ADAPTIVE, 0.0))
    wrong = reports.get((Strategy.ADAPTIVE, args.error))
    if exact is None or wrong is None:
        return
    print()
    print("goals (issue 4):")
    verdict = "met" if exact.efficiency >= 0.95 and exact.decision_ms_median < 1.0 else "MISSED"
    print(
        f"  Adaptive E >= 0.95 with median decision < 1 ms: {verdict} "
        f"(E {exact.efficiency:.4f}, median {exact.decision_ms_median:.4f} ms)"
    )
    gap = (exact.efficiency - wrong.efficiency) * 100
    verdict = "met" if abs(gap) <= 5.0 else "MISSED"
    print(
        f"  Adaptive with benchmarks ±{args.error:.0%} within 5 points of exact: {verdict} "
        f"(E {wrong.efficiency:.4f} vs {exact.efficiency:.4f}: {gap:+.2f} points)"
    )
    for strategy in (Strategy.BALANCED, Strategy.QUEUED):
        other = reports.get((strategy, 0.0))
        if other is not None:
            print(f"  beside it, {strategy.value} E {other.efficiency:.4f} (exact benchmarks)")


if __name__ == "__main__":
    main()
