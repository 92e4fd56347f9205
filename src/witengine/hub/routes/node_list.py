"""`GET /nodes`: every node the hub knows, as JSON made mostly of parts kept from the last list.

A farm's dashboards and tools ask for the whole list every second or so, and building 500 entries
each time (the models, their validation and their JSON) held the hub's event loop for tens of
milliseconds on every request. A node's entry is JSON in parts: what changes with its hello, pool
and policy, its rates, and its reputation are each kept while what they are made from is the same
(compared each time, never guessed), and what changes all the time on a busy farm (its state,
running and committed items) is written anew, so the list is always live.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import TypeAdapter

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


# An entry's parts that change with the node's hello, pool or policy: kept as JSON.
_STATIC = {
    "id", "name", "policy", "slots", "capabilities", "plugins", "unmet", "status_url", "pool",
    "tier", "owner",
}  # fmt: skip
_RATES: TypeAdapter[list[NodeRate]] = TypeAdapter(list[NodeRate])
_REPUTATION: TypeAdapter[list[NodeReputation]] = TypeAdapter(list[NodeReputation])


@dataclass(frozen=True)
class _Parts:
    """What one node's entry is made from."""

    record: NodeRecord
    hello: NodeHello
    facts: NodeFacts
    policy: dict[str, str]
    done: int
    rates: list[RateRecord]
    reputation: list[ReputationRecord]
    trusted: bool


@dataclass(frozen=True)
class _Kept:
    """A node's entry as JSON in three parts, each with what it was made from."""

    record: NodeRecord
    policy: dict[str, str]
    trusted: bool
    static: bytes  # the `_STATIC` fields, without braces
    rates: list[RateRecord]
    rates_json: bytes
    reputation: list[ReputationRecord]
    reputation_json: bytes


class NodeListing:
    """The node list as models or as JSON; as JSON, each node's parts that rarely change (its
    hello, pool and policy; its rates; its reputation) kept while what they are made from is
    the same, and the rest (state, running and committed items) written each time. One per
    hub: its routes share it."""

    def __init__(self) -> None:
        self._hellos = HelloBook()
        self._kept: dict[str, _Kept] = {}

    def summaries(self, dispatcher: Dispatcher, store: Store) -> list[NodeSummary]:
        return [_summary(parts) for parts in self._parts(dispatcher, store)]

    def json(self, dispatcher: Dispatcher, store: Store) -> bytes:
        """The list as `GET /nodes` answers it: a JSON array of the entries."""
        kept, self._kept = self._kept, {}
        entries = []
        for parts in self._parts(dispatcher, store):
            was = self._kept[parts.record.id] = _kept(parts, kept.get(parts.record.id))
            live = {
                "state": node_state(parts.facts),
                "reason": state_reason(parts.facts),
                "running": parts.facts.running,
                "done": parts.done,
                "last_seen": parts.record.last_seen,
            }
            entries.append(
                b'{%s,%s,"rates":%s,"reputation":%s}'
                % (was.static, json.dumps(live)[1:-1].encode(), was.rates_json, was.reputation_json)
            )
        return b"[" + b",".join(entries) + b"]"

    def _parts(self, dispatcher: Dispatcher, store: Store) -> list[_Parts]:
        view = dispatcher.view
        trusted = {pool.name for pool in store.list_pools() if pool.trusted}
        reputation: dict[str, list[ReputationRecord]] = {}
        for earned in store.list_reputation():
            reputation.setdefault(earned.node_id, []).append(earned)
        records = store.list_nodes()
        return [
            _Parts(
                record=record,
                hello=hello,
                facts=view.facts(record.id),
                policy=view.policy(record.id) or hello.status.policy,
                done=view.done(record.id),
                rates=view.benchmarks(record.id),
                reputation=reputation.get(record.id, []),
                trusted=record.pool in trusted,
            )
            for record, hello in zip(records, self._hellos.hellos(records), strict=True)
        ]


def _kept(parts: _Parts, was: _Kept | None) -> _Kept:
    """The node's kept parts, each made again when what it is made from changed."""
    static = (
        was.static
        if was is not None
        and (was.record is parts.record or was.record == parts.record)
        and was.policy == parts.policy
        and was.trusted == parts.trusted
        else _summary(parts).model_dump_json(include=_STATIC).encode()[1:-1]
    )
    rates_json = (
        was.rates_json
        if was is not None and was.rates == parts.rates
        else _RATES.dump_json([rate_entry(r) for r in parts.rates])
    )
    reputation_json = (
        was.reputation_json
        if was is not None and was.reputation == parts.reputation
        else _REPUTATION.dump_json([reputation_entry(r) for r in parts.reputation])
    )
    return _Kept(
        parts.record,
        parts.policy,
        parts.trusted,
        static,
        parts.rates,
        rates_json,
        parts.reputation,
        reputation_json,
    )


def _summary(parts: _Parts) -> NodeSummary:
    """One node's entry, made from values already validated (the store's record, the hello as
    validated, the dispatcher's read model)."""
    record, hello = parts.record, parts.hello
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
