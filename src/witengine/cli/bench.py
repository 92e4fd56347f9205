"""`wit bench`: the benchmarks of this machine's activities, run here; and the rate tables of
`wit nodes` (a summary per activity) and `wit nodes --bench` (every node's rates). Measuring
lives in `witengine.node`; this module only runs it and shows what it measured."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from witengine.cli.exits import EXIT_FAILED, EXIT_USAGE

if TYPE_CHECKING:  # rich loads only when a table is shown: `wit check` stays quick
    from rich.table import Table


def rate_text(rate: float) -> str:
    """A rate in three significant digits, with k, M or G past ten thousand: `43.3 k`."""
    rate = float(f"{rate:.3g}")  # first, so that 999,999 reads 1 M, not 1e+03 k
    for above, size, suffix in ((1e9, 1e9, " G"), (1e6, 1e6, " M"), (1e4, 1e3, " k")):
        if rate >= above:
            return f"{rate / size:.3g}{suffix}"
    return f"{rate:.3g}" if rate < 100 else f"{rate:.0f}"


def bench(
    activity: Annotated[
        list[str] | None,
        typer.Option(
            "--activity", help="Benchmark only this activity (repeatable).", show_default=False
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    min_seconds: Annotated[
        float,
        typer.Option("--min-seconds", min=0.0, help="The least time each benchmark measures for."),
    ] = 1.5,
    speed: Annotated[
        float,
        typer.Option(min=0.001, help="Synthetic speed, as `wit node --speed` (Compute.Work only)."),
    ] = 1.0,
) -> None:
    """Run the benchmarks of the activities this machine can run, one at a time, as a node does
    in idle time, and show each rate in its activity's unit per second."""
    from witengine.node.probe import probe_capabilities
    from witengine.node.rates import benchmark_targets, offered_activities
    from witengine.plugins.detection import hidden_tools, tools_to_look_for
    from witengine.plugins.registry import build_library, discover

    plugins = discover()
    library = build_library(plugins)
    unknown = sorted(set(activity or ()) - set(library.activities))
    if unknown:
        print(f"wit bench: no activity named {', '.join(unknown)}", file=sys.stderr)
        raise typer.Exit(EXIT_USAGE)
    capabilities = probe_capabilities(
        tools=tools_to_look_for(tool for plugin in plugins for tool in plugin.tools),
        hidden=hidden_tools(os.environ),
    )
    _, unmet = offered_activities(library, capabilities)
    targets = benchmark_targets(library, capabilities)
    if activity:
        wanted = set(activity)
        lacking = sorted(wanted - {t.activity for t in targets} - set(unmet))
        for name in lacking:
            print(f"{name}: its plugin declares no benchmark", file=sys.stderr)
        targets = [t for t in targets if t.activity in wanted]
        unmet = {name: reasons for name, reasons in unmet.items() if name in wanted}
    refs = [p.ref for p in plugins]
    for name, reasons in sorted(unmet.items()):
        print(f"{name}: skipped: {'; '.join(reasons)}", file=sys.stderr)
    results, failures = asyncio.run(_measure_all(refs, targets, min_seconds, speed, as_json))
    if as_json:
        print(json.dumps({"benchmarks": results, "unmet": unmet, "failed": failures}))
    else:
        from rich.console import Console

        Console(highlight=False).print(bench_table(results, speed))
    raise typer.Exit(EXIT_FAILED if failures else 0)


async def _measure_all(
    refs: Sequence[str], targets: Sequence[Any], min_seconds: float, speed: float, quiet: bool
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    from witengine.node.benchmark import BenchmarkFailed, run_benchmark

    results: list[dict[str, Any]] = []
    failures: dict[str, str] = {}
    for target in targets:  # one at a time: they would slow each other down
        if not quiet:
            print(f"{target.activity}…", file=sys.stderr, flush=True)
        try:
            found = await run_benchmark(refs, target.activity, min_seconds=min_seconds, speed=speed)
        except BenchmarkFailed as error:
            failures[target.activity] = str(error)
            print(f"{target.activity}: failed: {error}", file=sys.stderr)
            continue
        results.append(
            {
                "activity": found.activity,
                "plugin": target.plugin,
                "plugin_version": target.version,
                "unit": found.unit,
                "rate": found.rate,
                "elapsed": found.elapsed,
                "iterations": found.iterations,
                "waited": found.waited,
            }
        )
    return results, failures


def bench_table(results: Iterable[dict[str, Any]], speed: float = 1.0) -> Table:
    from rich.markup import escape
    from rich.table import Table

    title = "Benchmarks" + (f" (speed {speed:g})" if speed != 1.0 else "")
    table = Table(title=title)
    for column in ("activity", "unit", "rate/s", "runs", "seconds"):
        table.add_column(
            column, justify="right" if column in ("rate/s", "runs", "seconds") else "left"
        )
    for result in results:
        table.add_row(
            escape(result["activity"]),
            escape(result["unit"]),
            rate_text(result["rate"]),
            str(result["iterations"]),
            f"{result['elapsed']:.2f}",
        )
    return table


def rates_table(nodes: Iterable[Any]) -> Table:
    """Each node's benchmark rates, one row per (node, activity), and what a node cannot run."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="Benchmark rates (units per second)")
    table.add_column("node", overflow="fold")
    table.add_column("activity", overflow="fold")
    table.add_column("rate/s", justify="right")
    table.add_column("unit", overflow="fold")
    for node in nodes:
        for rate in node.rates:
            table.add_row(escape(node.name), escape(rate.activity), rate_text(rate.rate), rate.unit)
        for activity, reasons in sorted(node.unmet.items()):
            table.add_row(
                escape(node.name),
                escape(activity),
                "[dim]-[/dim]",
                f"[dim]{escape('; '.join(reasons))}[/dim]",
            )
    return table


def rates_summary_table(nodes: Iterable[Any]) -> Table | None:
    """One row per activity: how many nodes have a rate, the slowest, median and fastest."""
    from rich.markup import escape
    from rich.table import Table

    by_activity: dict[tuple[str, str], list[float]] = {}
    for node in nodes:
        for rate in node.rates:
            by_activity.setdefault((rate.activity, rate.unit), []).append(rate.rate)
    if not by_activity:
        return None
    table = Table(title="Benchmark rates per second (wit nodes --bench: by node)")
    table.add_column("activity", overflow="fold")
    table.add_column("unit", overflow="fold")
    for column in ("nodes", "slowest", "median", "fastest"):
        table.add_column(column, justify="right")
    for (activity, unit), rates in sorted(by_activity.items()):
        table.add_row(
            escape(activity),
            escape(unit),
            str(len(rates)),
            rate_text(min(rates)),
            rate_text(statistics.median(rates)),
            rate_text(max(rates)),
        )
    return table
