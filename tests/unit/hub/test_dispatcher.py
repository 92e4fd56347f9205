"""The dispatcher with an in-memory store, fake node links and a hand-moved clock: leases,
fencing, retries, reclaiming after a reconnect, and results committed exactly once."""

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

CAPS = Capabilities(os="Linux", arch="x86_64", cores=2, ram_bytes=1 << 30)


@dataclass
class Clock:
    time: float = 1000.0

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.time += seconds
        await asyncio.sleep(0)


@dataclass
class Link:
    """What the hub sent one node."""

    inbox: list[HubMessage] = field(default_factory=list)

    def send(self, message: HubMessage) -> None:
        self.inbox.append(message)

    def assigns(self) -> list[Assign]:
        return [m for m in self.inbox if isinstance(m, Assign)]

    def cancels(self) -> list[str]:
        return [m.batch_id for m in self.inbox if isinstance(m, CancelBatch)]


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


def keys(assigns: list[Assign]) -> dict[str, list[ResultKey]]:
    return {
        a.batch_id: [ResultKey(map_id=t.map_id, index=t.index, attempt=t.attempt) for t in a.tasks]
        for a in assigns
    }


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


def make(store: MemoryStore, clock: Clock, **options: float) -> Dispatcher:
    settings = {"lease_seconds": 10.0, "grace_seconds": 2.0, "no_node_seconds": 5.0, **options}
    return Dispatcher(store, clock, **settings)  # type: ignore[arg-type]


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


async def test_items_come_back_in_input_order_whoever_runs_them(
    store: MemoryStore, clock: Clock
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
    store: MemoryStore, clock: Clock
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


async def test_an_expired_lease_requeues_its_items_and_fences_the_old_attempt(
    store: MemoryStore, clock: Clock
) -> None:
    dispatcher = make(store, clock)
    slow, fast = Link(), Link()
    slow_id = dispatcher.connect(hello("slow"), slow.send)
    task = await start_map(dispatcher, 4)
    dispatcher.dispatch()
    stale = slow.assigns()
    fast_id = dispatcher.connect(hello("fast", slots=4), fast.send)
    clock.time += 11
    dispatcher.expire()
    assert {a.batch_id for a in stale} <= set(slow.cancels())
    dispatcher.dispatch()
    fresh = fast.assigns()
    resent = sorted(t.index for a in fresh for t in a.tasks)
    assert resent == sorted(t.index for a in stale for t in a.tasks)
    assert all(t.attempt == 2 for a in fresh for t in a.tasks)
    for assign in stale:
        dispatcher.handle(slow_id, ok(assign, "late"))  # the frozen node wakes up: ignored
    for assign in fresh:
        dispatcher.handle(fast_id, ok(assign, "new"))
    dispatcher.dispatch()
    for assign in fast.assigns()[len(fresh) :]:
        dispatcher.handle(fast_id, ok(assign, "new"))
    results = await task
    assert all(not str(r).startswith("late") for r in results)


async def test_heartbeats_keep_a_lease_alive(store: MemoryStore, clock: Clock) -> None:
    dispatcher = make(store, clock)
    link = Link()
    node = dispatcher.connect(hello("a"), link.send)
    task = await start_map(dispatcher, 2)
    dispatcher.dispatch()
    assigns = link.assigns()
    for _ in range(5):
        clock.time += 8
        dispatcher.handle(node, Heartbeat(batches=[a.batch_id for a in assigns]))
        dispatcher.expire()
    assert link.cancels() == []
    for assign in assigns:
        dispatcher.handle(node, ok(assign))
    assert await task == ["v0", "v1"]


async def test_a_node_that_reconnects_within_the_grace_period_keeps_its_work(
    store: MemoryStore, clock: Clock
) -> None:
    dispatcher = make(store, clock)
    first = Link()
    node = dispatcher.connect(hello("a"), first.send)
    task = await start_map(dispatcher, 3)
    dispatcher.dispatch()
    assigns = first.assigns()
    dispatcher.disconnect(node)
    clock.time += 1
    second = Link()
    holding = keys(assigns)
    assert dispatcher.connect(hello("a", node_id=node, holding=holding), second.send) == node
    clock.time += 5  # past the grace period: the reclaimed lease is a full lease again
    dispatcher.expire()
    dispatcher.dispatch()
    assert {t.index for a in second.assigns() for t in a.tasks} <= {2} - {
        t.index for a in assigns for t in a.tasks
    }, "nothing the node holds is sent twice"
    for assign in [*assigns, *second.assigns()]:
        dispatcher.handle(node, ok(assign))
    assert await task == ["v0", "v1", "v2"]


async def test_a_node_that_stays_away_past_the_grace_period_loses_its_work(
    store: MemoryStore, clock: Clock
) -> None:
    dispatcher = make(store, clock)
    gone, other = Link(), Link()
    gone_id = dispatcher.connect(hello("gone"), gone.send)
    task = await start_map(dispatcher, 2)
    dispatcher.dispatch()
    dispatcher.disconnect(gone_id)
    other_id = dispatcher.connect(hello("other", slots=2), other.send)
    clock.time += 3
    dispatcher.expire()
    dispatcher.dispatch()
    for assign in other.assigns():
        dispatcher.handle(other_id, ok(assign))
    assert await task == ["v0", "v1"]


async def test_a_failing_item_is_retried_then_fails_the_map_with_its_error(
    store: MemoryStore, clock: Clock
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
    store: MemoryStore, clock: Clock
) -> None:
    dispatcher = make(store, clock)
    dispatcher.connect(
        NodeHello(name="renderer", capabilities=CAPS, activities=["Renderer.RenderFrame"]),
        Link().send,
    )
    task = await start_map(dispatcher, 2)
    dispatcher.expire()
    clock.time += 6
    dispatcher.expire()
    with pytest.raises(
        NoCompatibleNode, match=r"no connected node can run Compute.Hash \(connected: renderer\)"
    ):
        await task


async def test_a_restarted_hub_finds_committed_results_and_waits_for_nodes_to_claim_the_rest(
    store: MemoryStore, clock: Clock
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


async def test_cancelling_a_job_recalls_its_batches(store: MemoryStore, clock: Clock) -> None:
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
