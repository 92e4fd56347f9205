"""What the dashboard's browser tests share: the system's Chromium, where screenshots go, and
signing in; the `browser` and `page` fixtures built on them are in conftest.py.

Playwright is imported when a test asks for it, so that the other end-to-end tests run without
it; a browser test is skipped when it or Chromium is missing.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from witengine.testing.processes import ProcessFarm

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium: apt-get install chromium"),
]
SHOTS = Path(
    os.environ.get("WIT_SCREENSHOTS", Path(__file__).parents[2] / "test-output/screenshots")
)


def playwright() -> Any:
    """`playwright.sync_api`, or the test is skipped."""
    return pytest.importorskip("playwright.sync_api", reason="pip install playwright")


def sign_in(page: Any, farm: ProcessFarm) -> None:
    """Paste the hub's admin token into the sign-in page the dashboard shows a new browser."""
    assert farm.token is not None
    page.goto("/")
    page.get_by_label("Token").fill(farm.token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/$"))
    expect(page.locator("h1")).not_to_contain_text("Sign in")


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def expect(locator: Any) -> Any:
    return playwright().expect(locator)
