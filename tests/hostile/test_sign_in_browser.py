"""Hostile input (issue 15), in real Chromium: the sign-in link `wit run` prints signs in when
the browser opens it from outside any page, and asks first when another site's page opened it
(what the browser says in `Sec-Fetch-Site`, which no page can forge)."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest

if TYPE_CHECKING:
    from tests.hostile.conftest import HostileHub

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium: apt-get install chromium"),
    pytest.mark.timeout(90),
]


async def test_a_sign_in_link_signs_in_when_opened_and_asks_when_another_site_opens_it(
    hostile_hub: HostileHub,
) -> None:
    pw = pytest.importorskip("playwright.async_api", reason="pip install playwright")
    link = f"{hostile_hub.root}/jobs?token={hostile_hub.admin}"
    async with pw.async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM)
        try:
            opened = await browser.new_page()  # as a link clicked in a terminal opens
            await opened.goto(link)
            assert opened.url == f"{hostile_hub.root}/jobs"
            assert "wit_session" in {c["name"] for c in await opened.context.cookies()}

            lured = await browser.new_page()  # a fresh browser, on another site's page
            await lured.goto("data:text/html," + quote(f'<a id="go" href="{link}">prizes</a>'))
            await lured.click("#go")
            await lured.wait_for_load_state()
            assert "Sign in to this witengine hub?" in await lured.content()
            assert "wit_session" not in {c["name"] for c in await lured.context.cookies()}
            await lured.get_by_role("button", name="Sign in").click()  # the visitor agrees
            await lured.wait_for_url(f"{hostile_hub.root}/jobs")
            assert "wit_session" in {c["name"] for c in await lured.context.cookies()}
        finally:
            await browser.close()
