"""What a site hub offers its parent as one node: its online nodes taken together.

Pure: from the hellos of the site's online nodes and their benchmark rates, the slots,
capabilities, plugins, activities and rates the site's own hello and reports give the parent.
Its capabilities are the union of its nodes' (cores and memory added up, every GPU, every tool
at the highest version a node has); its activities, every activity one of its nodes offers;
its slots, its nodes' slots. A rate is per slot for the parent's scheduler, as a node's is: the
site's is its nodes' rates summed (each times its slots) and divided by the slots it offers, so
that rate times slots is what its nodes do together.

`share` (`wit hub --parent-share`) is the part of that the parent is offered: the slots and the
rates together are scaled by it (at least one slot).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from witengine.protocol import BenchmarkReport, Capabilities, GpuInfo, NodeHello, PluginInfo


@dataclass(frozen=True)
class NodeRates:
    """One node's benchmark rate for an activity, as its hub keeps it."""

    node_id: str
    activity: str
    unit: str
    rate: float
    elapsed: float
    iterations: int
    plugin: str
    plugin_version: str


@dataclass(frozen=True)
class SiteOffer:
    """The site as one node: what its hello says and the rates it reports."""

    slots: int
    capabilities: Capabilities
    plugins: tuple[PluginInfo, ...]
    activities: tuple[str, ...]
    unmet: dict[str, list[str]] = field(default_factory=dict)
    rates: tuple[BenchmarkReport, ...] = ()

    def same_node(self, other: SiteOffer) -> bool:
        """Whether a hello would say the same (the rates aside): a change of slots, plugins or
        activities needs a new hello, a change of rates only new reports."""
        return (
            self.slots == other.slots
            and self.plugins == other.plugins
            and self.activities == other.activities
            and self.capabilities == other.capabilities
        )


def site_offer(
    nodes: Sequence[tuple[str, NodeHello]], rates: Sequence[NodeRates], share: float = 1.0
) -> SiteOffer | None:
    """The offer of a site whose online nodes are `nodes` (id, hello), with their `rates`;
    None when no node is online (the site then offers nothing)."""
    if not 0 < share <= 1:
        raise ValueError(f"the parent's share must be above 0 and at most 1, got {share}")
    if not nodes:
        return None
    total_slots = sum(hello.slots for _, hello in nodes)
    slots = max(1, math.floor(total_slots * share + 1e-9))
    plugins = _plugins([hello for _, hello in nodes])
    versions = {p.name: p.version for p in plugins}
    activities = sorted({a for _, hello in nodes for a in hello.activities})
    unmet = {
        name: sorted({why for _, hello in nodes for why in hello.unmet.get(name, [])})
        for name in sorted({a for _, hello in nodes for a in hello.unmet})
        if name not in activities
    }
    slots_of = {node_id: hello.slots for node_id, hello in nodes}
    summed: dict[tuple[str, str], list[NodeRates]] = {}
    for record in rates:
        if record.node_id not in slots_of or record.activity not in activities:
            continue
        if versions.get(record.plugin) != record.plugin_version:
            continue  # a node on another version of the plugin than the site offers
        summed.setdefault((record.activity, record.unit), []).append(record)
    reports = []
    for (activity, unit), records in sorted(summed.items()):
        together = sum(r.rate * slots_of[r.node_id] for r in records)
        reports.append(
            BenchmarkReport(
                activity=activity,
                plugin=records[0].plugin,
                plugin_version=records[0].plugin_version,
                unit=unit,
                rate=together * share / slots,
                elapsed=max(r.elapsed for r in records),
                iterations=sum(r.iterations for r in records),
            )
        )
    return SiteOffer(
        slots,
        _capabilities([hello.capabilities for _, hello in nodes]),
        tuple(plugins),
        tuple(activities),
        unmet,
        tuple(reports),
    )


def _plugins(hellos: Sequence[NodeHello]) -> list[PluginInfo]:
    """Each plugin once, at the version most of the nodes have (the highest among equals)."""
    counts: dict[str, dict[str, int]] = {}
    for hello in hellos:
        for plugin in hello.plugins:
            by_version = counts.setdefault(plugin.name, {})
            by_version[plugin.version] = by_version.get(plugin.version, 0) + 1
    return [
        PluginInfo(
            name=name,
            version=max(versions, key=lambda v: (versions[v], _version_key(v))),
        )
        for name, versions in sorted(counts.items())
    ]


def _capabilities(machines: Sequence[Capabilities]) -> Capabilities:
    software: dict[str, str] = {}
    for machine in machines:
        for tool, version in machine.software.items():
            if tool not in software or _version_key(version) > _version_key(software[tool]):
                software[tool] = version
    gpus: list[GpuInfo] = [gpu for machine in machines for gpu in machine.gpus]
    return Capabilities(
        os=_joined(m.os for m in machines),
        os_version=_joined(m.os_version for m in machines),
        arch=_joined(m.arch for m in machines),
        cpu_model=_joined(m.cpu_model for m in machines),
        cores=sum(m.cores for m in machines),
        ram_bytes=sum(m.ram_bytes for m in machines),
        gpus=gpus,
        software=dict(sorted(software.items())),
    )


def _joined(values: Iterable[str]) -> str:
    """Distinct non-empty values, in order, joined: "linux" for a site of Linux machines."""
    seen: list[str] = []
    for value in values:
        if value and value not in seen:
            seen.append(value)
    return ", ".join(seen)


def _version_key(version: str) -> tuple[tuple[int, str], ...]:
    """Compares "3.10.2" above "3.9.9": numbers as numbers."""
    return tuple(
        (int(part), "") if part.isdigit() else (-1, part) for part in re.split(r"[.\-+ ]", version)
    )
