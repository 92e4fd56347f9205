"""The dashboard's Board page in a real browser (Playwright, the system's Chromium) against a real
hub and node on 127.0.0.1: the keys with their versions, values and writers, the hub's own facts
among them; a key written through the API shows, and its new version replaces it, without a
reload; the prefix form narrows the list; readable contrast. Screenshot: board.png."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from browsing import BROWSER, CONTRAST, expect, shot

from witengine.testing.processes import ProcessFarm, free_port, wait_until

pytestmark = [*BROWSER, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessFarm]:
    farm = ProcessFarm(tmp_path_factory.mktemp("farm"), free_port())
    farm.start_hub()
    try:
        farm.start_node("alpha", "--no-bench")
        wait_until(lambda: farm.online() == ["alpha"], 60, "the node to connect")
        yield farm
    finally:
        farm.stop()


def test_the_board_page_shows_keys_live_with_versions_and_writers(
    page: Any, farm: ProcessFarm
) -> None:
    farm.api("PUT", "/board/shots/010", json={"value": {"artist": "Sally", "frames": [1, 48]}})
    page.goto("/")
    page.get_by_role("link", name="Board").click()
    page.wait_for_url(re.compile(r"/board$"))
    expect(page.locator("h1")).to_have_text("Board")
    row = page.locator('tr[data-key="shots/010"]')
    expect(row).to_contain_text('"artist": "Sally"')
    expect(row.locator("td").nth(1)).to_have_text("1")
    expect(row).to_contain_text("admin tok_")
    # the hub's own facts about its node, published within a few seconds
    expect(page.locator("tr[data-key^='farm/nodes/']")).to_contain_text('"name": "alpha"')
    expect(page.locator("tr[data-key^='farm/rates/']")).to_have_count(1)
    # written while the page is open: shown live, then replaced by its next version
    farm.api("PUT", "/board/shots/020", json={"value": "claimed by Marvin"})
    expect(page.locator('tr[data-key="shots/020"]')).to_contain_text("claimed by Marvin")
    farm.api("PUT", "/board/shots/010", json={"value": {"artist": "Marvin"}})
    expect(row.locator("td").nth(1)).to_have_text("2")
    expect(row).to_contain_text('"artist": "Marvin"')
    shot(page, "board")
    page.get_by_label("Keys starting with").fill("shots/")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"/board\?prefix=shots%2F$"))
    expect(page.locator("tbody tr")).to_have_count(2)
    expect(page.locator("caption")).to_contain_text("2 key(s) starting with shots/")
    assert page.evaluate(CONTRAST) == []
    assert page.locator("h1").count() == 1
