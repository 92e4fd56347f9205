"""Fixtures of the dashboard's browser tests (browsing.py): one Chromium per test module, and a
signed-in page on the module's `farm` that fails its test if the page's script threw."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browsing import CHROMIUM, SHOTS, playwright, sign_in

from witengine.testing.processes import ProcessFarm


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    driver_api = playwright()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with driver_api.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, farm: ProcessFarm) -> Iterator[Any]:
    context = browser.new_context(base_url=farm.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, farm)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        context.close()
    assert errors == [], f"the page's script failed: {errors}"
