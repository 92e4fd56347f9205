"""The office at night in a real browser: a real hub and two real nodes on 127.0.0.1, one of them
with an owner policy whose input is a file's modification time. Touching the file while the node
works suspends it; the open node table shows it `suspended` with its reason, live; its page shows
its policy and the hours it may work; the overview draws the farm's capacity by hour of the week
beside what it delivered. Screenshots go to test-output/screenshots/ (or $WIT_SCREENSHOTS)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browsing import BROWSER, CONTRAST, expect, shot

from witengine.testing.processes import ProcessFarm, free_port, wait_until

pytestmark = [*BROWSER, pytest.mark.timeout(180)]

NAPS = """\
Job:Naps(Int:n = 3000, Int:ms = 40)
{
    IntCollection:slept = Grid.ForEach(i in Int.Range(0, n)) => Compute.Sleep(ms);
}
"""


def hours_around_now() -> str:
    """A daily window from an hour ago to three hours from now, in this machine's time (which
    the node's policy and the hub's grid both use): open now, closed most of the day."""
    hour = dt.datetime.now().astimezone().hour
    return f"Mon-Sun {(hour - 1) % 24:02d}:00-{(hour + 3) % 24:02d}:00"


# Once for the module: the node is started with it, and the test reads it back.
WINDOW = hours_around_now()


def idle_since(path: Path, seconds: float) -> None:
    """The file's modification time is the machine's last input: `seconds` ago."""
    at = time.time() - seconds
    os.utime(path, (at, at))


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessFarm]:
    root = tmp_path_factory.mktemp("office")
    idle = root / "last-input"
    idle.touch()
    idle_since(idle, 3600)  # nobody has touched the machine for an hour
    farm = ProcessFarm(root, free_port())
    farm.idle_file = idle  # type: ignore[attr-defined]
    farm.start_hub()
    try:
        farm.start_node("rack")
        policy = ["--hours", WINDOW, "--idle-after", "2s", "--resume-after", "10m"]
        policy += ["--vacate-after", "10m", "--idle-source", f"file:{idle}"]
        policy += ["--max-load", "100"]  # the input file alone decides: a test machine is busy
        farm.start_node("desk", "--slots", "2", *policy)
        wait_until(lambda: farm.online() == ["desk", "rack"], 60, "both nodes to connect")
        yield farm
    finally:
        # The owner leaves and the node is stopped as a service manager stops it, so that it ends
        # its batches itself: killed outright, it would leave its frozen ones stopped for good.
        idle_since(idle, 3600)
        desk = farm.nodes.get("desk")
        if desk is not None and desk.poll() is None:
            desk.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                desk.wait(20)
        farm.stop()


def state(farm: ProcessFarm, name: str) -> str:
    nodes = farm.api("GET", "/nodes").json()
    return str(next(n["state"] for n in nodes if n["name"] == name))


def test_a_node_whose_owner_comes_back_shows_suspended_with_its_reason_and_the_week(
    page: Any, farm: ProcessFarm
) -> None:
    idle: Path = farm.idle_file  # type: ignore[attr-defined]
    job_id = farm.submit(NAPS, {})
    wait_until(lambda: state(farm, "desk") == "busy", 60, "desk to be given work")
    page.goto("/nodes")
    desk = page.locator('tr[data-node="desk"]')
    expect(desk.locator(".badge")).to_have_text("busy")
    expect(desk.locator(".policy")).to_contain_text("idle-source")
    expect(page.locator('tr[data-node="rack"] .no-policy')).to_have_text("none: always available")

    idle.touch()  # the owner is back
    # Live, without reloading: the table's stream brings the new state and its reason.
    expect(desk.locator(".badge")).to_have_text("suspended", timeout=10_000)
    expect(desk.locator(".reason")).to_contain_text("the owner is back: input")
    shot(page, "nodes-owner-back")

    desk.get_by_role("link", name="desk").click()
    expect(page.locator("h1")).to_contain_text("Node desk")
    expect(page.locator("#node-reason")).to_contain_text("Suspended: the owner is back")
    expect(page.locator("#node-reason")).to_contain_text("Its work is frozen on it")
    every_day = WINDOW.removeprefix("Mon-Sun ")  # as the policy writes it back
    expect(page.locator("#node-summary .policy")).to_contain_text(f"hours{every_day}")
    grid = page.locator("#node-summary table.week-available")
    expect(grid.locator("tbody tr")).to_have_count(7)
    # Its 2 slots, four hours a day.
    assert grid.locator("td", has_text=re.compile(r"^2$")).count() == 7 * 4
    assert page.evaluate(CONTRAST) == []
    shot(page, "node-suspended")

    page.goto("/")
    expect(page.locator("#overview-summary")).to_contain_text("1 suspended")
    week = page.locator("#overview-week")
    expect(week.locator(".zone")).to_contain_text("UTC")
    available = week.locator("table.week-available")
    expect(available.locator("tbody tr")).to_have_count(7)
    expect(available.locator("tbody td")).to_have_count(7 * 24)
    # Four hours a day both nodes (2 + 1 slots), the rest of the day the rack alone.
    assert available.locator("td", has_text=re.compile(r"^3$")).count() == 7 * 4
    assert available.locator("td", has_text=re.compile(r"^1$")).count() == 7 * 20
    title = available.locator("td").first.get_attribute("title")
    assert re.fullmatch(r"Mon 00:00–01:00: [13]\.0 of 3 slots available", title or "")
    delivered = week.locator("table.week-delivered")
    expect(delivered.locator("td[title*='items committed per hour']")).to_have_count(7 * 24)
    assert page.evaluate(CONTRAST) == []
    shot(page, "overview-week")

    farm.api("POST", f"/jobs/{job_id}/cancel")
    idle_since(idle, 3600)  # the owner leaves: the node thaws and ends the cancelled work
    wait_until(lambda: state(farm, "desk") in ("idle", "busy"), 30, "desk to work again")
