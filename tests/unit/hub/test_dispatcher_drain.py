"""Draining a node: it keeps and finishes the batches it holds and is given no new one until it
is resumed; a job waits for the other nodes rather than failing."""

from __future__ import annotations

import asyncio

from witengine.hub.dispatch import Dispatcher
from witengine.hub.store.memory import MemoryStore
from witengine.protocol import (
    Assign,
    BatchFinished,
    Capabilities,
    HubMessage,
    NodeHello,
    Results,
    TaskResult,
)
from witengine.runtime.executor import MapRequest
from witengine.testing.clock import FakeClock

CAPS = Capabilities(os="Linux", arch="x86_64", cores=1, ram_bytes=1 << 30)


def hello(name: str) -> NodeHello:
    return NodeHello(name=name, node_id=f"node_{name}", capabilities=CAPS, activities=["A.B"])


def done(assign: Assign) -> list[Results | BatchFinished]:
    results = [
        TaskResult(map_id=t.map_id, index=t.index, attempt=t.attempt, ok=True, value=t.index)
        for t in assign.tasks
    ]
    return [
        Results(batch_id=assign.batch_id, results=results),
        BatchFinished(batch_id=assign.batch_id),
    ]


async def test_a_drained_node_finishes_its_batch_and_gets_no_new_one_until_resumed() -> None:
    dispatcher = Dispatcher(MemoryStore(), FakeClock())
    inbox: dict[str, list[HubMessage]] = {"a": [], "b": []}
    for name in inbox:
        dispatcher.connect(hello(name), inbox[name].append)
    request = MapRequest("A.B", [[i] for i in range(8)])
    running = asyncio.create_task(dispatcher.run_map("job_1", 1, request, lambda d, t: None))
    await asyncio.sleep(0)
    dispatcher.dispatch()
    held = [m for m in inbox["b"] if isinstance(m, Assign)]
    assert held, "b got work before it was drained"
    dispatcher.drain("node_b")
    for message in [reply for assign in held for reply in done(assign)]:
        dispatcher.handle("node_b", message)  # b finishes what it holds...
    sent_to_b = len(inbox["b"])
    for _ in range(10):  # ...while a does the rest
        dispatcher.dispatch()
        for message in [m for m in inbox["a"] if isinstance(m, Assign)]:
            inbox["a"].remove(message)
            for reply in done(message):
                dispatcher.handle("node_a", reply)
        if running.done():
            break
    assert await running == list(range(8))
    assert [m for m in inbox["b"][sent_to_b:] if isinstance(m, Assign)] == []
    dispatcher.drain("node_b", False)
    again = asyncio.create_task(dispatcher.run_map("job_1", 2, request, lambda d, t: None))
    await asyncio.sleep(0)
    dispatcher.dispatch()
    assert any(isinstance(m, Assign) for m in inbox["b"][sent_to_b:])
    again.cancel()
