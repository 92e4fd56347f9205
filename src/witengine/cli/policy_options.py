"""`wit node`'s owner-policy flags, and `--show-policy`'s report.

The flags are declared here (one `Annotated` type each, in their own help panel) so that
`node()` lists them in a line each; the values are read by `node.policy_file`, the same parser
as the TOML file's. A bad value stops `wit node` with exit code 2 before it connects.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated

import typer

from witengine.cli.exits import EXIT_USAGE

if TYPE_CHECKING:
    from witengine.node.policy import Decision, Observation, Policy
    from witengine.protocol import Capabilities

PANEL = "Owner policy (borrowing a desktop; docs/farm.md)"


def _option(name: str, help: str, metavar: str) -> typer.models.OptionInfo:
    option: typer.models.OptionInfo = typer.Option(
        name, help=help, metavar=metavar, rich_help_panel=PANEL, show_default=False
    )
    return option


PolicyFileOption = Annotated[
    str | None,
    _option(
        "--policy",
        "An owner policy: a TOML file of the settings below, or 'office' for all their "
        "defaults. With it, or any of the flags below, the node works only when the machine "
        "is left alone; without, whenever it runs. The flags override the file.",
        "FILE",
    ),
]
ShowPolicyOption = Annotated[
    bool,
    typer.Option(
        "--show-policy",
        help="Print the effective policy and what the node would do now on this machine, and "
        "why; then exit without connecting.",
        rich_help_panel=PANEL,
    ),
]
HoursOption = Annotated[
    list[str] | None,
    _option(
        "--hours",
        "A window of the week it may work in: 'Mon-Fri 20:00-08:00', 'Sat-Sun'. Repeatable "
        "(default: any time).",
        "WINDOW",
    ),
]
IdleAfterOption = Annotated[
    str | None,
    _option("--idle-after", "Time without input before work starts (default: 15m).", "DURATION"),
]
ResumeAfterOption = Annotated[
    str | None,
    _option(
        "--resume-after",
        "Time without input before suspended work resumes (default: 5m).",
        "DURATION",
    ),
]
VacateAfterOption = Annotated[
    str | None,
    _option(
        "--vacate-after",
        "Time suspended before the work is handed back to the hub (default: 10m).",
        "DURATION",
    ),
]
MaxLoadOption = Annotated[
    str | None,
    _option(
        "--max-load",
        "Load per core of other programs over which work stops (default: 0.3).",
        "LOAD",
    ),
]
OnBatteryOption = Annotated[
    str | None, _option("--on-battery", "stop or run (default: stop).", "stop|run")
]
MaxCoresOption = Annotated[
    str | None,
    _option("--max-cores", "Cores the node may use and advertise (default: all).", "N"),
]
MaxMemoryOption = Annotated[
    str | None,
    _option(
        "--max-memory",
        "Memory each worker may use, and the most the node advertises: 4GiB, 512MB (default: all).",
        "SIZE",
    ),
]
PriorityOption = Annotated[
    str | None,
    _option(
        "--priority",
        "The workers' OS priority: lowest, low, normal, or a niceness 0-19 (default: lowest).",
        "PRIORITY",
    ),
]
IdleSourceOption = Annotated[
    str | None,
    _option(
        "--idle-source",
        "Where input is seen: auto, x11, logind, terminals, windows, macos, none, or "
        "file:PATH, whose modification time is the last input (default: auto).",
        "SOURCE",
    ),
]


def read_policy(file: str | None, flags: Mapping[str, object]) -> Policy | None:
    """The node's policy from `--policy` and the flags (by setting name); exits 2 when bad."""
    from witengine.node.policy_file import PolicyError, load_policy

    try:
        return load_policy(file, flags)
    except PolicyError as error:
        print(f"wit node: {error}", file=sys.stderr)
        raise typer.Exit(EXIT_USAGE) from None


def capped(
    policy: Policy | None, capabilities: Capabilities, threads: int | None, slots: int
) -> tuple[Capabilities, int]:
    """The capabilities the node advertises and the threads one batch is given (by default its
    cores over its slots): max-cores and max-memory cap both, so the node refuses work whose
    requirements exceed them."""
    if policy is not None:
        cores, ram_bytes = policy.caps(capabilities.cores, capabilities.ram_bytes)
        capabilities = capabilities.model_copy(update={"cores": cores, "ram_bytes": ram_bytes})
        threads = min(threads, cores) if threads else None
    return capabilities, threads or max(1, capabilities.cores // max(1, slots))


def report_policy(policy: Policy | None, file: str | None) -> None:
    """`--show-policy`: the effective policy, this machine now, and what the node would do."""
    if policy is None:
        print(
            "no owner policy: this node works whenever it runs (a dedicated machine).\n"
            "--policy FILE (or --policy office) or any policy flag gives it one."
        )
        return
    from witengine.clock import SystemClock
    from witengine.node.idle import idle_source
    from witengine.node.machine import MachineWatch
    from witengine.node.policy import Governor

    watch = MachineWatch(idle_source(policy.idle_source), SystemClock())
    watch.observe()
    time.sleep(1.0)  # others' load is the CPU time spent between two samples
    seen = watch.observe()
    print(describe(policy, file, seen, Governor(policy).decide(seen)))


def describe(policy: Policy, file: str | None, seen: Observation, decision: Decision) -> str:
    """The report `--show-policy` prints."""
    from witengine.durations import time_left
    from witengine.node.policy import Action, ago

    source = f"from {file}" if file else "from the flags"
    lines = [f"owner policy ({source}; flags override the file):"]
    lines += [f"  {key:<13} {value}" for key, value in policy.summary().items()]
    zone = getattr(seen.wall.tzinfo, "key", None) or seen.wall.tzname() or "local time"
    lines.append(f"this machine now ({seen.wall:%a %Y-%m-%d %H:%M}, {zone}):")
    if seen.idle_seconds is None:
        idle = f"no desktop seen ({policy.idle_source}): counts as idle"
    else:
        idle = f"{ago(seen.idle_seconds)} ago ({policy.idle_source})"
    lines.append(f"  {'last input':<13} {idle}")
    lines.append(f"  {'others load':<13} {seen.load_per_core:.2f} per core")
    lines.append(f"  {'power':<13} {'battery' if seen.on_battery else 'mains'}")
    if decision.action is Action.RUN:
        verdict = "take work now"
        if decision.window_seconds is not None:
            verdict += f" (its window closes: {time_left(decision.window_seconds)})"
    else:
        verdict = f"not take work ({decision.availability}): {decision.reason}"
    lines.append(f"the node would {verdict}")
    return "\n".join(lines)
