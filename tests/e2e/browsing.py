"""What the dashboard's browser tests share: the system's Chromium, where screenshots go,
signing in, and the contrast check of a page's text; the `browser` and `page` fixtures built on
them are in conftest.py.

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

# Every text element's contrast with the colour behind it (WCAG 2 relative luminance).
CONTRAST = """
() => {
  const parse = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = parse(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const worst = [];
  for (const el of document.querySelectorAll("body *")) {
    const own = Array.from(el.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim());
    const style = getComputedStyle(el);
    if (!own || style.visibility === "hidden" || el.closest("[hidden], svg, .skip")) continue;
    if (!el.getClientRects().length) continue;
    const [a, b] = [lum(parse(style.color)), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const large = parseFloat(style.fontSize) >= 24 ||
      (parseFloat(style.fontSize) >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) worst.push(`${el.tagName}.${el.className}: ${ratio.toFixed(2)}`);
  }
  return worst;
}
"""


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
