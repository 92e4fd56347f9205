"""`wit simulate`: run a scheduling strategy on a simulated farm and print its figures."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer


def simulate(
    nodes: Annotated[int, typer.Option("--nodes", min=1, help="Simulated nodes.")] = 100,
    items: Annotated[int, typer.Option("--items", min=0, help="Items in the map.")] = 10_000,
    strategy: Annotated[
        str, typer.Option("--strategy", help="adaptive, balanced or queued.")
    ] = "adaptive",
    speed_spread: Annotated[
        float, typer.Option("--speed-spread", min=1.0, help="Fastest / slowest node speed.")
    ] = 20.0,
    benchmark_error: Annotated[
        float,
        typer.Option(
            "--benchmark-error",
            min=0.0,
            max=0.99,
            help="Benchmarks off by this share (0.3: ±30 %, random sign per node).",
        ),
    ] = 0.0,
    deaths: Annotated[
        int, typer.Option("--deaths", min=0, help="Nodes that crash at a random time.")
    ] = 0,
    departures: Annotated[
        int, typer.Option("--departures", min=0, help="Nodes that leave at a random time.")
    ] = 0,
    latency: Annotated[
        float, typer.Option("--latency", min=0.0, help="Seconds from a grant to its start.")
    ] = 0.002,
    detection: Annotated[
        float,
        typer.Option("--detection-delay", min=0.0, help="Seconds until a crash is noticed."),
    ] = 10.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of every random draw.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Simulate one map on a farm of virtual nodes; print makespan, bound and efficiency."""
    from witengine.scheduling.core import Strategy
    from witengine.scheduling.simulator import SimConfig, SimulationError
    from witengine.scheduling.simulator import simulate as run

    known = {s.value.lower(): s for s in Strategy}
    chosen = known.get(strategy.strip().lower())
    if chosen is None:
        print(f"unknown strategy '{strategy}'; use {', '.join(known)}", file=sys.stderr)
        raise typer.Exit(2)
    config = SimConfig(
        nodes=nodes,
        items=items,
        strategy=chosen,
        speed_spread=speed_spread,
        benchmark_error=benchmark_error,
        deaths=deaths,
        departures=departures,
        latency=latency,
        detection_delay=detection,
        seed=seed,
    )
    try:
        report = run(config)
    except SimulationError as error:
        print(f"wit simulate: {error}", file=sys.stderr)
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(report.to_json()))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"{report.strategy}: {report.items:,} items on {report.nodes:,} nodes "
        f"(speeds {speed_spread:g}×, benchmarks ±{benchmark_error:.0%}, seed {seed})",
        show_header=False,
    )
    table.add_column(style="bold")
    table.add_column(justify="right")
    rows = [
        ("makespan", f"{report.makespan:,.3f} s"),
        ("lower bound", f"{report.bound:,.3f} s"),
        ("efficiency", f"{report.efficiency:.4f}"),
        ("duplicates", f"{report.duplicates:,} items run more than once"),
        ("lost work", f"{report.lost:,.2f} units ({report.lost_share:.2%})"),
        ("batches", f"{report.batches:,}"),
        (
            "decision",
            f"median {report.decision_ms_median:.4f} ms, p99 {report.decision_ms_p99:.3f} ms",
        ),
        ("opening the schedule", f"{report.setup_ms:,.1f} ms"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    Console(highlight=False).print(table)
