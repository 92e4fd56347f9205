"""A job pinned to one node (`wit take FILE --node NAME`, SubmitJob.node): its batches go to
that node only, whichever others could run them; with that node away the map waits, then fails
naming it. The dispatcher runs on an in-memory store with fake node links and a FakeClock."""

from __future__ import annotations

import asyncio

import pytest
from tests.unit.hub.test_dispatcher_requirements import caps, finish, join, make, start

from witengine.errors import NoCompatibleNode
from witengine.testing.clock import FakeClock

pytestmark = pytest.mark.timeout(10)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


async def test_a_pinned_job_runs_only_on_the_node_it_names(clock: FakeClock) -> None:
    dispatcher = make(clock)
    _, first = join(dispatcher, "first", caps(python="3.11.7"))
    chosen, chosen_link = join(dispatcher, "chosen", caps(python="3.11.7"))
    dispatcher.pin_job("job_1", "chosen")
    task = await start(dispatcher, "python", "python", "python")
    finished: set[str] = set()
    for _ in range(20):  # bounded: each round settles at least one batch
        dispatcher.dispatch()
        for assign in chosen_link.assigns():
            if assign.batch_id not in finished:
                finished.add(assign.batch_id)
                finish(dispatcher, chosen, assign)
        await asyncio.sleep(0)
        if task.done():
            break
    assert await task == ["python"] * 3
    assert first.assigns() == [], "a node the job is not pinned to was given its work"


async def test_a_job_pinned_to_a_node_that_is_away_waits_then_fails_naming_it(
    clock: FakeClock,
) -> None:
    dispatcher = make(clock)
    _, other = join(dispatcher, "other", caps(python="3.11.7"))
    dispatcher.pin_job("job_1", "laptop")
    task = await start(dispatcher, "python")
    dispatcher.dispatch()
    dispatcher.expire()
    clock.advance(5)
    dispatcher.expire()
    with pytest.raises(NoCompatibleNode, match="may run only on node 'laptop'"):
        await task
    assert other.assigns() == []
