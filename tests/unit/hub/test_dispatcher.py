"""The dispatcher with an in-memory store, fake node links (`send` callables that keep what they
are given) and a FakeClock moved by hand: batches, leases, fencing, retries, reclaiming after a
reconnect, silent nodes, no compatible node, and results committed exactly once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from witengine.errors import NoCompatibleNode
from witengine.hub.dispatcher import Dispatcher
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
from witengine.runtime.executor import ItemFailed, MapRequest
from witengine.testing.clock import FakeClock

CAPS = Capabilities(os="Linux", arch="x86_64", cores=2, ram_bytes=1 << 30)


@dataclass
class Link:
    """What the hub sent one node: its `send` callable keeps every message."""

    inbox: list[HubMessage] = field(default_factory=list)

    def send(self, message: HubMessage) -> None:
        self.inbox.append(message)

    def assigns(self) -> list[Assign]:
        return [m for m in self.inbox if isinstance(m, Assign)]

    def cancels(self) -> list[str]:
        return [m.batch_id for m in self.inbox if isinstance(m, CancelBatch)]

    def indices(self) -> list[int]:
        return sorted(t.index for a in self.assigns() for t in a.tasks)


@dataclass(frozen=True)
class FixedPlanner:
    """Batches of a fixed size, so a test knows what each node gets."""

    size: int

    def batch_size(self, *, remaining: int, node_slots: int, total_slots: int) -> int:
        return min(remaining, self.size)


def hello(name: str, node_id: str | None = None, slots: int = 1, **extra: object) -> NodeHello:
    return NodeHello(
        name=name,
        node_id=node_id,
        slots=slots,
        capabilities=CAPS,
        activities=["Compute.Hash"],
        **extra,  # type: ignore[arg-type]
    )


def ok(assign: Assign, value: object = "v", attempt: int | None = None) -> Results:
    return Results(
        batch_id=assign.batch_id,
        results=[
            TaskResult(
                map_id=t.map_id,
                index=t.index,
                attempt=attempt or t.attempt,
                ok=True,
                value=f"{value}{t.index}",
            )
            for t in assign.tasks
        ],
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


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


def make(
    store: MemoryStore, clock: FakeClock, planner: FixedPlanner | None = None, **options: float
) -> Dispatcher:
    settings = {"lease_seconds": 10.0, "grace_seconds": 2.0, "no_node_seconds": 5.0, **options}
    return Dispatcher(store, clock, planner=planner, **settings)  # type: ignore[arg-type]


def request(count: int) -> MapRequest:
    return MapRequest("Compute.Hash", [[f"t{i}"] for i in range(count)])


async def start_map(
    dispatcher: Dispatcher, count: int, job: str = "job_1", seq: int = 1
) -> asyncio.Task[list[object]]:
    progress: list[tuple[int, int]] = []
    task = asyncio.ensure_future(
        dispatcher.run_map(job, seq, request(count), lambda d, t: progress.append((d, t)))
    )
    await asyncio.sleep(0)
    return task


async def cancel(task: asyncio.Task[list[object]]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def stored_results(store: MemoryStore) -> dict[int, object]:
    (map_id,) = store.maps
    return store.map_results(map_id)


async def test_items_come_back_in_input_order_whoever_runs_them(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock)
    a, b = Link(), Link()
    node_a = dispatcher.connect(hello("a"), a.send)
    node_b = dispatcher.connect(hello("b"), b.send)
    task = await start_map(dispatcher, 10)
    for _ in range(10):
        dispatcher.dispatch()
        for node_id, link in ((node_b, b), (node_a, a)):
            for assign in link.assigns():
                dispatcher.handle(node_id, ok(assign))
            link.inbox.clear()
        if task.done():
            break
        await asyncio.sleep(0)
    assert await task == [f"v{i}" for i in range(10)]


async def test_a_result_is_committed_once_even_when_sent_twice(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock)
    link = Link()
    node = dispatcher.connect(hello("a"), link.send)
    task = await start_map(dispatcher, 3)
    dispatcher.dispatch()
    assigns = link.assigns()
    first = ok(assigns[0], "first")
    dispatcher.handle(node, Results(batch_id=assigns[0].batch_id, results=first.results[:1]))
    dispatcher.handle(
        node,
        Results(
            batch_id=assigns[0].batch_id,
            results=[first.results[0].model_copy(update={"value": "second"})],
        ),
    )
    for assign in assigns:
        dispatcher.handle(node, ok(assign, "first"))
    assert await task == ["first0", "first1", "first2"]
    acks = [m for m in link.inbox if isinstance(m, Ack)]
    assert sum(len(a.results) for a in acks) == 5, "every result is acknowledged, kept or not"


async def test_a_late_result_of_a_fenced_off_attempt_is_ignored(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock, FixedPlanner(4))
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
    dispatcher.handle(fast_id, ok(fresh, "new"))
    assert await task == ["new0", "new1", "new2", "new3"]
    assert stored_results(store) == {i: f"new{i}" for i in range(4)}
    acks = [m for m in slow.inbox if isinstance(m, Ack)]
    assert [key for ack in acks for key in ack.results] == [
        (t.map_id, t.index, 1) for t in stale.tasks
    ], "a fenced result is still acknowledged, so the node can forget it"


async def test_an_expired_lease_requeues_only_its_unfinished_items(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock, FixedPlanner(5))
    slow, fast = Link(), Link()
    slow_id = dispatcher.connect(hello("slow"), slow.send)
    task = await start_map(dispatcher, 5)
    dispatcher.dispatch()
    (batch,) = slow.assigns()
    first_two = Results(batch_id=batch.batch_id, results=ok(batch, "slow").results[:2])
    dispatcher.handle(slow_id, first_two)
    fast_id = dispatcher.connect(hello("fast"), fast.send)
    dispatcher.dispatch()
    assert fast.assigns() == [], "nothing is free while the lease runs"
    clock.advance(10)
    dispatcher.expire()
    dispatcher.dispatch()
    assert fast.indices() == [2, 3, 4]
    for assign in fast.assigns():
        dispatcher.handle(fast_id, ok(assign, "fast"))
    assert await task == ["slow0", "slow1", "fast2", "fast3", "fast4"]


async def test_a_silent_node_gets_no_new_work_until_it_is_heard_from(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock, FixedPlanner(1), no_node_seconds=1000.0)
    link = Link()
    node = dispatcher.connect(hello("frozen", slots=1), link.send)
    task = await start_map(dispatcher, 4)
    dispatcher.dispatch()
    assert link.indices() == [0, 1], "one slot: one batch running and one waiting"
    clock.advance(10)
    dispatcher.expire()  # both leases expire: the node is frozen
    assert len(link.cancels()) == 2
    for _ in range(3):
        dispatcher.dispatch()
        clock.advance(1)
        dispatcher.expire()
    assert len(link.assigns()) == 2, "no new work for a node that has gone quiet"
    dispatcher.handle(node, Heartbeat(batches=[]))  # it speaks again
    dispatcher.dispatch()
    fresh = link.assigns()[2:]
    assert sorted(t.index for a in fresh for t in a.tasks) == [0, 1]
    assert all(t.attempt == 2 for a in fresh for t in a.tasks)
    for _ in range(4):  # bounded: four items, at least one settled per round
        for assign in link.assigns()[2:]:
            dispatcher.handle(node, ok(assign))
        dispatcher.dispatch()
        if task.done():
            break
    assert await task == ["v0", "v1", "v2", "v3"]


async def test_batches_follow_the_planner_and_a_node_holds_one_more_than_its_slots(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock, FixedPlanner(3))
    a, b = Link(), Link()
    dispatcher.connect(hello("a", slots=2), a.send)
    dispatcher.connect(hello("b", slots=1), b.send)
    task = await start_map(dispatcher, 20)
    dispatcher.dispatch()
    assert [len(x.tasks) for x in a.assigns()] == [3, 3, 3]
    assert [len(x.tasks) for x in b.assigns()] == [3, 3]
    sent = a.indices() + b.indices()
    assert sorted(sent) == list(range(15)) and len(set(sent)) == 15, "each item to one node"
    assigned = {x.batch_id for x in a.assigns() + b.assigns()}
    assert assigned == set(dispatcher.leases)
    assert all(x.lease_seconds == 10.0 and x.job_id == "job_1" for x in a.assigns())
    assert store.maps[next(iter(store.maps))].tasks[14].attempt == 1, "attempts stored as sent"
    assert store.maps[next(iter(store.maps))].tasks[15].attempt == 0
    await cancel(task)


async def test_the_split_planner_shares_half_of_what_remains_by_slots(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock)
    a, b = Link(), Link()
    dispatcher.connect(hello("a", slots=3), a.send)
    dispatcher.connect(hello("b", slots=1), b.send)
    task = await start_map(dispatcher, 80)
    dispatcher.dispatch()
    sizes = [len(x.tasks) for x in a.assigns()]
    assert sizes[0] == 30, "a has 3 of 4 slots: 3/4 of half of 80"
    assert sizes == sorted(sizes, reverse=True), "batches shrink toward the end"
    assert len(a.assigns()) == 4 and len(b.assigns()) == 2
    await cancel(task)


async def test_heartbeats_keep_a_lease_alive(store: MemoryStore, clock: FakeClock) -> None:
    dispatcher = make(store, clock)
    link = Link()
    node = dispatcher.connect(hello("a"), link.send)
    task = await start_map(dispatcher, 2)
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


async def test_a_node_that_reconnects_within_the_grace_period_keeps_its_work(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock)
    first = Link()
    node = dispatcher.connect(hello("a"), first.send)
    task = await start_map(dispatcher, 3)
    dispatcher.dispatch()
    assigns = first.assigns()
    dispatcher.disconnect(node)
    clock.advance(1)
    second = Link()
    holding = keys(assigns)
    assert dispatcher.connect(hello("a", node_id=node, holding=holding), second.send) == node
    clock.advance(5)  # past the grace period: the reclaimed lease is a full lease again
    dispatcher.expire()
    dispatcher.dispatch()
    assert {t.index for a in second.assigns() for t in a.tasks} <= {2} - {
        t.index for a in assigns for t in a.tasks
    }, "nothing the node holds is sent twice"
    for assign in [*assigns, *second.assigns()]:
        dispatcher.handle(node, ok(assign))
    assert await task == ["v0", "v1", "v2"]


async def test_a_node_that_stays_away_past_the_grace_period_loses_its_work(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock)
    gone, other = Link(), Link()
    gone_id = dispatcher.connect(hello("gone"), gone.send)
    task = await start_map(dispatcher, 2)
    dispatcher.dispatch()
    dispatcher.disconnect(gone_id)
    other_id = dispatcher.connect(hello("other", slots=2), other.send)
    clock.advance(3)
    dispatcher.expire()
    dispatcher.dispatch()
    for assign in other.assigns():
        dispatcher.handle(other_id, ok(assign))
    assert await task == ["v0", "v1"]


async def test_a_failing_item_is_retried_then_fails_the_map_with_its_error(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock)
    link = Link()
    node = dispatcher.connect(hello("a"), link.send)
    task = await start_map(dispatcher, 1)
    for _ in range(3):
        dispatcher.dispatch()
        assign = link.assigns()[-1]
        (spec,) = assign.tasks
        dispatcher.handle(
            node,
            Results(
                batch_id=assign.batch_id,
                results=[
                    TaskResult(
                        map_id=spec.map_id, index=0, attempt=spec.attempt, ok=False, error="boom"
                    )
                ],
            ),
        )
        dispatcher.handle(node, BatchFinished(batch_id=assign.batch_id))
    with pytest.raises(ItemFailed, match="item 0: boom"):
        await task
    assert [a.tasks[0].attempt for a in link.assigns()] == [1, 2, 3]


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


async def test_a_restarted_hub_finds_committed_results_and_waits_for_nodes_to_claim_the_rest(
    store: MemoryStore, clock: FakeClock
) -> None:
    before = make(store, clock)
    link = Link()
    node = before.connect(hello("a", slots=1), link.send)
    task = await start_map(before, 4)
    before.dispatch()
    assign = link.assigns()[0]
    half = ok(assign)
    before.handle(node, Results(batch_id=assign.batch_id, results=half.results[:1]))
    committed = assign.tasks[0].index
    out = {t.index for a in link.assigns() for t in a.tasks} - {committed}
    task.cancel()  # the hub dies; its store remains
    await asyncio.sleep(0)
    after = make(store, clock)
    resumed = await start_map(after, 4)
    newcomer = Link()
    newcomer_id = after.connect(hello("b", slots=4), newcomer.send)
    after.dispatch()
    sent = {t.index for a in newcomer.assigns() for t in a.tasks}
    assert committed not in sent, "a committed item is not sent again"
    assert not sent & out, "items that were out wait for their node to claim them"
    holding = keys(link.assigns())
    after.connect(hello("a", node_id=node, holding=holding), Link().send)
    for message in link.assigns():
        after.handle(node, ok(message))
    for message in newcomer.assigns():
        after.handle(newcomer_id, ok(message))
    assert await resumed == [f"v{i}" for i in range(4)]


async def test_cancelling_a_job_recalls_its_batches(store: MemoryStore, clock: FakeClock) -> None:
    dispatcher = make(store, clock)
    link = Link()
    dispatcher.connect(hello("a"), link.send)
    task = await start_map(dispatcher, 5)
    dispatcher.dispatch()
    assigns = link.assigns()
    dispatcher.cancel_job("job_1")
    with pytest.raises(asyncio.CancelledError):
        await task
    assert {a.batch_id for a in assigns} <= set(link.cancels())
    assert dispatcher.maps == {} and dispatcher.leases == {}


async def test_a_result_sent_twice_in_one_message_counts_once_with_the_stored_value(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock, FixedPlanner(1))
    link = Link()
    node = dispatcher.connect(hello("a"), link.send)
    task = await start_map(dispatcher, 1)
    dispatcher.dispatch()
    (assign,) = link.assigns()
    (result,) = ok(assign, "first").results
    twice = [result, result.model_copy(update={"value": "second"})]
    dispatcher.handle(node, Results(batch_id=assign.batch_id, results=twice))
    assert stored_results(store) == {0: "first0"}
    assert await task == ["first0"], "the map returns what the store committed"
    assert dispatcher.nodes[node].done == 1


async def test_reclaiming_part_of_a_batch_leaves_the_rest_to_be_run(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock, FixedPlanner(3))
    first = Link()
    node = dispatcher.connect(hello("a"), first.send)
    task = await start_map(dispatcher, 3)
    dispatcher.dispatch()
    (batch,) = first.assigns()
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
    for assign in other.assigns():
        dispatcher.handle(other_id, ok(assign))
    assert await task == ["v0", "v1", "v2"]


async def test_a_node_that_was_only_frozen_for_a_while_does_not_fail_the_map(
    store: MemoryStore, clock: FakeClock
) -> None:
    dispatcher = make(store, clock, FixedPlanner(1))
    link = Link()
    node = dispatcher.connect(hello("only"), link.send)
    task = await start_map(dispatcher, 1)
    dispatcher.dispatch()
    clock.advance(10)
    dispatcher.expire()  # the lease runs out: the node is frozen, its item back in the queue
    clock.advance(5)
    dispatcher.expire()
    clock.advance(5)
    dispatcher.expire()
    await asyncio.sleep(0)
    if task.done():  # the node can run the activity; it is only slow to answer
        pytest.fail(f"the map ended while its node was frozen: {task.exception()!r}")
    dispatcher.handle(node, Heartbeat(batches=[]))
    dispatcher.dispatch()
    dispatcher.handle(node, ok(link.assigns()[-1]))
    assert await task == ["v0"]
