"""The dispatcher with an in-memory store, fake node links (`send` callables that keep what they
are given) and a FakeClock moved by hand: batches as the schedule sizes them, leases, fencing,
retries, the grace period, silent nodes, restarts, pauses, no compatible node, duplicates near
the end, and results committed exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest

from witengine.errors import NoCompatibleNode, PluginError
from witengine.hub.dispatch import Dispatcher, Estimator, uniform_estimate
from witengine.hub.store.base import Commit
from witengine.hub.store.memory import MemoryStore
from witengine.protocol import (
    Ack,
    Assign,
    BatchFinished,
    CancelBatch,
    Capabilities,
    Heartbeat,
    HubMessage,
    NodeHello,
    ResultKey,
    Results,
    TaskResult,
)
from witengine.protocol.states import NodeState
from witengine.runtime.executor import ItemFailed, MapRequest
from witengine.runtime.values import ProcessingOptions
from witengine.scheduling.settings import SchedulerSettings
from witengine.testing.clock import FakeClock

CAPS = Capabilities(os="Linux", arch="x86_64", cores=2, ram_bytes=1 << 30)
ACTIVITY = "Compute.Hash"
QUEUED = ProcessingOptions.make("Queued")  # one item per batch: a test knows what each node gets
NO_DUPLICATES = SchedulerSettings(min_lease=10.0, duplicate_limit=0.0)


def batches_of(size: int, **settings: float) -> SchedulerSettings:
    """Adaptive batches of at least `size` items (one unit each, at 1 unit/s) under a 10 s lease:
    the shortest batch worth sending is `size` overheads of one second."""
    knobs: dict[str, float] = {
        "min_lease": 10.0,
        "lease_factor": 1.0,
        "dispatch_overhead": 1.0,
        "min_batch_overheads": float(size),
        "duplicate_limit": 0.0,
        **settings,
    }
    return SchedulerSettings(**knobs)  # type: ignore[arg-type]


@dataclass
class Link:
    """What the hub sent one node: its `send` callable keeps every message."""

    inbox: list[HubMessage] = field(default_factory=list)
    seen: int = 0  # assigns handed out by `fresh`

    def send(self, message: HubMessage) -> None:
        self.inbox.append(message)

    def assigns(self) -> list[Assign]:
        return [m for m in self.inbox if isinstance(m, Assign)]

    def fresh(self) -> list[Assign]:
        """Assigns not handed out by an earlier call."""
        assigns = self.assigns()
        new, self.seen = assigns[self.seen :], len(assigns)
        return new

    def cancels(self) -> list[str]:
        return [m.batch_id for m in self.inbox if isinstance(m, CancelBatch)]

    def acked(self) -> list[tuple[str, int, int]]:
        return [key for m in self.inbox if isinstance(m, Ack) for key in m.results]

    def indices(self) -> list[int]:
        return sorted(t.index for a in self.assigns() for t in a.tasks)


def hello(name: str, node_id: str | None = None, slots: int = 1, **extra: object) -> NodeHello:
    return NodeHello(
        name=name,
        node_id=node_id,
        slots=slots,
        capabilities=CAPS,
        activities=[ACTIVITY],
        **extra,  # type: ignore[arg-type]
    )


def ok(assign: Assign, value: object = "v", seconds: float = 0.0) -> Results:
    return Results(
        batch_id=assign.batch_id,
        results=[
            TaskResult(
                map_id=t.map_id,
                index=t.index,
                attempt=t.attempt,
                ok=True,
                value=f"{value}{t.index}",
                seconds=seconds,
            )
            for t in assign.tasks
        ],
    )


def only(assign: Assign, indices: Sequence[int], value: object = "v") -> Results:
    """Results for some of a batch's items."""
    full = ok(assign, value)
    return Results(
        batch_id=assign.batch_id, results=[r for r in full.results if r.index in indices]
    )


def failed(assign: Assign, error: str = "boom") -> Results:
    return Results(
        batch_id=assign.batch_id,
        results=[
            TaskResult(map_id=t.map_id, index=t.index, attempt=t.attempt, ok=False, error=error)
            for t in assign.tasks
        ],
    )


def keys(assigns: list[Assign]) -> dict[str, list[ResultKey]]:
    return {
        a.batch_id: [ResultKey(map_id=t.map_id, index=t.index, attempt=t.attempt) for t in a.tasks]
        for a in assigns
    }


def finish(dispatcher: Dispatcher, node_id: str, assign: Assign, value: object = "v") -> None:
    """The node runs a whole batch: its results, then the end of the batch."""
    dispatcher.handle(node_id, ok(assign, value))
    dispatcher.handle(node_id, BatchFinished(batch_id=assign.batch_id))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


def make(
    store: MemoryStore,
    clock: FakeClock,
    scheduler: SchedulerSettings | None = None,
    estimate: Estimator = uniform_estimate,
    **options: float,
) -> Dispatcher:
    settings = {"lease_seconds": 10.0, "grace_seconds": 2.0, "no_node_seconds": 5.0, **options}
    return Dispatcher(store, clock, estimate=estimate, scheduler=scheduler, **settings)


def request(count: int, options: ProcessingOptions | None = None) -> MapRequest:
    return MapRequest(ACTIVITY, [[f"t{i}"] for i in range(count)], options)


async def start_map(
    dispatcher: Dispatcher,
    count: int,
    options: ProcessingOptions | None = None,
    job: str = "job_1",
    seq: int = 1,
) -> asyncio.Task[list[object]]:
    task = asyncio.ensure_future(
        dispatcher.run_map(job, seq, request(count, options), lambda done, total: None)
    )
    await asyncio.sleep(0)
    return task


async def run_out(
    dispatcher: Dispatcher, task: asyncio.Task[list[object]], *nodes: tuple[str, Link]
) -> list[object]:
    """Dispatch and let the nodes finish every batch they are given until the map ends."""
    for _ in range(200):  # bounded: every round settles at least one item
        dispatcher.dispatch()
        for node_id, link in nodes:
            for assign in link.fresh():
                finish(dispatcher, node_id, assign)
        await asyncio.sleep(0)
        if task.done():
            break
    assert task.done(), "the map did not end"
    return await task


async def cancel(task: asyncio.Task[list[object]]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def stored_results(store: MemoryStore) -> dict[int, object]:
    (map_id,) = store.maps
    return store.map_results(map_id)


# ------------------------------------------------------------------ results


async def test_items_come_back_in_input_order_whoever_runs_them(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock)
    a, b = Link(), Link()
    node_a = dispatcher.connect(hello("a"), a.send)
    node_b = dispatcher.connect(hello("b"), b.send)
    task = await start_map(dispatcher, 10)
    # b answers first, so results arrive out of order
    assert await run_out(dispatcher, task, (node_b, b), (node_a, a)) == [f"v{i}" for i in range(10)]
    assert a.assigns() and b.assigns(), "both nodes took part"


async def test_a_result_is_committed_once_even_when_sent_twice(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock)
    link = Link()
    node = dispatcher.connect(hello("a"), link.send)
    task = await start_map(dispatcher, 3, QUEUED)
    dispatcher.dispatch()
    first, second = link.fresh()
    (result,) = ok(first, "first").results
    dispatcher.handle(node, Results(batch_id=first.batch_id, results=[result]))
    again = result._replace(value="second")
    dispatcher.handle(node, Results(batch_id=first.batch_id, results=[again]))
    assert stored_results(store) == {result.index: "first0"}
    finish(dispatcher, node, second)
    assert await run_out(dispatcher, task, (node, link)) == ["first0", "v1", "v2"]
    assert len(link.acked()) == 4, "every result is acknowledged, kept or not"
    assert dispatcher.view.done(node) == 3
    assert dispatcher.work_by_node("job_1") == {"a": [3, 0.0]}


async def test_a_result_sent_twice_in_one_message_counts_once_with_the_stored_value(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock)
    link = Link()
    node = dispatcher.connect(hello("a"), link.send)
    task = await start_map(dispatcher, 1, QUEUED)
    dispatcher.dispatch()
    (assign,) = link.assigns()
    (result,) = ok(assign, "first").results
    twice = [result, result._replace(value="second")]
    dispatcher.handle(node, Results(batch_id=assign.batch_id, results=twice))
    assert stored_results(store) == {0: "first0"}
    assert await task == ["first0"], "the map returns what the store committed"
    assert dispatcher.view.done(node) == 1
    assert len(link.acked()) == 2


async def test_delivery_listeners_hear_what_each_commit_stored_once_and_no_failure(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock)
    heard: list[tuple[str, int, float]] = []
    dispatcher.on_delivered(lambda node_id, items, seconds: heard.append((node_id, items, seconds)))
    link = Link()
    node = dispatcher.connect(hello("a"), link.send)
    task = await start_map(dispatcher, 3, QUEUED)
    dispatcher.dispatch()
    first, second = link.fresh()
    dispatcher.handle(node, ok(first, seconds=2.5))
    dispatcher.handle(node, ok(first, seconds=2.5))  # sent again: stored once, heard once
    dispatcher.handle(node, failed(second))  # a failure to retry delivers nothing
    assert heard == [(node, 1, 2.5)]
    assert await run_out(dispatcher, task, (node, link)) == ["v0", "v1", "v2"]
    assert sum(items for _, items, _ in heard) == 3


async def test_a_late_result_of_a_fenced_off_attempt_is_ignored_and_acknowledged(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock, batches_of(4))
    slow, fast = Link(), Link()
    slow_id = dispatcher.connect(hello("slow"), slow.send)
    task = await start_map(dispatcher, 4)
    dispatcher.dispatch()
    (stale,) = slow.assigns()
    fast_id = dispatcher.connect(hello("fast"), fast.send)
    clock.advance(11)
    dispatcher.expire()
    assert slow.cancels() == [stale.batch_id]
    dispatcher.dispatch()
    (fresh,) = fast.assigns()
    assert fast.indices() == [0, 1, 2, 3]
    assert [t.attempt for t in fresh.tasks] == [2, 2, 2, 2]
    dispatcher.handle(slow_id, ok(stale, "late"))  # the frozen node wakes up: fenced off
    assert stored_results(store) == {}
    assert not task.done()
    assert slow.acked() == [(t.map_id, t.index, 1) for t in stale.tasks], (
        "a fenced result is still acknowledged, so the node can forget it"
    )
    dispatcher.handle(fast_id, ok(fresh, "new"))
    assert await task == ["new0", "new1", "new2", "new3"]
    assert stored_results(store) == {i: f"new{i}" for i in range(4)}
    assert dispatcher.work_by_node("job_1") == {"fast": [4, 0.0]}


class CountingStore(MemoryStore):
    """A MemoryStore that counts its commit transactions and what the nodes were acknowledged
    when each began."""

    def __init__(self, *links: Link) -> None:
        super().__init__()
        self.links = links
        self.commits: list[tuple[int, int]] = []  # (results in it, acks sent before it)

    def commit(self, map_id: str, commits: Sequence[Commit]) -> list[int]:
        acked = sum(len(link.acked()) for link in self.links)
        self.commits.append((len(commits), acked))
        return super().commit(map_id, commits)


async def test_results_arriving_together_are_committed_in_one_transaction_then_acknowledged(
    clock: FakeClock,
) -> None:
    a, b = Link(), Link()
    store = CountingStore(a, b)
    dispatcher = make(store, clock)
    node_a = dispatcher.connect(hello("a"), a.send)
    node_b = dispatcher.connect(hello("b"), b.send)
    task = await start_map(dispatcher, 4, QUEUED)
    dispatcher.dispatch()
    for node_id, link in ((node_a, a), (node_b, b)):
        for assign in link.fresh():
            dispatcher.receive(node_id, ok(assign))
    assert store.commits == [], "nothing is handled before the loop turns"
    await asyncio.sleep(0)
    assert store.commits == [(4, 0)], "one transaction for four results, none acknowledged yet"
    assert len(a.acked()) == len(b.acked()) == 2
    assert len(a.inbox) == 2 + 1, "each node gets one acknowledgement for its messages"
    assert stored_results(store) == {i: f"v{i}" for i in range(4)}
    assert await task == [f"v{i}" for i in range(4)]
    assert dispatcher.work_by_node("job_1") == {"a": [2, 0.0], "b": [2, 0.0]}


async def test_a_batch_whose_items_are_all_answered_ends_with_the_round_that_answered_it(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock, batches_of(2))
    link = Link()
    node = dispatcher.connect(hello("a"), link.send)
    task = await start_map(dispatcher, 4)
    dispatcher.dispatch()
    first, second = link.fresh()
    dispatcher.handle_many([(node, only(first, [first.tasks[0].index]))])
    assert dispatcher.view.lease_alive(first.batch_id), "half answered: still out"
    dispatcher.handle_many([(node, only(first, [first.tasks[1].index]))])
    assert not dispatcher.view.lease_alive(first.batch_id)
    assert dispatcher.view.lease_alive(second.batch_id)
    await cancel(task)


# ------------------------------------------------------------------- leases


async def test_batches_follow_the_schedule_and_a_node_holds_one_more_than_its_slots(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock, SchedulerSettings(min_lease=10.0))
    a, b = Link(), Link()
    nodes = [
        dispatcher.connect(hello("a", slots=2), a.send),
        dispatcher.connect(hello("b", slots=1), b.send),
    ]
    task = await start_map(dispatcher, 20, QUEUED)
    dispatcher.dispatch()
    assert [len(x.tasks) for x in a.assigns()] == [1, 1, 1]
    assert [len(x.tasks) for x in b.assigns()] == [1, 1]
    sent = a.indices() + b.indices()
    assert sorted(sent) == list(range(5)), "each item to one node, in order"
    assigned = {x.batch_id for x in a.assigns() + b.assigns()}
    assert assigned == {b for n in nodes for b in dispatcher.view.batches(n)}
    assert all(x.lease_seconds == 10.0 and x.job_id == "job_1" for x in a.assigns())
    (stored,) = store.maps.values()
    assert stored.tasks[4].attempt == 1, "attempts stored as sent"
    assert stored.tasks[5].attempt == 0
    await cancel(task)


async def test_an_expired_lease_requeues_only_its_unfinished_items(
    store: MemoryStore, clock: FakeClock
) -> None:
    # The dispatcher's own silence check waits longer: the schedule's lease runs out first.
    dispatcher = make(store, clock, batches_of(5), lease_seconds=100.0, no_node_seconds=1000.0)
    slow, fast = Link(), Link()
    slow_id = dispatcher.connect(hello("slow"), slow.send)
    task = await start_map(dispatcher, 5)
    dispatcher.dispatch()
    (batch,) = slow.assigns()
    assert batch.lease_seconds == 10.0
    dispatcher.handle(slow_id, only(batch, [0, 1], "slow"))
    fast_id = dispatcher.connect(hello("fast"), fast.send)
    dispatcher.dispatch()
    assert fast.assigns() == [], "nothing is free while the lease runs"
    clock.advance(9.9)
    dispatcher.expire()
    assert slow.cancels() == []
    clock.advance(0.1)
    dispatcher.expire()
    assert slow.cancels() == [batch.batch_id]
    assert [m.reason for m in slow.inbox if isinstance(m, CancelBatch)] == ["lease expired"]
    dispatcher.dispatch()
    assert fast.indices() == [2, 3, 4]
    assert len(slow.assigns()) == 1, "a node whose lease ran out gets no new work"
    for assign in fast.fresh():
        dispatcher.handle(fast_id, ok(assign, "fast"))
    assert await task == ["slow0", "slow1", "fast2", "fast3", "fast4"]


async def test_a_node_silent_for_a_lease_loses_its_batches_and_gets_no_work_until_heard_from(
    store: MemoryStore, clock: FakeClock
) -> None:
    # The schedule's leases are long: it is the node's silence that ends them.
    farm = SchedulerSettings(min_lease=100.0, duplicate_limit=0.0)
    dispatcher = make(store, clock, farm, no_node_seconds=1000.0)
    link = Link()
    node = dispatcher.connect(hello("frozen", slots=1), link.send)
    task = await start_map(dispatcher, 4, QUEUED)
    dispatcher.dispatch()
    assert link.indices() == [0, 1], "one slot: one batch running and one waiting"
    dispatcher.handle(node, ok(link.assigns()[0]))  # item 0 is done before it freezes
    clock.advance(9)
    dispatcher.expire()
    assert link.cancels() == []
    clock.advance(1)
    dispatcher.expire()  # ten seconds without a word
    assert link.cancels() == [link.assigns()[1].batch_id]
    for _ in range(3):
        dispatcher.dispatch()
        clock.advance(5)
        dispatcher.expire()
    assert len(link.assigns()) == 2, "no new work for a node that has gone quiet"
    assert dispatcher.view.node_state(node) is NodeState.UNRESPONSIVE
    assert stored_results(store) == {0: "v0"}
    dispatcher.handle(node, Heartbeat(batches=[]))  # it speaks again
    assert dispatcher.view.node_state(node) is NodeState.IDLE
    dispatcher.dispatch()
    assert dispatcher.view.node_state(node) is NodeState.BUSY
    fresh = link.assigns()[2:]
    assert sorted(t.index for a in fresh for t in a.tasks) == [1, 2], "only unfinished items"
    assert [t.attempt for a in fresh for t in a.tasks] == [2, 1]
    link.fresh()
    for assign in fresh:
        finish(dispatcher, node, assign)
    assert await run_out(dispatcher, task, (node, link)) == ["v0", "v1", "v2", "v3"]


async def test_heartbeats_keep_a_lease_alive(store: MemoryStore, clock: FakeClock) -> None:
    dispatcher = make(store, clock)
    link = Link()
    node = dispatcher.connect(hello("a"), link.send)
    task = await start_map(dispatcher, 2, QUEUED)
    dispatcher.dispatch()
    assigns = link.assigns()
    for _ in range(5):
        clock.advance(8)
        dispatcher.handle(node, Heartbeat(batches=[a.batch_id for a in assigns]))
        dispatcher.expire()
    assert link.cancels() == []
    for assign in assigns:
        dispatcher.handle(node, ok(assign))
    assert await task == ["v0", "v1"]


async def test_heartbeats_keep_the_silence_check_from_firing(
    store: MemoryStore, clock: FakeClock
) -> None:
    farm = SchedulerSettings(min_lease=1000.0)  # only the silence check could end the batch
    dispatcher = make(store, clock, farm)
    link = Link()
    node = dispatcher.connect(hello("a"), link.send)
    task = await start_map(dispatcher, 1, QUEUED)
    dispatcher.dispatch()
    for _ in range(5):
        clock.advance(8)
        dispatcher.handle(node, Heartbeat(batches=[]))
        dispatcher.expire()
    assert link.cancels() == []
    assert not dispatcher.view.facts(node).silent
    dispatcher.handle(node, ok(link.assigns()[0]))
    assert await task == ["v0"]


# ------------------------------------------------------------ disconnections


async def test_a_node_that_reconnects_within_the_grace_period_keeps_its_work(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock, NO_DUPLICATES)
    first, other = Link(), Link()
    node = dispatcher.connect(hello("a"), first.send)
    task = await start_map(dispatcher, 3, QUEUED)
    dispatcher.dispatch()
    assigns = first.assigns()
    assert len(assigns) == 2
    dispatcher.handle(node, ok(assigns[0]))
    dispatcher.disconnect(node)
    other_id = dispatcher.connect(hello("other"), other.send)
    clock.advance(1)
    second = Link()
    holding = keys(assigns[1:])
    assert dispatcher.connect(hello("a", node_id=node, holding=holding), second.send) == node
    assert second.cancels() == []
    clock.advance(5)  # past the grace period, but the node is back
    dispatcher.handle(node, Heartbeat(batches=[assigns[1].batch_id]))
    dispatcher.expire()
    dispatcher.dispatch()
    assert {t.index for a in second.assigns() + other.assigns() for t in a.tasks} == {2}, (
        "nothing the node holds is sent again"
    )
    dispatcher.handle(node, ok(assigns[1]))  # from its outbox, sent on the new connection
    assert await run_out(dispatcher, task, (node, second), (other_id, other)) == [
        "v0",
        "v1",
        "v2",
    ]
    assert dispatcher.view.done(node) + dispatcher.view.done(other_id) == 3
    assert dispatcher.view.done(node) >= 2, "what it did before and after the break counts"


async def test_a_node_restarted_within_the_grace_period_gets_work_at_its_first_heartbeat(
    store: MemoryStore, clock: FakeClock
) -> None:
    """A restarted node (same identity, nothing in hand) is back before the hub gave up on it:
    the batches it no longer has go back at once, not when their lease runs out."""
    dispatcher = make(store, clock, NO_DUPLICATES)
    first = Link()
    node = dispatcher.connect(hello("a"), first.send)
    task = await start_map(dispatcher, 3, QUEUED)
    dispatcher.dispatch()
    before = first.assigns()
    assert [a.tasks[0].index for a in before] == [0, 1]
    dispatcher.handle(node, ok(before[0]))  # delivered before the crash
    dispatcher.disconnect(node)
    clock.advance(1)  # within the grace period
    second = Link()
    dispatcher.connect(hello("a", node_id=node), second.send)
    dispatcher.dispatch()
    assert second.indices() == [2], "item 1's batch still fills a slot: the hello may omit it"
    dispatcher.handle(node, Heartbeat(batches=[second.assigns()[0].batch_id]))
    dispatcher.dispatch()
    assert second.indices() == [1, 2], "item 1 back at the first heartbeat, not at lease end"
    assert {t.attempt for a in second.assigns() for t in a.tasks if t.index == 1} == {2}
    assert await run_out(dispatcher, task, (node, second)) == ["v0", "v1", "v2"]


async def test_results_a_restarted_node_kept_count_when_they_come_before_its_heartbeat(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock, NO_DUPLICATES)
    first = Link()
    node = dispatcher.connect(hello("a"), first.send)
    task = await start_map(dispatcher, 2, QUEUED)
    dispatcher.dispatch()
    done, running = first.assigns()
    dispatcher.disconnect(node)
    # Back with batch `running` in hand and `done` finished while away: its result is in the
    # outbox, sent right after the hello, before the first heartbeat names only `running`.
    second = Link()
    dispatcher.connect(hello("a", node_id=node, holding=keys([running])), second.send)
    dispatcher.handle(node, ok(done))
    dispatcher.handle(node, Heartbeat(batches=[running.batch_id]))
    dispatcher.dispatch()
    assert second.assigns() == [], "nothing it delivered or holds is sent again"
    dispatcher.handle(node, ok(running))
    assert await task == ["v0", "v1"]
    assert second.cancels() == []


async def test_a_node_that_stays_away_past_the_grace_period_loses_its_work_to_others(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock, NO_DUPLICATES)
    gone, other = Link(), Link()
    gone_id = dispatcher.connect(hello("gone"), gone.send)
    task = await start_map(dispatcher, 2, QUEUED)
    dispatcher.dispatch()
    assert gone.indices() == [0, 1]
    dispatcher.disconnect(gone_id)
    other_id = dispatcher.connect(hello("other", slots=2), other.send)
    clock.advance(1.9)
    dispatcher.expire()
    dispatcher.dispatch()
    assert other.assigns() == [], "within the grace period its batches are still its own"
    clock.advance(0.1)
    dispatcher.expire()
    dispatcher.dispatch()
    assert other.indices() == [0, 1]
    assert dispatcher.view.batches(gone_id) == frozenset()
    assert dispatcher.view.batches(other_id)
    assert await run_out(dispatcher, task, (other_id, other)) == ["v0", "v1"]


@pytest.mark.parametrize(
    "goes",
    [
        pytest.param(lambda d, n: d.disconnect(n, leaving=True), id="it said it is leaving"),
        pytest.param(lambda d, n: (d.disconnect(n), d.forget(n)), id="it was forgotten"),
    ],
)
async def test_a_node_gone_for_good_hands_its_work_to_others_at_once(
    store: MemoryStore, clock: FakeClock, goes: Callable[[Dispatcher, str], object]
) -> None:
    dispatcher = make(store, clock, NO_DUPLICATES)
    going, other = Link(), Link()
    going_id = dispatcher.connect(hello("going"), going.send)
    task = await start_map(dispatcher, 2, QUEUED)
    dispatcher.dispatch()
    assert going.indices() == [0, 1]
    other_id = dispatcher.connect(hello("other", slots=2), other.send)
    goes(dispatcher, going_id)
    dispatcher.dispatch()  # no time has passed: no grace period, no lease ran out
    assert other.indices() == [0, 1]
    assert dispatcher.view.batches(going_id) == frozenset()
    assert dispatcher.view.batches(other_id)
    assert await run_out(dispatcher, task, (other_id, other)) == ["v0", "v1"]


async def test_a_node_back_with_a_batch_given_to_others_is_told_to_cancel_it(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock, NO_DUPLICATES)
    gone, other = Link(), Link()
    gone_id = dispatcher.connect(hello("gone"), gone.send)
    task = await start_map(dispatcher, 1, QUEUED)
    dispatcher.dispatch()
    (stale,) = gone.assigns()
    dispatcher.disconnect(gone_id)
    other_id = dispatcher.connect(hello("other"), other.send)
    clock.advance(3)
    dispatcher.expire()
    dispatcher.dispatch()
    (fresh,) = other.assigns()
    back = Link()
    dispatcher.connect(hello("gone", node_id=gone_id, holding=keys([stale])), back.send)
    assert back.cancels() == [stale.batch_id]
    dispatcher.handle(gone_id, ok(stale, "late"))
    assert back.acked() == [(stale.tasks[0].map_id, 0, 1)], "acknowledged, so it can forget it"
    assert stored_results(store) == {}
    dispatcher.handle(other_id, ok(fresh))
    assert await task == ["v0"]


async def test_reclaiming_part_of_a_batch_leaves_the_rest_to_be_run(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock, batches_of(3))
    first = Link()
    node = dispatcher.connect(hello("a"), first.send)
    task = await start_map(dispatcher, 3)
    dispatcher.dispatch()
    (batch,) = first.assigns()
    assert [t.index for t in batch.tasks] == [0, 1, 2]
    dispatcher.disconnect(node)
    # Back within the grace period, still running items 1 and 2; item 0 finished while away and
    # its result waits in the node's outbox. Then the node is lost for good before sending it.
    holding = {batch.batch_id: keys([batch])[batch.batch_id][1:]}
    dispatcher.connect(hello("a", node_id=node, holding=holding), Link().send)
    dispatcher.disconnect(node)
    other = Link()
    other_id = dispatcher.connect(hello("b", slots=3), other.send)
    clock.advance(3)
    dispatcher.expire()
    dispatcher.dispatch()
    assert other.indices() == [0, 1, 2], "item 0 must not be lost"
    assert await run_out(dispatcher, task, (other_id, other)) == ["v0", "v1", "v2"]


# ------------------------------------------------------------------ failures


async def test_a_failing_item_is_retried_on_another_node_then_fails_the_map_with_its_error(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock)
    links = {name: Link() for name in ("a", "b", "c", "d")}
    ids = {dispatcher.connect(hello(name), link.send): link for name, link in links.items()}
    task = await start_map(dispatcher, 1, QUEUED)
    tried: list[str] = []
    for _ in range(3):
        dispatcher.dispatch()
        ((node, assign),) = [(n, a) for n, link in ids.items() for a in link.fresh()]
        tried.append(node)
        assert assign.tasks[0].attempt == len(tried)
        dispatcher.handle(node, failed(assign))
        dispatcher.handle(node, BatchFinished(batch_id=assign.batch_id))
    await asyncio.sleep(0)
    assert task.done(), f"tried on {tried}"
    with pytest.raises(ItemFailed, match="item 0: boom"):
        await task
    assert len(set(tried)) == 3, f"each try on a node that had not failed it: {tried}"
    assert store.map_results(next(iter(store.maps))) == {}


async def test_a_failing_item_fails_the_map_when_no_other_node_is_left(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock)
    link = Link()
    node = dispatcher.connect(hello("a"), link.send)
    task = await start_map(dispatcher, 1, QUEUED)
    for _ in range(3):
        dispatcher.dispatch()
        (assign,) = link.fresh()
        dispatcher.handle(node, failed(assign))
        dispatcher.handle(node, BatchFinished(batch_id=assign.batch_id))
    with pytest.raises(ItemFailed, match="item 0: boom"):
        await task
    assert [a.tasks[0].attempt for a in link.assigns()] == [1, 2, 3]


async def test_a_map_whose_every_node_is_blocked_after_failing_it_fails_saying_so(
    store: MemoryStore, clock: FakeClock
) -> None:
    """Three items failing once each block the only node from the job before any item has
    failed three times: the map must not wait for ever for a node that may run it."""
    dispatcher = make(store, clock)
    link = Link()
    node = dispatcher.connect(hello("a"), link.send)
    task = await start_map(dispatcher, 4, QUEUED)
    failures = 0
    for _ in range(10):  # bounded: each round fails what the node holds
        dispatcher.dispatch()
        for assign in link.fresh():
            dispatcher.handle(node, failed(assign, f"disk full {failures}"))
            dispatcher.handle(node, BatchFinished(batch_id=assign.batch_id))
            failures += 1
        if not link.fresh() and failures >= 3:
            break
    dispatcher.dispatch()
    assert failures >= 3 and not link.fresh(), "the node is blocked after three failures"
    dispatcher.expire()
    clock.advance(4)
    dispatcher.expire()
    await asyncio.sleep(0)
    assert not task.done(), "another node may still come within the waiting time"
    clock.advance(1)
    dispatcher.expire()
    await asyncio.sleep(0)
    assert task.done(), "the map waits for ever for a node that may run it"
    with pytest.raises(
        NoCompatibleNode,
        match=r"every connected node that can run Compute.Hash failed it 3 times in this job "
        r"and is blocked from it \(a\); the last failure, item \d: disk full \d",
    ):
        await task


async def test_a_map_no_connected_node_can_run_fails_with_a_clear_message(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock)
    dispatcher.connect(
        NodeHello(name="renderer", capabilities=CAPS, activities=["Renderer.RenderFrame"]),
        Link().send,
    )
    task = await start_map(dispatcher, 2)
    dispatcher.expire()
    clock.advance(4)
    dispatcher.expire()
    await asyncio.sleep(0)
    assert not task.done(), "a node may still come within the waiting time"
    clock.advance(1)
    dispatcher.expire()
    with pytest.raises(
        NoCompatibleNode, match=r"no connected node can run Compute.Hash \(connected: renderer\)"
    ):
        await task


async def test_a_map_with_no_node_at_all_fails_telling_how_to_start_one(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock)
    task = await start_map(dispatcher, 1)
    dispatcher.expire()
    clock.advance(5)
    dispatcher.expire()
    with pytest.raises(NoCompatibleNode, match=r"no node is connected to run Compute.Hash"):
        await task


async def test_a_node_that_arrives_in_time_saves_a_map_no_one_could_run(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock)
    task = await start_map(dispatcher, 1)
    dispatcher.expire()
    clock.advance(4)
    link = Link()
    node = dispatcher.connect(hello("late"), link.send)
    dispatcher.expire()
    clock.advance(10)
    dispatcher.dispatch()
    dispatcher.handle(node, ok(link.assigns()[0]))
    dispatcher.expire()
    assert await task == ["v0"]


async def test_a_node_that_was_only_frozen_for_a_while_does_not_fail_the_map(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock)
    link = Link()
    node = dispatcher.connect(hello("only"), link.send)
    task = await start_map(dispatcher, 1, QUEUED)
    dispatcher.dispatch()
    clock.advance(10)
    dispatcher.expire()  # the lease runs out: the node is frozen, its item back in the queue
    assert len(link.cancels()) == 1
    for _ in range(2):
        clock.advance(5)
        dispatcher.expire()
    await asyncio.sleep(0)
    if task.done():  # the node can run the activity; it is only slow to answer
        pytest.fail(f"the map ended while its node was frozen: {task.exception()!r}")
    dispatcher.handle(node, Heartbeat(batches=[]))
    dispatcher.dispatch()
    dispatcher.handle(node, ok(link.assigns()[-1]))
    assert await task == ["v0"]


# ------------------------------------------------------------ restarts, jobs


async def test_a_restarted_hub_keeps_committed_results_and_runs_only_the_rest(
    store: MemoryStore, clock: FakeClock
) -> None:
    before = make(store, clock)
    link = Link()
    node = before.connect(hello("a", slots=1), link.send)
    task = await start_map(before, 4, QUEUED)
    before.dispatch()
    first, second = link.assigns()
    before.handle(node, ok(first, "before"))
    await cancel(task)  # the hub dies; its store remains
    after = make(store, clock)
    resumed = await start_map(after, 4, QUEUED)
    back, newcomer = Link(), Link()
    after.connect(hello("a", node_id=node, holding=keys([second])), back.send)
    assert back.cancels() == [second.batch_id], "a batch of the old hub runs on"
    newcomer_id = after.connect(hello("b", slots=4), newcomer.send)
    results = await run_out(after, resumed, (newcomer_id, newcomer), (node, back))
    assert results == ["before0", "v1", "v2", "v3"]
    sent = {t.index for a in back.assigns() + newcomer.assigns() for t in a.tasks}
    assert sent == {1, 2, 3}, "a committed item is not sent again"
    assert all(
        t.attempt == 2 for a in back.assigns() + newcomer.assigns() for t in a.tasks if t.index == 1
    )
    after.handle(node, ok(second, "stale"))  # the old batch's result comes too late: fenced off
    assert stored_results(store)[1] == "v1"


async def test_results_a_node_kept_while_the_hub_was_down_count_and_are_not_run_again(
    store: MemoryStore, clock: FakeClock
) -> None:
    before = make(store, clock)
    link = Link()
    node = before.connect(hello("a", slots=1), link.send)
    task = await start_map(before, 4, QUEUED)
    before.dispatch()
    first, second = link.assigns()
    before.handle(node, ok(first, "before"))
    await cancel(task)  # the hub dies while the node finishes `second`, its result kept
    after = make(store, clock)
    resumed = await start_map(after, 4, QUEUED)
    back = Link()
    after.connect(hello("a", node_id=node), back.send)  # holding nothing: it finished
    after.dispatch()
    assert back.assigns() == [], "the resumed map waits for what its nodes kept"
    after.handle(node, ok(second, "kept"))
    assert back.acked() == [(second.tasks[0].map_id, 1, 1)]
    results = await run_out(after, resumed, (node, back))
    assert results == ["before0", "kept1", "v2", "v3"]
    assert {t.index for a in back.assigns() for t in a.tasks} == {2, 3}, "item 1 ran again"


async def test_a_resumed_map_waits_for_absent_nodes_only_until_the_grace_after_the_start(
    store: MemoryStore, clock: FakeClock
) -> None:
    before = make(store, clock)
    link = Link()
    node = before.connect(hello("a", slots=1), link.send)
    task = await start_map(before, 3, QUEUED)
    before.dispatch()
    first, _ = link.assigns()
    await cancel(task)
    after = make(store, clock)  # grace: 2 s
    resumed = await start_map(after, 3, QUEUED)
    other = Link()
    other_id = after.connect(hello("b"), other.send)
    clock.advance(1.5)
    after.expire()
    after.dispatch()
    await asyncio.sleep(0)
    assert other.assigns() == [], "a resumed map went on before the grace ended"
    clock.advance(0.5)
    after.expire()
    await asyncio.sleep(0)
    results = await run_out(after, resumed, (other_id, other))
    assert results == ["v0", "v1", "v2"]
    assert {t.attempt for a in other.assigns() for t in a.tasks if t.index < 2} == {2}
    after.handle(node, ok(first, "late"))  # node a comes back after the grace: fenced off
    assert stored_results(store)[0] == "v0"


async def test_cancelling_a_job_whose_map_waits_after_a_restart_ends_the_wait(
    store: MemoryStore, clock: FakeClock
) -> None:
    before = make(store, clock)
    before.connect(hello("a", slots=1), Link().send)
    task = await start_map(before, 3, QUEUED)
    before.dispatch()
    await cancel(task)
    after = make(store, clock)
    resumed = await start_map(after, 3, QUEUED)
    after.cancel_job("job_1")
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(resumed, 1)
    assert after.view.waiting_for_kept() == 0


async def test_cancelling_a_job_recalls_its_batches(store: MemoryStore, clock: FakeClock) -> None:
    dispatcher = make(store, clock)
    link = Link()
    dispatcher.connect(hello("a"), link.send)
    task = await start_map(dispatcher, 5)
    dispatcher.dispatch()
    assigns = link.assigns()
    assert assigns
    dispatcher.cancel_job("job_1")
    with pytest.raises(asyncio.CancelledError):
        await task
    assert {a.batch_id for a in assigns} <= set(link.cancels())
    assert dispatcher.view.in_flight() == (0, 0)


async def test_a_paused_job_gets_no_new_batches_until_resumed(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock)
    link = Link()
    node = dispatcher.connect(hello("a"), link.send)
    task = await start_map(dispatcher, 4, QUEUED)
    dispatcher.dispatch()
    out = link.fresh()
    assert len(out) == 2
    dispatcher.pause_job("job_1")
    for assign in out:  # what is out on nodes finishes
        finish(dispatcher, node, assign)
    for _ in range(3):  # longer than no_node_seconds: a paused map does not fail
        dispatcher.dispatch()
        clock.advance(5)
        dispatcher.handle(node, Heartbeat(batches=[]))
        dispatcher.expire()
    assert link.fresh() == [], "no new batches while paused"
    assert stored_results(store) == {0: "v0", 1: "v1"}
    assert not task.done()
    dispatcher.resume_job("job_1")
    assert await run_out(dispatcher, task, (node, link)) == ["v0", "v1", "v2", "v3"]


async def test_a_drained_node_gets_no_batch(store: MemoryStore, clock: FakeClock) -> None:
    dispatcher = make(store, clock)
    a, b = Link(), Link()
    node_a = dispatcher.connect(hello("a"), a.send)
    node_b = dispatcher.connect(hello("b"), b.send)
    dispatcher.drain(node_b)
    task = await start_map(dispatcher, 6)
    assert await run_out(dispatcher, task, (node_a, a), (node_b, b)) == [f"v{i}" for i in range(6)]
    assert b.assigns() == []


# ------------------------------------------------------------------ strategies


async def test_queued_gives_one_item_per_batch(store: MemoryStore, clock: FakeClock) -> None:
    dispatcher = make(store, clock)
    a, b = Link(), Link()
    node_a = dispatcher.connect(hello("a"), a.send)
    node_b = dispatcher.connect(hello("b"), b.send)
    task = await start_map(dispatcher, 8, QUEUED)
    assert await run_out(dispatcher, task, (node_a, a), (node_b, b)) == [f"v{i}" for i in range(8)]
    assert {len(x.tasks) for x in a.assigns() + b.assigns()} == {1}
    assert len(a.assigns()) + len(b.assigns()) == 8


async def test_adaptive_gives_larger_batches_first(store: MemoryStore, clock: FakeClock) -> None:
    dispatcher = make(store, clock, NO_DUPLICATES)
    a, b = Link(), Link()
    dispatcher.connect(hello("a", slots=3), a.send)
    dispatcher.connect(hello("b", slots=1), b.send)
    task = await start_map(dispatcher, 80)  # Adaptive is the default
    dispatcher.dispatch()
    sizes = [len(x.tasks) for x in a.assigns() + b.assigns()]
    assert sizes[0] == 10, "half of what is left, shared by speed: a slot of 4 gets 1/4 of 40"
    assert sizes == sorted(sizes, reverse=True), "batches shrink toward the end"
    assert sizes[-1] > 1
    assert len(a.assigns()) == 4 and len(b.assigns()) == 2, "one batch more than its slots"
    await cancel(task)


async def test_max_nodes_limits_the_nodes_a_map_uses(store: MemoryStore, clock: FakeClock) -> None:
    dispatcher = make(store, clock)
    links = {name: Link() for name in ("a", "b", "c")}
    nodes = [(dispatcher.connect(hello(n), link.send), link) for n, link in links.items()]
    task = await start_map(dispatcher, 12, ProcessingOptions.make("Adaptive", max_nodes=1))
    assert await run_out(dispatcher, task, *nodes) == [f"v{i}" for i in range(12)]
    used = [name for name, link in links.items() if link.assigns()]
    assert len(used) == 1, f"one node only, not {used}"


async def test_a_node_with_four_times_the_benchmark_gets_four_times_the_items(
    store: MemoryStore, clock: FakeClock
) -> None:
    # Many items: every batch is as large as the longest lease allows, 10 s of work.
    farm = SchedulerSettings(min_lease=10.0, max_lease=30.0, lease_factor=3.0, duplicate_limit=0.0)
    dispatcher = make(store, clock, farm)
    fast, slow = Link(), Link()
    fast_id = dispatcher.connect(hello("fast"), fast.send)
    slow_id = dispatcher.connect(hello("slow"), slow.send)
    dispatcher.scheduler.rates.benchmark(fast_id, ACTIVITY, 4.0)
    dispatcher.scheduler.rates.benchmark(slow_id, ACTIVITY, 1.0)
    task = await start_map(dispatcher, 1000)
    dispatcher.dispatch()
    assert [len(x.tasks) for x in fast.assigns()] == [40, 40]
    assert [len(x.tasks) for x in slow.assigns()] == [10, 10]
    assert {x.lease_seconds for x in fast.assigns() + slow.assigns()} == {30.0}
    await cancel(task)


async def test_work_estimates_shape_the_batches(store: MemoryStore, clock: FakeClock) -> None:
    asked: list[tuple[str, int]] = []

    def estimate(activity: str, items: Sequence[Sequence[object]]) -> tuple[str, list[float]]:
        asked.append((activity, len(items)))
        return "Compute", [4.0 if i < 20 else 1.0 for i in range(len(items))]

    farm = SchedulerSettings(min_lease=10.0, max_lease=30.0, lease_factor=3.0, duplicate_limit=0.0)
    dispatcher = make(store, clock, farm, estimate)
    link = Link()
    node = dispatcher.connect(hello("a", slots=1), link.send)
    task = await start_map(dispatcher, 40)
    assert asked == [(ACTIVITY, 40)]
    dispatcher.dispatch()
    first, second = link.fresh()
    assert [t.index for t in first.tasks] == [0, 1], "heavy items first, 10 units at most"
    assert [t.index for t in second.tasks] == [2, 3]
    finish(dispatcher, node, first)
    finish(dispatcher, node, second)
    assert await run_out(dispatcher, task, (node, link)) == [f"v{i}" for i in range(40)]
    units = [sum(4.0 if t.index < 20 else 1.0 for t in x.tasks) for x in link.assigns()]
    assert max(units) <= 10.0, "no batch holds more work than fits the longest lease"
    heavy = [len(x.tasks) for x in link.assigns() if all(t.index < 20 for t in x.tasks)]
    light = [len(x.tasks) for x in link.assigns() if all(t.index >= 20 for t in x.tasks)]
    assert max(light) > 4 * max(heavy), "a light item's batch holds about four times as many"


async def test_a_failing_estimate_plans_one_unit_per_item(
    store: MemoryStore, clock: FakeClock
) -> None:
    def estimate(activity: str, items: Sequence[Sequence[object]]) -> tuple[str, list[float]]:
        raise PluginError("the estimate is broken")

    dispatcher = make(store, clock, estimate=estimate)
    link = Link()
    node = dispatcher.connect(hello("a"), link.send)
    task = await start_map(dispatcher, 4)
    assert await run_out(dispatcher, task, (node, link)) == [f"v{i}" for i in range(4)]


# ------------------------------------------------------------------ duplicates


async def test_an_idle_node_duplicates_a_slow_nodes_last_items_and_the_first_result_wins(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock, SchedulerSettings(min_lease=10.0, duplicate_limit=0.5))
    slow, fast = Link(), Link()
    slow_id = dispatcher.connect(hello("slow"), slow.send)
    task = await start_map(dispatcher, 4)
    dispatcher.dispatch()
    held, tail = slow.fresh()
    assert [t.index for t in held.tasks] == [0, 1] and [t.index for t in tail.tasks] == [2]
    fast_id = dispatcher.connect(hello("fast"), fast.send)
    dispatcher.dispatch()
    (rest,) = fast.fresh()
    assert [t.index for t in rest.tasks] == [3]
    finish(dispatcher, fast_id, rest, "fast")
    dispatcher.dispatch()  # nothing is pending: the idle node copies the slow node's tail
    (copy,) = fast.fresh()
    assert [t.index for t in copy.tasks] == [1]
    assert [t.attempt for t in copy.tasks] == [1], "a duplicate keeps the attempt number"
    dispatcher.handle(slow_id, only(held, [0], "slow"))
    dispatcher.handle(fast_id, ok(copy, "fast"))  # the copy wins item 1
    assert slow.cancels() == [held.batch_id], "the losing batch has nothing left to do"
    dispatcher.handle(slow_id, only(held, [1], "slow"))  # its result arrives all the same
    assert (copy.tasks[0].map_id, 1, 1) in slow.acked(), "acknowledged, though not kept"
    assert (copy.tasks[0].map_id, 1, 1) in fast.acked()
    finish(dispatcher, slow_id, tail, "slow")
    assert await task == ["slow0", "fast1", "slow2", "fast3"]
    assert dispatcher.work_by_node("job_1") == {"slow": [2, 0.0], "fast": [2, 0.0]}
    assert dispatcher.view.done(slow_id) == 2 and dispatcher.view.done(fast_id) == 2


async def test_work_by_node_counts_items_and_their_seconds(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock)
    a, b = Link(), Link()
    node_a = dispatcher.connect(hello("a"), a.send)
    node_b = dispatcher.connect(hello("b"), b.send)
    task = await start_map(dispatcher, 3, QUEUED)
    dispatcher.dispatch()
    (a1, a2), (b1,) = a.fresh(), b.fresh()
    dispatcher.handle(node_a, ok(a1, seconds=2.0))
    dispatcher.handle(node_a, ok(a2, seconds=3.0))
    dispatcher.handle(node_b, ok(b1, seconds=4.0))
    assert await task == ["v0", "v1", "v2"]
    assert dispatcher.work_by_node("job_1") == {"a": [2, 5.0], "b": [1, 4.0]}
    assert dispatcher.work_by_node("job_2") == {}


async def test_the_dispatch_loop_stops_when_cancelled_in_the_same_turn_as_a_wake(
    store: MemoryStore, clock: FakeClock
) -> None:
    """A hub stopping while its nodes leave: their goodbyes wake the loop as it is cancelled.
    With asyncio.wait_for on Python 3.11 that cancellation was lost, and the hub's shutdown
    waited for ever (until the embedded farm killed it, 10 s later)."""
    dispatcher = make(store, clock, NO_DUPLICATES)
    task = asyncio.create_task(dispatcher.run(tick_seconds=5.0))
    for _ in range(3):  # bounded: the loop is waiting after a turn or two
        await asyncio.sleep(0)
    dispatcher.wake()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 1.0)
