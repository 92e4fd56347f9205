"""`Dispatcher.run_map(..., committed=…)`: the caller sees a map's results as they are
committed, each once stored, not only at the end (a site hub passes them up to its parent)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from witengine.hub.dispatch import Dispatcher
from witengine.hub.store.memory import MemoryStore
from witengine.protocol import BatchFinished, Capabilities, NodeHello, Results, TaskResult
from witengine.runtime.executor import MapRequest
from witengine.runtime.values import ProcessingOptions
from witengine.testing.clock import FakeClock

CAPS = Capabilities(os="Linux", arch="x86_64", cores=2, ram_bytes=1 << 30)
QUEUED = ProcessingOptions.make("Queued")  # one item per batch


async def test_committed_is_told_each_result_once_stored_before_the_map_ends() -> None:
    dispatcher = Dispatcher(MemoryStore(), FakeClock(1000.0), lease_seconds=10.0)
    sent: list[object] = []
    node_id = dispatcher.connect(
        NodeHello(name="a", capabilities=CAPS, activities=["Compute.Hash"]), sent.append
    )
    seen: list[dict[int, object]] = []

    def committed(results: Mapping[int, object]) -> None:
        seen.append(dict(results))

    request = MapRequest("Compute.Hash", [["x"], ["y"]], QUEUED)
    task = asyncio.create_task(
        dispatcher.run_map("job_1", 1, request, lambda done, total: None, committed)
    )
    for round_ in range(2):
        while not any(getattr(m, "kind", "") == "assign" for m in sent):
            dispatcher.dispatch()
            await asyncio.sleep(0)
        assign = next(m for m in sent if getattr(m, "kind", "") == "assign")
        sent.remove(assign)
        (spec,) = assign.tasks  # type: ignore[attr-defined]
        result = TaskResult(spec.map_id, spec.index, spec.attempt, True, f"r{spec.index}")
        dispatcher.handle(node_id, Results(batch_id=assign.batch_id, results=[result]))  # type: ignore[attr-defined]
        dispatcher.handle(node_id, BatchFinished(batch_id=assign.batch_id))  # type: ignore[attr-defined]
        if round_ == 0:  # one of two stored: the caller knows it, the map goes on
            assert seen[-1] == {spec.index: f"r{spec.index}"}
            assert not task.done()
    assert await task == ["r0", "r1"]
    assert seen[0] == {}  # told once at the start, with nothing committed yet
    assert seen[-1] == {0: "r0", 1: "r1"}
