"""A node's batch processes make their work folders in its cache folder, and a node starting
there removes what an earlier run left: batch processes killed with their node (by SIGKILL,
under an owner policy) clean nothing up."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from witengine.node.agent import Agent
from witengine.node.enrol import NodeRefused
from witengine.node.settings import NodeSettings
from witengine.plugins.registry import build_library, load_ref
from witengine.protocol import Capabilities, PluginInfo

COMPUTE = "witengine.plugins.compute:plugin"
CAPS = Capabilities(os="linux", arch="x86_64", cores=2, ram_bytes=8 << 30)


async def test_a_node_starting_removes_the_work_folders_an_earlier_run_left(tmp_path: Path) -> None:
    cache = tmp_path / "node"
    left = cache / "work" / "wit-node-work-abc" / "frame_0001.png"
    left.parent.mkdir(parents=True)
    left.write_bytes(b"half a frame")
    kept = cache / "blobs"
    kept.mkdir()
    plugin = load_ref(COMPUTE)
    settings = NodeSettings(
        hub_url="http://127.0.0.1:9", name="desk", cache_dir=cache, plugin_refs=(COMPUTE,)
    )
    agent = Agent(
        settings, build_library([plugin]), [PluginInfo(name=plugin.name, version="1")], CAPS
    )
    assert agent.scratch == cache / "work"
    running = asyncio.create_task(agent.run())  # no hub there: it goes on trying to reach one
    try:
        for _ in range(200):
            if not (cache / "work").exists():
                break
            await asyncio.sleep(0.01)
        assert not (cache / "work").exists()
        assert kept.is_dir()  # its blobs are kept
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError, NodeRefused):
            await running
