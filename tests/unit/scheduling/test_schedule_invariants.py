"""Every strategy's invariants as hypothesis state machines over the pure schedule.

A fake driver plays nodes that join, leave, ask for work, return results (ok or failing, late,
or twice), heartbeat, die, let leases expire, and report windows that close and owners who
come back, on a fake `now`. After every step: no item is
lost (each is committed, pending, or out in a batch), none is committed twice, the batches the
schedule holds are exactly those the driver believes are out, expired leases gave their items
back, duplicates stay within the budget, blocklisted nodes hold and get no work, the map is
done exactly when every item is committed, and the batch the ledger's index predicts to finish
last is the one a look at every batch finds, and no batch is planned past its node's window.
At the end, fresh nodes finish whatever is left.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from witengine.scheduling.core import Candidate, Grant, MapSchedule, Verdict
from witengine.scheduling.ledger import STALL_ITEMS, Batch, Ledger
from witengine.scheduling.scheduler import Scheduler
from witengine.scheduling.settings import SchedulerSettings
from witengine.scheduling.strategy import Strategy

ACTIVITY = "Compute.Work"
PLUGIN = "compute"
JOB = "job_1"
NODES = [f"node_{k}" for k in range(5)]
# Who answers for each node's results: node_0 and node_1 are one owner's, a replica of an item
# either answered goes to neither.
OWNERS = {"node_0": "owner_a", "node_1": "owner_a", "node_2": "owner_b"}
KNOBS = SchedulerSettings(dispatch_overhead=0.01, min_lease=5.0, max_lease=60.0, lease_factor=2.0)
MACHINE = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,  # a loaded machine must not fail a pure test
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@dataclass
class Out:
    """A batch as the driver sees it."""

    grant: Grant
    deadline: float
    reported: set[int] = field(default_factory=set)


class ScheduleMachine(RuleBasedStateMachine):
    strategy: Strategy = Strategy.ADAPTIVE

    def __init__(self) -> None:
        super().__init__()
        self.scheduler = Scheduler(KNOBS)
        self.now = 0.0
        self.count = 0
        self.candidates: dict[str, Candidate] = {}
        self.out: dict[str, Out] = {}
        self.ended: set[str] = set()  # batches the schedule dropped: their results are late
        self.committed: set[int] = set()
        self.excluded: dict[int, set[str]] = {}  # reopened items -> owners they may not go to
        self.failures: Counter[str] = Counter()  # failures counted against each node
        self.failed = False

    @initialize(
        work=st.lists(st.sampled_from([0.5, 1.0, 2.0, 4.0]), min_size=1, max_size=40),
        rates=st.lists(st.sampled_from([None, 0.5, 1.0, 4.0, 16.0]), min_size=5, max_size=5),
        present=st.sets(st.sampled_from(NODES), min_size=1),
        slots=st.sampled_from([1, 1, 2]),
        max_nodes=st.sampled_from([None, None, 2]),
    )
    def open_map(
        self,
        work: list[float],
        rates: list[float | None],
        present: set[str],
        slots: int,
        max_nodes: int | None,
    ) -> None:
        for node_id, rate in zip(NODES, rates, strict=True):
            if rate is not None:
                self.scheduler.rates.benchmark(node_id, ACTIVITY, rate)
        self.candidates = {n: Candidate(n, slots, owner=owner(n)) for n in sorted(present)}
        self.count = len(work)
        self.schedule: MapSchedule = self.scheduler.schedule(
            JOB,
            ACTIVITY,
            PLUGIN,
            work,
            self.strategy,
            list(self.candidates.values()),
            now=self.now,
            max_nodes=max_nodes,
        )

    # -------------------------------------------------------------- the driver

    def blocked(self, node_id: str) -> bool:
        return self.scheduler.blocklist.blocked(JOB, node_id, PLUGIN)

    def drop(self, batch_ids: list[str] | tuple[str, ...]) -> None:
        for batch_id in batch_ids:
            assert batch_id in self.out, f"the schedule dropped {batch_id}, unknown to the driver"
            del self.out[batch_id]
            self.ended.add(batch_id)

    def live(self) -> bool:
        return not self.failed and not self.schedule.done

    @rule(node_id=st.sampled_from(NODES))
    def join(self, node_id: str) -> None:
        self.candidates[node_id] = Candidate(node_id, owner=owner(node_id))
        self.schedule.candidates_changed(list(self.candidates.values()), self.now)

    @rule(node_id=st.sampled_from(NODES))
    def leave(self, node_id: str) -> None:
        self.candidates.pop(node_id, None)
        self.schedule.candidates_changed(list(self.candidates.values()), self.now)

    @rule(
        node_id=st.sampled_from(NODES),
        window=st.sampled_from([None, 0.0, 0.3, 2.0, 30.0]),
        suspended=st.booleans(),
    )
    def availability(self, node_id: str, window: float | None, suspended: bool) -> None:
        """A node reports when its window closes, and maybe that its owner came back."""
        if node_id not in self.candidates:
            return
        old = self.candidates[node_id]
        self.candidates[node_id] = Candidate(
            node_id,
            old.slots,
            window_end=None if window is None else self.now + window,
            suspended_at=self.now if suspended else old.suspended_at,
            owner=owner(node_id),
        )
        self.schedule.candidates_changed(list(self.candidates.values()), self.now)

    @precondition(live)
    @rule(node_id=st.sampled_from(NODES))
    def request(self, node_id: str) -> None:
        before = self.schedule.snapshot()
        worker = self.candidates.get(node_id, Candidate(node_id, owner=owner(node_id)))
        grant = self.schedule.request(worker, self.now)
        if grant is None:
            return
        assert not self.blocked(node_id), "a blocklisted node got work"
        assert grant.node_id == node_id
        assert grant.indices, "an empty batch"
        assert len(set(grant.indices)) == len(grant.indices)
        assert not set(grant.indices) & self.committed, "committed items sent again"
        for index in grant.indices:
            assert owner(node_id) not in self.excluded.get(index, ()), "a replica to its owner"
        end = worker.window_end
        assert end is None or self.now + grant.predicted_seconds <= end + 1e-9, "past its window"
        event(f"{'duplicate' if grant.duplicate else 'batch'} granted")
        if grant.duplicate:
            elsewhere = set().union(*before.out.values()) if before.out else set()
            assert set(grant.indices) <= elsewhere, "a duplicate of items out nowhere"
        else:
            assert set(grant.indices) <= before.pending, "items sent that were not pending"
        assert grant.lease_seconds >= KNOBS.min_lease
        self.out[grant.batch_id] = Out(grant, self.now + grant.lease_seconds)

    @precondition(lambda self: self.out and self.live())
    @rule(data=st.data(), ok=st.sampled_from([True, True, True, False]))
    def result(self, data: st.DataObject, ok: bool) -> None:
        batch_id = data.draw(st.sampled_from(sorted(self.out)))
        out = self.out[batch_id]
        unreported = [i for i in out.grant.indices if i not in out.reported]
        if not unreported:
            return
        index = data.draw(st.sampled_from(unreported))
        out.reported.add(index)
        outcome = self.schedule.result(
            batch_id, index, ok=ok, now=self.now, seconds=0.5, error="boom"
        )
        if ok:
            if index in self.committed:
                assert outcome.verdict is Verdict.IGNORE, "an item committed twice"
            else:
                assert outcome.verdict in (Verdict.COMMIT, Verdict.IGNORE)
            if outcome.verdict is Verdict.COMMIT:
                self.committed.add(index)
                self.excluded.pop(index, None)
        else:
            assert outcome.verdict in (Verdict.RETRY, Verdict.FAIL, Verdict.IGNORE)
            if outcome.verdict is not Verdict.IGNORE:
                self.failures[out.grant.node_id] += 1
            if outcome.verdict is Verdict.FAIL:
                event("map failed")
                self.failed = True
                assert self.schedule.failure == (index, "boom")
                return
        self.drop(outcome.cancel)

    @precondition(live)
    @rule(data=st.data())
    def progress(self, data: st.DataObject) -> None:
        """A few nodes ask and a few results arrive: reaches the end of a map sooner."""
        for node_id in data.draw(st.lists(st.sampled_from(NODES), max_size=3)):
            if self.live():
                self.request(node_id)
        for _ in range(data.draw(st.integers(0, 4))):
            if self.out and self.live():
                self.result(data, ok=True)

    @precondition(lambda self: self.ended)
    @rule(data=st.data(), ok=st.booleans())
    def late_result(self, data: st.DataObject, ok: bool) -> None:
        batch_id = data.draw(st.sampled_from(sorted(self.ended)))
        index = data.draw(st.integers(0, self.count - 1))
        outcome = self.schedule.result(batch_id, index, ok=ok, now=self.now, seconds=0.5)
        assert outcome.verdict is Verdict.IGNORE

    @precondition(lambda self: self.committed and self.live())
    @rule(data=st.data(), answered=st.sets(st.sampled_from(NODES), min_size=1, max_size=3))
    def reopen(self, data: st.DataObject, answered: set[str]) -> None:
        """A committed item needs another answer: the owners of `answered` gave theirs."""
        index = data.draw(st.sampled_from(sorted(self.committed)))
        owners = {owner(n) for n in answered}
        self.schedule.reopen(index, owners, self.now)
        self.committed.discard(index)
        self.excluded[index] = owners
        event("replica reopened")
        for node_id in self.candidates:  # nodes the schedule was told of, with their owners
            assert self.schedule.may_run(index, node_id) == (owner(node_id) not in owners)

    @precondition(lambda self: self.out)
    @rule(data=st.data())
    def heartbeat(self, data: st.DataObject) -> None:
        batch_id = data.draw(st.sampled_from(sorted(self.out)))
        self.schedule.heartbeat(batch_id, self.now)
        out = self.out[batch_id]
        out.deadline = max(out.deadline, self.now + out.grant.lease_seconds)

    @precondition(lambda self: self.out)
    @rule(data=st.data())
    def batch_ended(self, data: st.DataObject) -> None:
        batch_id = data.draw(st.sampled_from(sorted(self.out)))
        self.schedule.batch_ended(batch_id, self.now)
        self.drop([batch_id])

    @rule(seconds=st.sampled_from([0.1, 0.5, 1.0, 5.0, 20.0, 120.0]))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds
        expired = self.schedule.expire(self.now)
        due = {b for b, out in self.out.items() if out.deadline <= self.now}
        assert set(expired) == due, "expired batches are exactly those past their lease"
        self.drop(expired)

    @rule(node_id=st.sampled_from(NODES))
    def node_lost(self, node_id: str) -> None:
        self.candidates.pop(node_id, None)
        dropped = self.schedule.node_lost(node_id, self.now)
        assert {b for b, o in self.out.items() if o.grant.node_id == node_id} == set(dropped)
        self.drop(dropped)
        self.schedule.candidates_changed(list(self.candidates.values()), self.now)

    @rule(node_id=st.sampled_from(NODES))
    def drain(self, node_id: str) -> None:
        kept = self.schedule.cancel_node(node_id)
        assert {b for b, o in self.out.items() if o.grant.node_id == node_id} == set(kept)
        assert self.schedule.request(Candidate(node_id, owner=owner(node_id)), self.now) is None

    # -------------------------------------------------------------- invariants

    @invariant()
    def holds(self) -> None:
        """Every invariant, on one snapshot (a snapshot costs O(items))."""
        if not self.count:
            return
        snapshot = self.schedule.snapshot()
        assert snapshot.duplicates_granted <= snapshot.duplicate_budget, "too many duplicates"
        assert self.schedule.done == (len(self.committed) == self.count)
        if self.failed:
            return
        # No item lost or committed twice: each is committed, pending, or out.
        assert snapshot.committed == self.committed
        out = set().union(*snapshot.out.values()) if snapshot.out else set()
        assert not snapshot.pending & out, "an item pending and out at once"
        assert not (snapshot.pending | out) & self.committed, "a committed item still scheduled"
        everything = snapshot.committed | snapshot.pending | out
        assert everything == set(range(self.count)), "an item was lost"
        # The schedule holds exactly the batches the driver thinks are out: expired, lost,
        # ended and cancelled ones are gone from both.
        assert set(snapshot.out) == set(self.out)
        for batch_id, items in snapshot.out.items():
            out_batch = self.out[batch_id]
            assert not self.blocked(out_batch.grant.node_id), "a blocklisted node holds work"
            if not items:  # every item settled: the node may stop unless it reported all
                reported = out_batch.reported == set(out_batch.grant.indices)
                assert reported, f"{batch_id} runs in vain: it should have been cancelled"

    @invariant()
    def the_index_names_the_batch_predicted_to_finish_last(self) -> None:
        """What Adaptive duplicates near the end: the index must agree with a scan of every
        batch at the rates the ledger plans with now (results, copies and new guesses move
        them)."""
        ledger = self.schedule
        if not self.count or not isinstance(ledger, Ledger):
            return
        best: tuple[tuple[bool, float, int], Batch] | None = None
        for batch in ledger._batches.values():
            if batch.spare_work <= 0.0:
                continue
            stall_at = batch.progress_at + STALL_ITEMS * batch.pace + KNOBS.min_batch_seconds
            stall_at = min(stall_at, ledger._owners.absent_since(batch.node_id, stall_at))  # left
            stalled = self.now > stall_at
            rank = (stalled, ledger._predicted_end(batch, self.now), -batch.serial)
            if best is None or rank > best[0]:
                best = (rank, batch)
        found = ledger._latest(self.now, skip="")
        assert (found.item if found else None) is (best[1] if best else None)
        if found is not None and best is not None:
            assert (found.stalled, found.end) == best[0][:2]

    @invariant()
    def the_eta_is_what_a_look_at_every_batch_gives(self) -> None:
        ledger = self.schedule
        if not self.count or self.failed or not isinstance(ledger, Ledger):
            return
        eta = ledger.remaining_seconds(self.now)
        if ledger.done or ledger._capacity <= 0.0:
            assert eta == (0.0 if ledger.done else None)
            return
        batches = ledger._batches.values()
        last = max((ledger._predicted_end(b, self.now) for b in batches), default=self.now)
        spare = sum(b.spare_work for b in batches)
        spread = (ledger._pending_work() + ledger._replica_work + spare) / ledger._capacity
        assert eta == pytest.approx(max(last - self.now, spread), rel=1e-9, abs=1e-9)

    def teardown(self) -> None:
        """Fresh nodes (and those still here) finish the map: nothing was stranded."""
        if not self.count or self.failed:
            return
        fresh = [Candidate(f"node_fresh_{k}") for k in range(2)]
        for worker in fresh:
            self.scheduler.rates.benchmark(worker.id, ACTIVITY, 2.0)
        # The night is over: the nodes still here may work as long as it takes.
        everyone = [
            *(Candidate(c.id, c.slots, owner=c.owner) for c in self.candidates.values()),
            *fresh,
        ]
        self.schedule.candidates_changed(everyone, self.now)
        for _ in range(4 * self.count + 20):
            if self.schedule.done:
                break
            for worker in everyone:
                grant = self.schedule.request(worker, self.now)
                if grant is not None:
                    excluded = [self.excluded.get(i, set()) for i in grant.indices]
                    assert not any(worker.owner in e for e in excluded), "a replica to its owner"
                    self.out[grant.batch_id] = Out(grant, self.now + grant.lease_seconds)
            for batch_id in sorted(self.out):
                out = self.out.get(batch_id)
                if out is None:
                    continue
                for index in out.grant.indices:
                    if index in out.reported or batch_id not in self.out:
                        continue
                    out.reported.add(index)
                    outcome = self.schedule.result(
                        batch_id, index, ok=True, now=self.now, seconds=0.5
                    )
                    if outcome.verdict is Verdict.COMMIT:
                        assert index not in self.committed, "an item committed twice"
                        self.committed.add(index)
                        self.excluded.pop(index, None)
                    self.drop(outcome.cancel)
                if batch_id in self.out:
                    self.schedule.batch_ended(batch_id, self.now)
                    self.drop([batch_id])
            self.now += 1.0
        assert self.schedule.done, f"stranded: {self.schedule.snapshot()}"
        assert self.committed == set(range(self.count))


def owner(node_id: str) -> str:
    return OWNERS.get(node_id, node_id)


class AdaptiveMachine(ScheduleMachine):
    strategy = Strategy.ADAPTIVE


class BalancedMachine(ScheduleMachine):
    strategy = Strategy.BALANCED


class QueuedMachine(ScheduleMachine):
    strategy = Strategy.QUEUED


TestAdaptive = AdaptiveMachine.TestCase
TestAdaptive.settings = MACHINE
TestBalanced = BalancedMachine.TestCase
TestBalanced.settings = MACHINE
TestQueued = QueuedMachine.TestCase
TestQueued.settings = MACHINE
