"""A node the hub's verification caught wrong is told, and says so in its log (what `wit node`
prints)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from witengine.node.agent import Agent
from witengine.node.settings import NodeSettings
from witengine.plugins.registry import build_library, load_ref
from witengine.protocol import Capabilities, PluginInfo, TrustNotice

COMPUTE = "witengine.plugins.compute:plugin"
CAPS = Capabilities(os="linux", arch="x86_64", cores=2, ram_bytes=8 << 30)


def test_a_node_the_hub_blocked_says_so_in_its_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plugin = load_ref(COMPUTE)
    settings = NodeSettings(
        hub_url="http://127.0.0.1:9", name="desk", cache_dir=tmp_path, plugin_refs=(COMPUTE,)
    )
    agent = Agent(
        settings, build_library([plugin]), [PluginInfo(name=plugin.name, version="1")], CAPS
    )
    notice = TrustNotice(activity="*", state="blocked", reason="it answered a spot check wrong")
    with caplog.at_level(logging.WARNING, logger="witengine.node.agent"):
        agent._receive(notice)
    assert "the hub blocked this node for any activity: it answered a spot check wrong" in (
        caplog.text
    )
