"""Approving a node on the dashboard, in a real browser (Playwright, the system's Chromium),
against a real hub started with --approve-lan and a `wit node` given no token on 127.0.0.1: the
waiting node shows on the Nodes page, live, with its address, machine and key (the one the node
printed); Approve (after its confirmation, which names the key) lets it in, and it shows among
the nodes, online; Revoke on its page puts it out, and it stops. Screenshot: nodes-waiting.png."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browsing import BROWSER, CONTRAST, expect, shot

from witengine.security.node_keys import NodeKey, short_fingerprint
from witengine.testing.processes import ProcessFarm, free_port, wait_until

pytestmark = [*BROWSER, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessFarm]:
    farm = ProcessFarm(
        tmp_path_factory.mktemp("farm"),
        free_port(),
        hub_args=(*ProcessFarm.hub_args, "--approve-lan"),
    )
    farm.start_hub()
    try:
        yield farm
    finally:
        farm.stop()


def test_an_admin_approves_a_waiting_node_on_the_nodes_page(page: Any, farm: ProcessFarm) -> None:
    page.goto("/nodes")
    expect(page.locator("#nodes-waiting table")).to_have_count(0)
    farm.start_node("desk", "--token", "", "--no-bench")
    key = short_fingerprint(NodeKey.load_or_make(farm.root / "desk").fingerprint)
    row = page.locator('tr[data-waiting="desk"]')  # shown live, without a reload
    # A node starting on a busy machine (imports, its probe of tools) asks after a few seconds.
    expect(row).to_contain_text("127.0.0.1", timeout=30_000)
    expect(row).to_contain_text("cores")
    expect(row.locator("td.fingerprint")).to_have_text(key)
    wait_until(lambda: f"(this node's key {key})" in farm.log("desk"), 30, "the node's word")
    assert page.evaluate(CONTRAST) == []
    shot(page, "nodes-waiting")
    asked: list[str] = []

    def confirm(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", confirm)
    row.get_by_role("button", name="Approve").click()
    page.wait_for_url("**/nodes")
    assert asked and key in asked[0] and "desk" in asked[0]
    expect(page.locator('tr[data-node="desk"]')).to_contain_text("idle", timeout=30_000)
    expect(page.locator('tr[data-waiting="desk"]')).to_have_count(0)
    assert farm.online() == ["desk"]
    answers = [(a["name"], a["state"]) for a in farm.api("GET", "/join-requests").json()]
    assert answers == [("desk", "approved")]


def test_an_admin_revokes_the_node_on_its_page_and_it_stops(page: Any, farm: ProcessFarm) -> None:
    wait_until(lambda: farm.online() == ["desk"], 30, "the node approved before")
    page.goto("/nodes")
    page.locator('tr[data-node="desk"] a').click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke").click()
    page.wait_for_url("**/nodes")
    assert farm.nodes["desk"].wait(30) == 2
    assert "an admin revoked this node (desk, node_" in farm.log("desk")
    expect(page.locator('tr[data-node="desk"]')).to_contain_text("offline", timeout=30_000)
    answers = [(a["name"], a["state"]) for a in farm.api("GET", "/join-requests").json()]
    assert answers == [("desk", "revoked")]
