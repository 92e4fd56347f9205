"""Office night: a real hub, 500 office nodes whose owners come and go, and a 100,000-item job;
then `wit simulate --office` with 500 machines: E against the availability bound.

The soak's harness (bench/soak.py: a real hub process on 127.0.0.1, `FakeNode`s speaking the real
protocol in `--processes` processes, enrolled with a join token, the job through the real API,
API latency polled and timed, the hub's RSS sampled, the store audited read-only after the run),
with nodes that follow an owner's policy, compressed into seconds. Once every node is connected,
each node's owner clock starts with the job (from seed and node number):
- its window: most are open from the start; a fifth open later (in the first 20 s: unavailable
  until then), and some close early (within 10 to 40 s: they vacate and stay unavailable);
- its owner comes back at random (0.6 times on average in the first 45 s, using the machine for
  0.05 to 6 s): the node suspends at once (its work frozen, its leases kept by heartbeats),
  resumes after `--resume-after` without input, and vacates when suspended `--vacate-after`:
  finished results first, then its batches handed back (`BatchFinished(handed_back=True)`);
  after a vacate it works again `--idle-after` after the last input;
- one node in twenty is a laptop, and half of those leave for good (their link closed) at a
  random moment.
The policy's timings are the node's defaults (15 min idle, 5 min to resume, 10 min to vacate)
divided by 900 (1 s, 0.33 s, 0.67 s), so that owners come and go many times within the job.

It checks nothing was lost, committed twice or wrong (the store), and prints API p99 (goal under
100 ms), the hub's peak RSS (goal under 400 MB), suspensions, items handed back, laptops gone.
Then it runs `wit simulate --office --nodes N` (`--office-nodes`, default 500) and prints E
against the availability bound (goal at least 0.95), items lost and the work thrown away; and
beside it the same office with a scheduler that is not told the nodes' windows and suspensions
(`OfficeConfig.aware`), to show what knowing them saves.
Exit 0 when nothing was lost, twice or wrong and E met its goal; 1 otherwise; 2 when the deadline
passed first. The latency and RSS goals are printed, not enforced (they measure the machine).

    .venv/bin/python bench/office_night.py [--nodes 500] [--items 100000] [--processes 2]
        [--item-ms 20 400] [--deadline 900] [--office-nodes 500] [--owner-span 45]
        [--json] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import soak

from witengine.protocol.states import Availability
from witengine.scheduling.office import OfficeConfig, OwnerRules, shifts
from witengine.scheduling.office import simulate_office as office_unaware
from witengine.scheduling.simulator import Mode
from witengine.testing.fake_nodes import FakeNode, OwnerChange

SCALE = 900.0  # the policy's minutes become this many times shorter
RULES = OwnerRules(
    idle_after=15 * 60 / SCALE, resume_after=5 * 60 / SCALE, vacate_after=10 * 60 / SCALE
)
HORIZON = 3600.0  # seconds: a window that does not close early stays open this long
AVAILABILITY = {
    Mode.RUN: Availability.AVAILABLE,
    Mode.SUSPEND: Availability.SUSPENDED,
    Mode.WAIT: Availability.UNAVAILABLE,
}
REASONS = {
    Mode.RUN: "",
    Mode.SUSPEND: "the owner is back",
    Mode.WAIT: "outside its hours, or suspended too long",
}
P99_GOAL_MS = 100.0
RSS_GOAL_BYTES = 400e6
E_GOAL = 0.95


def owner_plan(
    number: int, seed: int, span: float = 45.0
) -> tuple[list[OwnerChange], float | None]:
    """Node `number`'s owner: what it may do when (seconds after the job starts), and when it
    leaves for good (None: it stays). The owners' comings and goings fall in the first `span`
    seconds (45 by default: the times the module's docstring gives are for it)."""
    rng = random.Random(seed * 7919 + number)
    part = span / 45.0
    opens = 0.0 if rng.random() < 0.8 else rng.uniform(1.0, 20.0) * part
    closes = HORIZON
    if rng.random() < 0.15:
        closes = max(opens + 5.0 * part, rng.uniform(10.0, 40.0) * part)
    visits = []
    count, total = 0, rng.expovariate(1.0)
    while total < 0.6:  # a Poisson count, 0.6 on average
        count, total = count + 1, total + rng.expovariate(1.0)
    for _ in range(count):
        use = math.exp(rng.uniform(math.log(0.05), math.log(6.0)))
        visits.append((rng.uniform(0.0, span), use))
    leaves_at = None
    if rng.random() < 0.05 and rng.random() < 0.5:
        leaves_at = rng.uniform(5.0, 40.0) * part
    found = shifts([(opens, closes)], sorted(visits), RULES, HORIZON)
    changes = [
        OwnerChange(
            shift.at,
            AVAILABILITY[shift.mode],
            None if shift.window_end is None else shift.window_end - shift.at,
            REASONS[shift.mode],
        )
        for shift in found
    ]
    if not changes or changes[0].at > 0:  # before its window opens
        changes.insert(0, OwnerChange(0.0, Availability.UNAVAILABLE, None, "outside its hours"))
    return changes, leaves_at


def office_node(options: argparse.Namespace, number: int, join: str | None) -> FakeNode:
    """The soak's simulated node, following an owner."""
    owner, leaves_at = owner_plan(number, options.seed, options.owner_span)
    return dataclasses.replace(
        soak.soak_node(options, number, join), owner=owner, leaves_at=leaves_at
    )


async def start_owners(groups: list[asyncio.subprocess.Process]) -> None:
    """Every node is connected: the owners' clocks start now, with the job."""
    for group in groups:
        assert group.stdin is not None
        group.stdin.write(b"owners\n")
        await group.stdin.drain()


def simulate_office(machines: int, seed: int) -> dict[str, Any]:
    """`wit simulate --office` on `machines` machines: its figures."""
    command = [sys.executable, "-m", "witengine", "simulate", "--office", "--json"]
    command += ["--nodes", str(machines), "--seed", str(seed)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"wit simulate --office failed: {done.stderr[-2000:]}")
    figures: dict[str, Any] = json.loads(done.stdout)
    return figures


def unaware(machines: int, seed: int) -> dict[str, Any]:
    """The same office with a scheduler that is not told windows and suspensions."""
    config = OfficeConfig(machines=machines, seed=seed, aware=False)
    return office_unaware(config).to_json()


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def report(figures: dict[str, Any], office: dict[str, Any], blind: dict[str, Any]) -> bool:
    """Print the figures; whether nothing was lost, twice or wrong, and E met its goal."""
    clean = soak.report(figures)
    p99 = figures["latency ms"]["all"]["p99"]
    rss = figures["hub peak rss bytes"]
    print(
        f"  owners: {figures['suspensions']:,} suspensions, {figures['items handed back']:,} "
        f"items handed back, {figures['nodes that left']} laptops gone for good"
    )
    print(f"  API p99 {p99:.1f} ms: goal under {P99_GOAL_MS:g} ms {verdict(p99 < P99_GOAL_MS)}")
    print(
        f"  hub peak RSS {rss / 1e6:.0f} MB ({rss / 2**20:.0f} MiB): goal under "
        f"{RSS_GOAL_BYTES / 1e6:.0f} MB {verdict(rss < RSS_GOAL_BYTES)}"
    )
    e = office["efficiency"]
    print(
        f"wit simulate --office, {office['machines']} machines, {office['items']:,} items "
        f"(seed {office['seed']}): finished at {office['finished_at']}, E {e:.4f} of the "
        f"availability bound (goal at least {E_GOAL}: {verdict(e >= E_GOAL)}); items lost "
        f"{office['items_lost']}; work thrown away {office['thrown_seconds'] / 3600:.2f} "
        f"machine-hours ({office['thrown_share']:.2%}); {office['suspensions']} suspended, "
        f"{office['vacates']} vacated, {office['handed_back']} items handed back"
    )
    print(
        f"  the same office, the scheduler not told windows and suspensions: E "
        f"{blind['efficiency']:.4f}; work thrown away {blind['thrown_seconds'] / 3600:.2f} "
        f"machine-hours ({blind['thrown_share']:.2%}); {blind['vacates']} vacated, "
        f"{blind['handed_back']} items handed back"
    )
    return clean and e >= E_GOAL and office["items_lost"] == 0


async def main(options: argparse.Namespace) -> int:
    here = str(Path(__file__).resolve())
    with contextlib.ExitStack() as stack:
        if options.keep is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="wit-bench-office-"))
        else:
            folder = str(options.keep)
            options.keep.mkdir(parents=True)
        try:
            async with asyncio.timeout(options.deadline):
                extra = ("--owner-span", str(options.owner_span))
                figures = await soak.soak(options, Path(folder), here, extra, start_owners)
        except TimeoutError:
            print(f"office: the run did not end within {options.deadline:g} s", file=sys.stderr)
            print((Path(folder) / "hub.log").read_text(errors="replace")[-3000:], file=sys.stderr)
            return 2
    office = simulate_office(options.office_nodes, options.seed)
    blind = unaware(options.office_nodes, options.seed)
    clean = report(figures, office, blind)
    if options.json:
        print(json.dumps({**figures, "office": office, "office unaware": blind}))
    return 0 if clean else 1


def arguments() -> argparse.Namespace:
    parser = soak.parser(__doc__)
    parser.set_defaults(nodes=500, deadline=900.0)
    parser.add_argument(
        "--office-nodes", type=int, default=500, help="machines of `wit simulate --office`"
    )
    parser.add_argument(
        "--owner-span",
        type=float,
        default=45.0,
        help="seconds after the job starts within which owners come and go",
    )
    return parser.parse_args()


if __name__ == "__main__":
    parsed = arguments()
    if parsed.hub:
        asyncio.run(soak.node_group(parsed, office_node))
    else:
        sys.exit(asyncio.run(main(parsed)))
