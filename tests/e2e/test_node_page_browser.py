"""A node's own page in a real browser: Playwright drives the system's Chromium against a real hub
and two real nodes. `desk` serves its page on 127.0.0.1: the hub's node page shows its address,
and its owner opens it, clicks Pause (the hub lists it suspended, "paused by its owner at the
node's page") and Resume, and the job completes. `lan` opens its page to the network: the hub's
link takes a signed-in admin there with a ticket, and the page's Pause works for them too.
Screenshots go to test-output/screenshots/ (or $WIT_SCREENSHOTS)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browsing import BROWSER, CONTRAST, expect, shot

from witengine.node.policy import PAUSED
from witengine.testing.processes import ProcessFarm, free_port, progress, wait_until

pytestmark = [*BROWSER, pytest.mark.timeout(180)]

NAPS = """\
Job:Naps(Int:n = 80, Int:ms = 100)
{
    IntCollection:slept = Grid.ForEach(i in Int.Range(0, n)) => Compute.Sleep(ms);
}
"""


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessFarm]:
    farm = ProcessFarm(tmp_path_factory.mktemp("pages"), free_port())
    farm.desk_port = free_port()  # type: ignore[attr-defined]
    farm.start_hub()
    try:
        farm.start_node("desk", "--status-port", str(farm.desk_port), "--no-bench")  # type: ignore[attr-defined]
        farm.start_node("lan", "--status-port", "0", "--status-host", "0.0.0.0", "--no-bench")
        wait_until(lambda: farm.online() == ["desk", "lan"], 60, "both nodes to connect")
        yield farm
    finally:
        farm.stop()


def node(farm: ProcessFarm, name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(n for n in farm.api("GET", "/nodes").json() if n["name"] == name)
    return found


def test_the_owner_pauses_and_resumes_a_node_at_its_own_page(
    page: Any, browser: Any, farm: ProcessFarm
) -> None:
    desk = node(farm, "desk")
    url = f"http://127.0.0.1:{farm.desk_port}/"  # type: ignore[attr-defined]
    assert desk["status_url"] == url
    page.goto(f"/nodes/{desk['id']}")
    link = page.locator("#node-page a")
    expect(link).to_have_text(url)
    expect(page.locator("#node-page")).to_contain_text("on the node's machine only")
    assert page.evaluate(CONTRAST) == []
    shot(page, "node-page-link")

    job_id = farm.submit(NAPS, {})
    wait_until(lambda: progress(farm, job_id) >= 5, 60, "the job to be under way")

    own = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    own.set_default_timeout(30_000)
    errors: list[str] = []
    own.on("pageerror", lambda error: errors.append(str(error)))
    own.goto(url)
    expect(own.locator("#state")).to_have_text("busy")
    expect(own.locator("#current")).to_contain_text("Compute.Sleep")
    expect(own.locator("#policy")).to_contain_text("None: it works whenever it runs.")
    expect(own.locator("#live-state")).to_have_text("live")
    assert own.evaluate(CONTRAST) == []
    shot(own, "own-page-busy")

    own.get_by_role("button", name="Pause").click()
    expect(own.locator("#state")).to_have_text("paused")
    expect(own.locator("#reason")).to_have_text(PAUSED)
    expect(own.get_by_role("button", name="Resume")).to_be_visible()
    wait_until(lambda: node(farm, "desk")["state"] == "suspended", 10, "the hub to hear of it")
    assert node(farm, "desk")["reason"] == PAUSED
    assert own.evaluate(CONTRAST) == []
    shot(own, "own-page-paused")

    page.goto(f"/nodes/{desk['id']}")
    expect(page.locator("#node-reason")).to_contain_text(f"Suspended: {PAUSED}")
    shot(page, "node-page-paused-by-owner")

    own.get_by_role("button", name="Resume").click()
    expect(own.locator("#state")).not_to_have_text("paused")
    wait_until(lambda: node(farm, "desk")["state"] in ("busy", "idle"), 10, "desk to work again")
    assert farm.wait_done(job_id, 90)["status"] == "completed"
    expect(own.locator("#recent")).to_contain_text("Compute.Sleep", timeout=10_000)  # live
    shot(own, "own-page-after")
    own.context.close()
    assert errors == []


def test_an_admin_follows_the_hubs_link_to_a_page_open_to_the_network(
    page: Any, farm: ProcessFarm
) -> None:
    lan = node(farm, "lan")
    assert lan["status_url"] is not None and "127.0.0.1" not in lan["status_url"]
    page.goto(f"/nodes/{lan['id']}")
    page.locator("#node-page a").click()  # through the hub, which adds a ticket
    page.wait_for_url(lan["status_url"])  # the ticket dropped from the address
    expect(page.locator("#state")).to_have_text("idle")
    expect(page.locator("#tools")).to_contain_text("python")
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#state")).to_have_text("paused")
    wait_until(lambda: node(farm, "lan")["state"] == "unavailable", 10, "the hub to hear of it")
    assert node(farm, "lan")["reason"] == PAUSED
    shot(page, "own-page-from-the-hub")
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#state")).to_have_text("idle")
