"""The hub's benchmark rates: per (node, activity, unit), stored, and kept in memory for the
scheduler (`rates_for(activity)`, and `subscribe` for each new one).

A rate counts only for an activity the node offers, measured with the plugin version the node
runs. When a node connects again, its rates for activities it no longer offers (it lost a
requirement, or the plugin) or for other plugin versions are forgotten: the node measures again
and reports the new ones. A node keeps one unit per activity, the one of its latest report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from witengine.hub.store.base import RateRecord, Store
from witengine.protocol import BenchmarkReport, NodeHello

log = logging.getLogger(__name__)
Listener = Callable[[RateRecord], None]


class RateBook:
    """Every node's benchmark rates: written through to the store, read from memory."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._rates: dict[str, dict[tuple[str, str], RateRecord]] = {}  # node -> key -> rate
        for record in store.list_rates():
            self._rates.setdefault(record.node_id, {})[(record.activity, record.unit)] = record
        # node -> (the activities it offers, its plugins' versions), since it last connected
        self._offers: dict[str, tuple[frozenset[str], dict[str, str]]] = {}
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        """Call `listener` with every rate recorded from now on."""
        self._listeners.append(listener)

    def node_joined(self, node_id: str, hello: NodeHello) -> None:
        """A node connected: forget its rates that its activities and plugins no longer match."""
        activities = frozenset(hello.activities)
        versions = {plugin.name: plugin.version for plugin in hello.plugins}
        self._offers[node_id] = (activities, versions)
        known = self._rates.get(node_id, {})
        stale = [
            key
            for key, record in known.items()
            if record.activity not in activities
            or versions.get(record.plugin) != record.plugin_version
        ]
        self._forget(node_id, stale)

    def record(self, node_id: str, report: BenchmarkReport, at: float) -> RateRecord | None:
        """Store a node's report; None when it is not for an activity and version it offers."""
        activities, versions = self._offers.get(node_id, (frozenset(), {}))
        if (
            report.activity not in activities
            or versions.get(report.plugin) != report.plugin_version
        ):
            log.info(
                "ignored a rate from %s for %s (%s %s): not an activity and version it offers",
                node_id,
                report.activity,
                report.plugin,
                report.plugin_version,
            )
            return None
        record = RateRecord(
            node_id,
            report.activity,
            report.unit,
            report.rate,
            report.elapsed,
            report.iterations,
            report.plugin,
            report.plugin_version,
            at,
        )
        known = self._rates.setdefault(node_id, {})
        self._forget(node_id, [k for k in known if k[0] == record.activity and k[1] != record.unit])
        self.store.put_rate(record)
        known[(record.activity, record.unit)] = record
        for listener in self._listeners:
            listener(record)
        return record

    def node_forgotten(self, node_id: str) -> None:
        """The node was removed from the farm (its stored rates go with its record)."""
        self._rates.pop(node_id, None)

    def _forget(self, node_id: str, keys: list[tuple[str, str]]) -> None:
        if not keys:
            return
        self.store.delete_rates(node_id, keys)
        known = self._rates.get(node_id, {})
        for key in keys:
            known.pop(key, None)

    def rates_for(self, activity: str, unit: str | None = None) -> dict[str, float]:
        """Each node's rate for the activity (in `unit` when given), units per second."""
        return {
            node_id: record.rate
            for node_id, known in self._rates.items()
            for (name, record_unit), record in known.items()
            if name == activity and (unit is None or record_unit == unit)
        }

    def of_node(self, node_id: str) -> list[RateRecord]:
        """A node's rates, by activity."""
        return sorted(self._rates.get(node_id, {}).values(), key=lambda r: (r.activity, r.unit))
