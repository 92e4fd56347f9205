"""`GET /nodes`: every node the hub knows, each entry kept while what it is made from is the same.

A farm's dashboards and tools ask for the whole list every second or so, and building 500 entries
each time (states, rates, reputation, the models and their JSON) held the hub's event loop for tens
of milliseconds on every request. A node's entry is made again only when one of its parts changed:
its stored record (hello, last seen, pool, owner), its live facts (connected, drained, running
items, what its owner policy lets it do), its policy, its committed count, its rates, its
reputation or its pool's tier. The parts are compared, never guessed, so the list is always live.
"""

from __future__ import annotations

from dataclasses import dataclass

from witengine.hub.dispatch import Dispatcher
from witengine.hub.dispatch.view import NodeFacts, node_state, state_reason
from witengine.hub.store.base import NodeRecord, RateRecord, ReputationRecord, Store
from witengine.protocol import NodeHello, NodeRate, NodeReputation, NodeSummary
from witengine.protocol.states import PoolTier


class HelloBook:
    """Nodes' hellos as validated, kept while the store gives the same record (validating 500
    hellos again for each list cost some 10 ms of the hub's event loop)."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[object, NodeHello]] = {}

    def hellos(self, records: list[NodeRecord]) -> list[NodeHello]:
        kept, self._kept = self._kept, {}
        found = []
        for record in records:
            was = kept.get(record.id)
            hello = was[1] if was is not None and was[0] is record.info else None
            if hello is None:
                hello = NodeHello.model_validate(record.info)
            self._kept[record.id] = (record.info, hello)
            found.append(hello)
        return found


@dataclass(frozen=True, eq=False)
class _Parts:
    """What one node's entry is made from."""

    record: NodeRecord
    facts: NodeFacts
    policy: dict[str, str]
    done: int
    rates: list[RateRecord]
    reputation: list[ReputationRecord]
    trusted: bool

    def same_as(self, other: _Parts) -> bool:
        return (
            (self.record is other.record or self.record == other.record)
            and self.facts == other.facts
            and self.done == other.done
            and self.trusted == other.trusted
            and self.policy == other.policy
            and self.rates == other.rates
            and self.reputation == other.reputation
        )


class NodeListing:
    """The node list as models or as JSON, each node's entry made again only when its parts
    changed (see the module's docstring). One per hub: its routes share it."""

    def __init__(self) -> None:
        self._hellos = HelloBook()
        self._kept: dict[str, tuple[_Parts, NodeSummary, bytes]] = {}

    def summaries(self, dispatcher: Dispatcher, store: Store) -> list[NodeSummary]:
        return [summary for summary, _ in self._entries(dispatcher, store)]

    def json(self, dispatcher: Dispatcher, store: Store) -> bytes:
        """The list as `GET /nodes` answers it: a JSON array of the entries."""
        return b"[" + b",".join(body for _, body in self._entries(dispatcher, store)) + b"]"

    def _entries(self, dispatcher: Dispatcher, store: Store) -> list[tuple[NodeSummary, bytes]]:
        view = dispatcher.view
        trusted = {pool.name for pool in store.list_pools() if pool.trusted}
        reputation: dict[str, list[ReputationRecord]] = {}
        for earned in store.list_reputation():
            reputation.setdefault(earned.node_id, []).append(earned)
        records = store.list_nodes()
        kept, self._kept = self._kept, {}
        entries = []
        for record, hello in zip(records, self._hellos.hellos(records), strict=True):
            parts = _Parts(
                record=record,
                facts=view.facts(record.id),
                policy=view.policy(record.id) or hello.status.policy,
                done=view.done(record.id),
                rates=view.benchmarks(record.id),
                reputation=reputation.get(record.id, []),
                trusted=record.pool in trusted,
            )
            was = kept.get(record.id)
            if was is not None and was[0].same_as(parts):
                entry = was
            else:
                summary = _summary(parts, hello)
                entry = (parts, summary, summary.model_dump_json().encode())
            self._kept[record.id] = entry
            entries.append((entry[1], entry[2]))
        return entries


def _summary(parts: _Parts, hello: NodeHello) -> NodeSummary:
    """One node's entry, made from values already validated (the store's record, the hello as
    validated, the dispatcher's read model)."""
    record = parts.record
    return NodeSummary.model_construct(
        id=record.id,
        name=record.name,
        state=node_state(parts.facts),
        reason=state_reason(parts.facts),
        policy=parts.policy,
        slots=hello.slots,
        capabilities=hello.capabilities,
        plugins=hello.plugins,
        running=parts.facts.running,
        done=parts.done,
        last_seen=record.last_seen,
        rates=[rate_entry(r) for r in parts.rates],
        unmet=hello.unmet,
        status_url=hello.status_url,
        reputation=[reputation_entry(r) for r in parts.reputation],
        pool=record.pool,
        tier=PoolTier.TRUSTED if parts.trusted else PoolTier.UNTRUSTED,
        owner=record.owner,
    )


def rate_entry(record: RateRecord) -> NodeRate:
    return NodeRate(
        activity=record.activity,
        unit=record.unit,
        rate=record.rate,
        elapsed=record.elapsed,
        iterations=record.iterations,
        plugin_version=record.plugin_version,
        measured_at=record.measured_at,
    )


def reputation_entry(record: ReputationRecord) -> NodeReputation:
    return NodeReputation(
        activity=record.activity,
        state=record.state,
        accepted=record.accepted,
        rejected=record.rejected,
        spot_passed=record.spot_passed,
        spot_failed=record.spot_failed,
        streak=record.streak,
        changed_at=record.changed_at,
    )
