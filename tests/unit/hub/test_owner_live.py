"""A node agent under an owner policy and a hub, over real HTTP and WebSocket on 127.0.0.1, the
policy a test double the test steers: when the node's window closes while it runs, its batches
come back to the hub at once (long before their lease would run out), the item it was running is
killed, and the node shows unavailable with the reason; when the window opens again it works
again and the job completes with every result right."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import pytest

from witengine.clock import SystemClock
from witengine.node.agent import Agent
from witengine.node.owner import OwnerLoop, Work
from witengine.node.policy import Action, Decision, Observation
from witengine.node.settings import NodeSettings
from witengine.plugins.registry import build_library, load_ref
from witengine.protocol import Capabilities, PluginInfo
from witengine.protocol.states import NodeState
from witengine.security.tokens import Role

if TYPE_CHECKING:
    from tests.unit.hub.conftest import LiveHub

COMPUTE = "witengine.plugins.compute:plugin"
CAPS = Capabilities(os="Linux", arch="x86_64", cores=2, ram_bytes=1 << 30)
HOURS = "outside its hours (Mon-Fri 20:00-08:00); opens Mon 20:00"
SLEEPS = """\
Job:Sleeps()
{
    IntCollection:slept = Grid.ForEach(i in Int.Range(0, 6), "Queued") => Compute.Sleep(400 + i);
}
"""


class Steered:
    """The policy's stand-in: decides what the test last said."""

    def __init__(self) -> None:
        self.decision = Decision(Action.RUN, "", None)

    def decide(self, seen: Observation) -> Decision:
        return self.decision


def looked() -> Observation:
    return Observation(datetime.now(UTC), time.monotonic(), None, 0.0, False)


def make_agent(live: LiveHub, root: Path, policy: Steered) -> Agent:
    plugin = load_ref(COMPUTE)
    settings = NodeSettings(
        hub_url=live.url.removesuffix("/api/v1"),
        name="desk",
        cache_dir=root / "desk",
        plugin_refs=(COMPUTE,),
        max_backoff=0.5,
        benchmarks=False,
        token=live.issue(Role.JOIN),
    )

    def owner_loop(work: Work) -> OwnerLoop:
        return OwnerLoop(
            policy,
            looked,
            work,
            SystemClock(),
            policy={"hours": "Mon-Fri 20:00-08:00"},
            week=lambda: [0.5] * 168,
            poll_seconds=0.05,
        )

    info = PluginInfo(name=plugin.name, version=plugin.version)
    return Agent(settings, build_library([plugin]), [info], CAPS, owner_loop=owner_loop)


async def until(condition: Callable[[], object], seconds: float, what: str) -> None:
    """Returns once `condition` holds; fails after `seconds`."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


async def test_a_node_whose_window_closes_hands_its_work_back_at_once_and_resumes_later(
    live_hub: LiveHub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    policy = Steered()
    agent = make_agent(live_hub, tmp_path, policy)
    running = asyncio.create_task(agent.run())
    view = live_hub.hub.dispatcher.view
    try:
        await until(lambda: agent.node_id and view.node_connected(agent.node_id), 30, "a link")
        node = agent.node_id
        assert node is not None
        assert view.policy(node) == {"hours": "Mon-Fri 20:00-08:00"}
        job = await live_hub.submit(SLEEPS)
        await until(
            lambda: view.running_items(node) == 2 and agent.runners[0].busy,
            30,
            "the node to run an item, and hold the next",
        )
        await asyncio.sleep(0.1)  # into the item (400 ms)
        runner = agent.runners[0].process
        assert runner is not None
        policy.decision = Decision(Action.VACATE, HOURS, 0.0)
        with caplog.at_level(logging.INFO, logger="witengine.hub.dispatch"):
            await until(
                lambda: (
                    view.node_state(node) is NodeState.UNAVAILABLE and view.running_items(node) == 0
                ),
                20,
                "its batches back with the hub",
            )
        told = [r.getMessage() for r in caplog.records if r.name.startswith("witengine.hub")]
        assert any("desk handed back batch" in line for line in told), told
        assert not any("expired" in line for line in told), "handed back, not expired"
        assert view.node_reason(node) == HOURS
        assert view.window_seconds(node) == 0.0
        await until(lambda: runner.returncode is not None, 5, "the running item killed")
        policy.decision = Decision(Action.RUN, "", 3600.0)
        done = await live_hub.wait_for(job["id"], {"completed", "failed"})
        assert done["status"] == "completed", done.get("error")
        assert done["variables"]["slept"] == [400 + i for i in range(6)]
        assert view.window_seconds(node) is not None
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def test_a_node_whose_owner_comes_back_keeps_its_running_batch_frozen_and_gives_the_rest(
    live_hub: LiveHub, tmp_path: Path
) -> None:
    policy = Steered()
    agent = make_agent(live_hub, tmp_path, policy)
    running = asyncio.create_task(agent.run())
    view = live_hub.hub.dispatcher.view
    try:
        await until(lambda: agent.node_id and view.node_connected(agent.node_id), 30, "a link")
        node = agent.node_id
        assert node is not None
        job = await live_hub.submit(SLEEPS)
        await until(
            lambda: view.running_items(node) == 2 and agent.runners[0].busy,
            30,
            "the node to run an item, and hold the next",
        )
        child = agent.runners[0].process
        assert child is not None
        policy.decision = Decision(Action.SUSPEND, "the owner is back: input 0 s ago")
        await until(lambda: view.node_state(node) is NodeState.SUSPENDED, 2, "suspended")
        await until(lambda: view.running_items(node) == 1, 2, "the waiting batch given back")
        await until(lambda: psutil.Process(child.pid).status() == "stopped", 1, "frozen")
        await asyncio.sleep(1.0)  # longer than the item: it would have finished
        assert view.running_items(node) == 1 and psutil.Process(child.pid).status() == "stopped"
        policy.decision = Decision(Action.RUN, "")
        done = await live_hub.wait_for(job["id"], {"completed", "failed"})
        assert done["status"] == "completed", done.get("error")
        assert done["variables"]["slept"] == [400 + i for i in range(6)]
        assert agent.runners[0].process is child, "thawed, not replaced"
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
