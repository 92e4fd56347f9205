"""`wit simulate`: run a scheduling strategy on a simulated farm and print its figures;
`--office`, a night of an office whose machines are lent by their owners."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from witengine.scheduling.strategy import Strategy


def simulate(
    nodes: Annotated[
        int | None,
        typer.Option("--nodes", min=1, help="Simulated nodes [default: 100; --office: 500]."),
    ] = None,
    items: Annotated[
        int | None,
        typer.Option("--items", min=0, help="Items in the map [default: 10000; --office: 50000]."),
    ] = None,
    strategy: Annotated[
        str, typer.Option("--strategy", help="adaptive, balanced or queued.")
    ] = "adaptive",
    speed_spread: Annotated[
        float | None,
        typer.Option(
            "--speed-spread",
            min=1.0,
            help="Fastest / slowest node speed [default: 20; --office: 4].",
        ),
    ] = None,
    benchmark_error: Annotated[
        float | None,
        typer.Option(
            "--benchmark-error",
            min=0.0,
            max=0.99,
            help="Benchmarks off by this share (0.3: ±30 %, random sign per node) "
            "[default: 0; --office: 0.3, any share up to it].",
        ),
    ] = None,
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
    office: Annotated[
        bool,
        typer.Option(
            "--office",
            help="A night of an office: machines with hours, owners who come back, laptops "
            "that leave; E against the time each machine was available.",
        ),
    ] = False,
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
    if office:
        _office(nodes, items, chosen, speed_spread, benchmark_error, seed, as_json)
        return
    config = SimConfig(
        nodes=100 if nodes is None else nodes,
        items=10_000 if items is None else items,
        strategy=chosen,
        speed_spread=20.0 if speed_spread is None else speed_spread,
        benchmark_error=benchmark_error or 0.0,
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
    title = (
        f"{report.strategy}: {report.items:,} items on {report.nodes:,} nodes "
        f"(speeds {config.speed_spread:g}×, benchmarks ±{config.benchmark_error:.0%}, "
        f"seed {seed})"
    )
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
    _print_table(title, rows)


def _print_table(title: str, rows: list[tuple[str, str]]) -> None:
    """A report's figures, a name and a value a row, under its title."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for name, value in rows:
        table.add_row(name, value)
    Console(highlight=False).print(table)


def _office(
    nodes: int | None,
    items: int | None,
    strategy: Strategy,
    speed_spread: float | None,
    benchmark_error: float | None,
    seed: int,
    as_json: bool,
) -> None:
    """`wit simulate --office`: one night of an office, and E against its availability."""
    from witengine.scheduling.office import OfficeConfig, simulate_office
    from witengine.scheduling.simulator import SimulationError

    defaults = OfficeConfig()
    try:
        config = OfficeConfig(
            machines=defaults.machines if nodes is None else nodes,
            items=defaults.items if items is None else max(1, items),
            seed=seed,
            strategy=strategy,
            speed_spread=defaults.speed_spread if speed_spread is None else speed_spread,
            benchmark_error=(
                defaults.benchmark_error if benchmark_error is None else benchmark_error
            ),
        )
        report = simulate_office(config)
    except SimulationError as error:
        print(f"wit simulate: {error}", file=sys.stderr)
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(report.to_json()))
        return
    title = (
        f"{report.strategy}: {report.items:,} items on an office of {report.machines:,} "
        f"machines, from 17:00 (seed {seed})"
    )
    rows = [
        ("finished", f"{report.finished_at} ({report.makespan / 3600:,.2f} h)"),
        ("available", f"{report.available_hours:,.0f} machine-hours"),
        ("efficiency E", f"{report.efficiency:.4f} of the availability bound"),
        ("items lost", f"{report.items_lost:,}"),
        (
            "work thrown away",
            f"{report.thrown_seconds / 3600:,.2f} machine-hours ({report.thrown_share:.2%})",
        ),
        ("suspended", f"{report.suspensions:,} batches, {report.resumptions:,} resumed"),
        ("vacated", f"{report.vacates:,} batches, {report.handed_back:,} items handed back"),
        ("laptops gone", f"{report.departures:,}"),
        ("duplicates", f"{report.duplicates:,} items run more than once"),
        (
            "decision",
            f"median {report.decision_ms_median:.4f} ms, p99 {report.decision_ms_p99:.3f} ms",
        ),
    ]
    _print_table(title, rows)
