"""Signing out of the dashboard in a real browser: the header's Sign out button is reached with
the keyboard, its post is accepted as the hub's own page, and the session is gone after it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from browsing import BROWSER, expect

from witengine.testing.processes import ProcessFarm, free_port

pytestmark = [*BROWSER, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessFarm]:
    farm = ProcessFarm(tmp_path_factory.mktemp("farm"), free_port())  # a hub alone: no node needed
    farm.start_hub()
    try:
        yield farm
    finally:
        farm.stop()


def test_the_sign_out_button_is_reached_by_keyboard_and_ends_the_session(page: Any) -> None:
    page.goto("/jobs")
    expect(page.locator("h1")).to_have_text("Jobs")
    for _ in range(10):  # past the skip link, the name and the four links of the header
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "signout":
            break
    else:
        raise AssertionError("Tab never reached the Sign out button")
    assert page.evaluate("document.activeElement.textContent") == "Sign out"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/signin$"))
    expect(page.get_by_label("Token")).to_be_visible()
    page.goto("/jobs")  # the cookie is gone: every page asks to sign in again
    expect(page.locator("h1")).to_contain_text("Sign in")
