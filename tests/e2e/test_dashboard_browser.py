"""The dashboard in a real browser: Playwright drives the system's Chromium against a real hub and
two real nodes on 127.0.0.1. A job submitted through the form fills the timeline, the item grid
and the thumbnails live; a second job is cancelled from its page; the node table, drain and
resume, keyboard use, contrast, and a page that reconnects after the hub restarts. Screenshots
of every page go to test-output/screenshots/ (or $WIT_SCREENSHOTS) for CI to keep."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from browsing import BROWSER, CONTRAST, expect, shot

from witengine.testing.processes import TEST_PLUGINS, ProcessFarm, free_port, wait_until

pytestmark = [*BROWSER, pytest.mark.timeout(180)]

FRAMES = """\
~ frames of a pretend render ~
Job:Frames(Int:n = 12, Int:ms = 100)
{
    BlobCollection:frames = Grid.ForEach(i in Int.Range(0, n)) => Swatch.Make(i, ms);
    Trace(Format("made {0} frames", n));
}
"""

NAPS = """\
Job:Naps(Int:n = 3000, Int:ms = 40)
{
    IntCollection:slept = Grid.ForEach(i in Int.Range(0, n)) => Compute.Sleep(ms);
}
"""


class DashboardFarm(ProcessFarm):
    @property
    def env(self) -> dict[str, str]:
        plugins = f"{TEST_PLUGINS},witengine.testing.swatches:plugin"
        return {**super().env, "WIT_PLUGINS": plugins}


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessFarm]:
    farm = DashboardFarm(tmp_path_factory.mktemp("farm"), free_port())
    farm.start_hub()
    try:
        for name in ("alpha", "beta"):
            farm.start_node(name)
        wait_until(lambda: farm.online() == ["alpha", "beta"], 60, "both nodes to connect")
        yield farm
    finally:
        farm.stop()


def test_a_job_submitted_through_the_form_fills_timeline_grid_and_thumbnails(
    page: Any, farm: ProcessFarm
) -> None:
    page.goto("/submit")
    script = page.get_by_label("Script", exact=True)
    script.fill(FRAMES.replace("=> Swatch.Make(i, ms)", "=> Swatch.Make(i, ms"))
    expect(page.locator("#diagnostics .diag")).to_contain_text("^")
    expect(page.locator("#diagnostics")).to_contain_text("Line 4")
    shot(page, "submit-with-an-error")
    script.fill(FRAMES)
    expect(page.locator("#diagnostics")).to_contain_text("Job Frames checks.")
    page.get_by_label(re.compile(r"^n Int")).fill("16")
    page.get_by_label(re.compile(r"^ms Int")).fill("250")
    shot(page, "submit")
    page.get_by_role("button", name="Start the job").click()
    page.wait_for_url(re.compile(r"/jobs/job_\w+$"))
    expect(page.locator("#live")).to_have_text("live")
    # Live, without reloading: batches on the timeline, items running, the first frames.
    expect(page.locator(".gantt rect").first).to_be_visible()
    expect(page.locator(".grid .c.done").first).to_be_attached()
    expect(page.locator("#job-outputs .thumbs img").first).to_be_visible()
    expect(page.locator(".script .line.running")).to_have_attribute("data-line", "4")
    shot(page, "job-running")
    expect(page.locator("#job-header .badge")).to_have_text("completed", timeout=60_000)
    expect(page.locator("#log")).to_contain_text("made 16 frames")
    expect(page.locator("#job-results img")).to_have_count(16)
    assert page.locator(".gantt rect.bar-finished").count() >= 2
    assert {"alpha", "beta"} <= set(page.locator(".gantt .row-label").all_text_contents())
    src = page.locator("#job-results img").first.get_attribute("src")
    assert page.request.get(src).headers["content-type"] == "image/png"
    page.locator(".grid .c").nth(5).click()
    expect(page.locator("#item-detail")).to_contain_text("Item 5 of Swatch.Make")
    shot(page, "job-completed")


def submit(farm: ProcessFarm, script: str, **parameters: str) -> str:
    return farm.submit(script, parameters)


def test_a_second_job_is_cancelled_from_its_page(page: Any, farm: ProcessFarm) -> None:
    job_id = submit(farm, NAPS)
    page.goto(f"/jobs/{job_id}")
    expect(page.locator("#job-header .badge")).to_have_text("running")
    expect(page.locator(".gantt rect.bar-running").first).to_be_visible()
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#job-header .badge")).to_have_text("cancelled")
    expect(page.get_by_role("button", name="Cancel")).to_be_disabled()
    assert farm.job(job_id)["status"] == "cancelled"
    shot(page, "job-cancelled")
    page.goto("/jobs")
    expect(page.locator("table.jobs")).to_contain_text("cancelled")
    shot(page, "jobs")


def test_the_node_table_shows_both_nodes_and_a_node_can_be_drained(
    page: Any, farm: ProcessFarm
) -> None:
    page.goto("/nodes")
    rows = page.locator("tr[data-node]")
    expect(rows).to_have_count(2)
    for name in ("alpha", "beta"):
        row = page.locator(f'tr[data-node="{name}"]')
        expect(row.locator(".badge")).to_have_text(re.compile("idle|busy"))
        expect(row).to_contain_text("compute")
        expect(row).to_contain_text(re.compile(r"\d+ s ago"))
    shot(page, "nodes")
    page.get_by_role("link", name="beta").click()
    expect(page.locator("h1")).to_contain_text("Node beta")
    page.get_by_role("button", name="Drain").click()
    expect(page.locator("#node-summary .badge")).to_have_text(re.compile("drain"))
    shot(page, "node-drained")
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#node-summary .badge")).to_have_text(re.compile("idle|busy"))
    expect(page.locator("#node-throughput svg")).to_be_visible()
    shot(page, "node")
    page.goto("/")
    expect(page.locator("#overview-summary")).to_contain_text("nodes online")
    expect(page.locator(".tile-value").first).to_have_text("2")
    shot(page, "overview")


def test_a_node_stopped_for_good_is_forgotten_from_its_page(page: Any, farm: ProcessFarm) -> None:
    farm.start_node("gamma")
    wait_until(lambda: "gamma" in farm.online(), 60, "gamma to connect")
    page.goto("/nodes")
    page.get_by_role("link", name="gamma").click()
    expect(page.locator("h1")).to_contain_text("Node gamma")
    expect(page.get_by_role("button", name="Forget")).to_be_disabled()  # it is connected
    farm.nodes["gamma"].terminate()  # stopped: it tells the hub it is leaving
    assert farm.nodes["gamma"].wait(15) == 0
    expect(page.get_by_role("button", name="Forget")).to_be_enabled()
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Forget").click()
    page.wait_for_url(re.compile(r"/nodes$"))
    assert asked == [
        "Forget node gamma? Its record and benchmark rates go, and its credential is revoked: "
        "it needs a new join token to come back."
    ]
    expect(page.locator("tr[data-node]")).to_have_count(2)
    assert sorted(n["name"] for n in farm.api("GET", "/nodes").json()) == ["alpha", "beta"]


def test_every_action_is_reachable_with_the_keyboard(page: Any, farm: ProcessFarm) -> None:
    job_id = submit(farm, NAPS)
    page.goto(f"/jobs/{job_id}")
    expect(page.locator("#job-header .badge")).to_have_text("running")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    for _ in range(10):  # from the top of the content, Pause is a few tabs away
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "job-pause":
            break
    else:
        raise AssertionError("Tab never reached the Pause button")
    page.keyboard.press("Enter")
    expect(page.locator("#job-header .badge")).to_have_text("paused")
    # The actions were swapped under the focus, Pause now disabled: Resume has the focus.
    assert page.evaluate("document.activeElement.id") == "job-resume"
    page.keyboard.press("Enter")
    expect(page.locator("#job-header .badge")).to_have_text("running")
    page.locator("#job-cancel").focus()
    page.on("dialog", lambda dialog: dialog.accept())
    page.keyboard.press("Enter")
    expect(page.locator("#job-header .badge")).to_have_text("cancelled")
    # The item lookup is one form, not a tab stop per cell.
    page.get_by_label("Item number").fill("7")
    page.keyboard.press("Enter")
    expect(page.locator("#item-detail")).to_contain_text("Item 7 of Compute.Sleep")
    # Cancelled, it can be re-run: the new job's page opens, naming the one it runs again.
    page.locator("#job-rerun").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/jobs/job_" in url and job_id not in url)
    expect(page.locator("#job-header")).to_contain_text(f"A re-run of {job_id}")
    expect(page.locator("#job-rerun")).to_be_disabled()


def test_every_page_has_labelled_controls_and_readable_contrast(
    page: Any, farm: ProcessFarm
) -> None:
    jobs = [j["id"] for j in farm_jobs(farm)]
    paths = ["/", "/nodes", "/jobs", "/submit", *(f"/jobs/{j}" for j in jobs[:2])]
    page.goto("/submit")
    page.get_by_label("Script", exact=True).fill(FRAMES)
    expect(page.locator("#parameters input").first).to_be_visible()
    unlabelled = page.evaluate(
        """() => Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))
             .filter((f) => !f.labels.length && !f.getAttribute('aria-label')).map((f) => f.id)"""
    )
    assert unlabelled == []
    for path in paths:
        page.goto(path)
        page.wait_for_timeout(300)
        assert page.evaluate(CONTRAST) == [], path
        assert page.locator("h1").count() == 1
        assert page.locator("main").count() == 1


def farm_jobs(farm: ProcessFarm) -> list[dict[str, Any]]:

    jobs: list[dict[str, Any]] = farm.api("GET", "/jobs").json()
    return jobs


def test_an_open_page_reconnects_after_the_hub_restarts(page: Any, farm: ProcessFarm) -> None:
    job_id = submit(farm, NAPS, n="200", ms="20")
    page.goto(f"/jobs/{job_id}")
    expect(page.locator("#live")).to_have_text("live")
    farm.kill_hub()
    expect(page.locator("#live")).to_have_text("reconnecting…")
    farm.start_hub()
    expect(page.locator("#live")).to_have_text("live", timeout=30_000)
    # After the restart the job resumes; the same page follows it to the end.
    expect(page.locator("#job-header .badge")).to_have_text("completed", timeout=90_000)
    expect(page.locator("#log")).to_contain_text("resumed after restart")
    shot(page, "job-after-hub-restart")
