"""`wit simulate`: run a scheduling strategy on a simulated farm and print its figures;
`--office`, a night of an office whose machines are lent by their owners; `--untrusted`, a farm
of volunteers whose results are verified, `--cheaters` of them lying; `--sites`, the farm split
over sites whose hubs join a parent hub, beside the same farm flat."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from witengine.scheduling.strategy import Strategy

if TYPE_CHECKING:
    from witengine.scheduling.simulator import SimConfig, SimReport


def simulate(
    nodes: Annotated[
        int | None,
        typer.Option(
            "--nodes",
            min=1,
            help="Simulated nodes [default: 100; --office: 500; --untrusted, --sites: 1000].",
        ),
    ] = None,
    items: Annotated[
        int | None,
        typer.Option(
            "--items",
            min=0,
            help="Items in the map [default: 10000; --office: 50000; --untrusted, --sites: "
            "100000].",
        ),
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
    untrusted: Annotated[
        bool,
        typer.Option(
            "--untrusted",
            help="Every node untrusted, each of its own owner: results are verified before "
            "they count (replicas, spot checks); prints what verifying cost and wrong results "
            "committed.",
        ),
    ] = False,
    cheaters: Annotated[
        float,
        typer.Option(
            "--cheaters",
            min=0.0,
            max=1.0,
            help="With --untrusted: the share of nodes that cheat (random results, copies, "
            "right 95 % of the time, wrong on spot checks' look-alikes, colluding pairs).",
        ),
    ] = 0.0,
    sites: Annotated[
        int | None,
        typer.Option(
            "--sites",
            min=1,
            help="Split the nodes over this many sites, each a hub that joins a parent hub as "
            "one node (the sum of its nodes' rates) and re-plans each batch over its own nodes; "
            "E against the flat farm's bound, beside the flat farm's E.",
        ),
    ] = None,
    site_latency: Annotated[
        float | None,
        typer.Option(
            "--site-latency",
            min=0.0,
            help="With --sites: seconds a message between hubs takes [default: 0.05].",
        ),
    ] = None,
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
    if cheaters and not untrusted:
        print("--cheaters needs --untrusted: cheaters are untrusted nodes", file=sys.stderr)
        raise typer.Exit(2)
    if site_latency is not None and sites is None:
        print("--site-latency needs --sites: it is the latency between hubs", file=sys.stderr)
        raise typer.Exit(2)
    if sites is not None and (office or untrusted):
        print(
            "--sites is a simulation of its own: not with --office or --untrusted", file=sys.stderr
        )
        raise typer.Exit(2)
    if office:
        if untrusted:
            print("--untrusted and --office are separate simulations: pick one", file=sys.stderr)
            raise typer.Exit(2)
        _office(nodes, items, chosen, speed_spread, benchmark_error, seed, as_json)
        return
    large = untrusted or sites is not None
    config = SimConfig(
        nodes=(1_000 if large else 100) if nodes is None else nodes,
        items=(100_000 if large else 10_000) if items is None else items,
        strategy=chosen,
        speed_spread=20.0 if speed_spread is None else speed_spread,
        benchmark_error=benchmark_error or 0.0,
        deaths=deaths,
        departures=departures,
        latency=latency,
        detection_delay=detection,
        seed=seed,
        untrusted=untrusted,
        cheaters=cheaters,
    )
    if sites is not None:
        _sites(config, sites, 0.05 if site_latency is None else site_latency, as_json)
        return
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
    if report.trust is not None:
        title = f"{title}, untrusted"
        rows[:3] = _trust_rows(report)
    _print_table(title, rows)


def _trust_rows(report: SimReport) -> list[tuple[str, str]]:
    """An untrusted farm's figures: what verifying cost, and whether it held."""
    trust = report.trust
    assert trust is not None
    return [
        ("wrong committed", f"{trust.wrong_committed:,} (of {trust.wrong_returned:,} returned)"),
        ("cheaters caught", f"{trust.cheaters_caught:,} of {trust.cheaters:,}"),
        ("honest nodes caught", f"{trust.honest_caught:,}"),
        ("replicated", f"{trust.replicated_share:.1%} of the job's work"),
        ("… first tenth", f"{trust.replicated_share_start:.1%}"),
        ("… last half", f"{trust.replicated_share_last_half:.1%}"),
        ("makespan", f"{report.makespan:,.3f} s"),
        ("lower bound", f"{report.bound:,.3f} s (the work that had to be done)"),
        ("efficiency", f"{report.efficiency:.4f}"),
        ("job alone", f"bound {trust.bound_job:,.3f} s, E {trust.efficiency_job:.4f}"),
    ]


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


def _sites(config: SimConfig, sites: int, site_latency: float, as_json: bool) -> None:
    """`wit simulate --sites`: the farm split over sites under a parent hub, beside it flat."""
    from witengine.scheduling.simulation_sites import simulate_federated
    from witengine.scheduling.simulator import SimulationError

    if sites > config.nodes:
        print(f"--sites {sites} with {config.nodes} nodes: each site needs a node", file=sys.stderr)
        raise typer.Exit(2)
    try:
        report = simulate_federated(config, sites, site_latency=site_latency)
    except SimulationError as error:
        print(f"wit simulate: {error}", file=sys.stderr)
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(report.to_json()))
        return
    federated, flat = report.federated, report.flat
    title = (
        f"{federated.strategy}: {federated.items:,} items on {federated.nodes:,} nodes in "
        f"{sites} sites, {site_latency:g} s between hubs (speeds {config.speed_spread:g}×, "
        f"benchmarks ±{config.benchmark_error:.0%}, seed {config.seed})"
    )
    rows = [
        ("makespan", f"{federated.makespan:,.3f} s", f"{flat.makespan:,.3f} s"),
        ("lower bound", f"{flat.bound:,.3f} s", f"{flat.bound:,.3f} s"),
        ("efficiency", f"{federated.efficiency:.4f}", f"{flat.efficiency:.4f}"),
        ("duplicates", f"{federated.duplicates:,}", f"{flat.duplicates:,}"),
        ("lost work", f"{federated.lost_share:.2%}", f"{flat.lost_share:.2%}"),
        ("batches to nodes", f"{federated.batches:,}", f"{flat.batches:,}"),
        ("batches to sites", f"{report.parent_batches:,}", "-"),
    ]
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("", style="bold")
    table.add_column(f"{sites} sites", justify="right")
    table.add_column("flat", justify="right")
    for row in rows:
        table.add_row(*row)
    Console(highlight=False).print(table)
